//! Jobs across a kill -9: a certificate order and a scheduled run in flight when sh0 dies
//! are failed with "interrupted" at the next start, leave no order half-made, and the next
//! job of the same target runs. (Deployments: `deploy.rs`, which kills sh0 mid-build.)
//!
//! The certificate authority here is a port that accepts connections and never answers,
//! so an order stays in flight for as long as the test needs: a real order against a real
//! listener, with nothing faked inside sh0.

mod common;

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use common::Server;
use common::accounts::{Session, invite_and_join, setup_owner};

/// A TCP port that accepts connections and never says a word.
fn silent_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

async fn jobs_of(server: &Server, owner: &Session, target: &str) -> Vec<Value> {
    let list = owner.must(server, "job_list", json!({ "target": target })).await;
    list["jobs"].as_array().unwrap().clone()
}

/// Waits until `target` has a running job other than those in `seen`; returns it.
async fn running_job(server: &Server, owner: &Session, target: &str, seen: &[String]) -> Value {
    let started = Instant::now();
    loop {
        let jobs = jobs_of(server, owner, target).await;
        if let Some(j) = jobs
            .iter()
            .find(|j| j["status"] == "running" && !seen.iter().any(|s| j["id"] == s.as_str()))
        {
            return j.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no running job for {target}: {jobs:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_certificate_order_and_a_scheduled_run() {
    let directory = format!("https://127.0.0.1:{}/dir", silent_port());
    let mut server = Server::start_with(&["--acme-directory", &directory, "--acme-email", "ops@example.test"]);
    let owner = setup_owner(&server, "owner@example.com").await;
    owner.must(&server, "project_create", json!({"name": "p"})).await;
    owner
        .must(&server, "app_create", json!({"name": "web", "project": "p"}))
        .await;
    // sh0's maintenance orders a.example.test at once, and the order hangs at the CA.
    owner
        .must(&server, "domain_add", json!({"app": "web", "domain": "a.example.test"}))
        .await;
    let order_a = running_job(&server, &owner, "a.example.test", &[]).await;
    assert_eq!(order_a["kind"], "certificate_order");
    assert_eq!(order_a["principal"], "system:certificate_renewal");
    // A schedule of the owner's renews b.example.test every second: its run waits behind
    // the order in flight (one order at a time), so both its run and its order are jobs in
    // flight too.
    owner
        .must(&server, "domain_add", json!({"app": "web", "domain": "b.example.test"}))
        .await;
    let schedule = owner
        .must(
            &server,
            "schedule_create",
            json!({"name": "renew-b", "cron": "* * * * * *", "tool": "cert_renew",
                   "args": {"domain": "b.example.test"}}),
        )
        .await;
    let schedule_id = schedule["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{schedule}"))
        .to_owned();
    let run = running_job(&server, &owner, &schedule_id, &[]).await;
    assert_eq!(run["kind"], "schedule_run");
    let order_b = running_job(&server, &owner, "b.example.test", &[]).await;
    assert!(
        order_b["principal"].as_str().unwrap().contains(&schedule_id),
        "{order_b}"
    );

    server.kill9();
    server.restart();

    let interrupted = [&order_a, &run, &order_b];
    for (job, target) in interrupted
        .iter()
        .zip(["a.example.test", schedule_id.as_str(), "b.example.test"])
    {
        let id = job["id"].as_str().unwrap();
        let got = owner.must(&server, "job_get", json!({ "job": id })).await;
        assert_eq!(got["job"]["status"], "failed", "{got}");
        assert!(got["job"]["error"].as_str().unwrap().contains("interrupted"), "{got}");
        assert!(
            got["log"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l.as_str().unwrap().contains("interrupted")),
            "{got}"
        );
        // The next job of the same target runs (the loop orders again, the schedule runs again).
        let next = running_job(&server, &owner, target, &[id.to_owned()]).await;
        assert_ne!(next["id"], job["id"]);
    }
    // Nothing of the interrupted orders was kept: no certificate, and the names are
    // being ordered again (not stuck as an order of a dead process).
    let certs = owner.must(&server, "cert_list", json!({})).await;
    assert_eq!(certs["certificates"], json!([]), "{certs}");
}

/// A job in a project goes with the project: its members see it (without the session of
/// whoever started it), others do not — not even who started it, once they left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projects_jobs_are_seen_by_its_members_only() {
    let server = Server::start_with(&["--no-acme"]);
    let owner = setup_owner(&server, "owner@example.com").await;
    for p in ["proj-a", "proj-b"] {
        owner.must(&server, "project_create", json!({ "name": p })).await;
    }
    owner
        .must(&server, "app_create", json!({"name": "alpha", "project": "proj-a"}))
        .await;
    let dev_a = invite_and_join(&server, &owner, "a@example.com", "developer", &["proj-a"]).await;
    let viewer_a = invite_and_join(&server, &owner, "v@example.com", "viewer", &["proj-a"]).await;
    let dev_b = invite_and_join(&server, &owner, "b@example.com", "developer", &["proj-b"]).await;
    // The image does not exist: the deployment fails, and its job stays to be seen.
    let dep = dev_a
        .must(
            &server,
            "app_deploy",
            json!({"app": "alpha", "image": "sh0-test/absent:1"}),
        )
        .await;
    let got = dev_a
        .must(&server, "deployment_get", json!({"deployment": dep["deployment_id"]}))
        .await;
    let job = got["deployment"]["job"].as_str().unwrap().to_owned();

    let mine = dev_a.must(&server, "job_get", json!({ "job": job })).await;
    assert!(mine["job"]["principal"].as_str().unwrap().contains("/ses_"), "{mine}");
    let seen = viewer_a.must(&server, "job_get", json!({ "job": job })).await;
    let principal = seen["job"]["principal"].as_str().unwrap();
    assert!(
        principal.starts_with("user:usr_") && !principal.contains("ses_"),
        "{seen}"
    );
    // A developer of another project: as if it did not exist.
    let (status, body) = dev_b.call(&server, "job_get", json!({ "job": job }), false).await;
    assert_eq!(status, 404, "{body}");
    let list = dev_b.must(&server, "job_list", json!({})).await;
    assert!(!list.to_string().contains(&job), "{list}");
    let (status, body) = dev_b.call(&server, "job_cancel", json!({ "job": job }), true).await;
    assert_eq!(status, 404, "{body}");
    // Who started it, once out of the project, sees it no more.
    owner
        .must(
            &server,
            "user_update_role",
            json!({"user": "a@example.com", "role": "developer", "projects": ["proj-b"]}),
        )
        .await;
    let (status, body) = dev_a.call(&server, "job_get", json!({ "job": job }), false).await;
    assert_eq!(status, 404, "{body}");
}
