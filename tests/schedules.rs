//! Schedules run their tool call on time, through dispatch, as their owner: audited as that
//! user via the schedule, refused (and recorded) once the owner is demoted, stopped with a
//! reason once the owner is removed. A run missed while sh0 was down happens once.

mod common;

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use common::Server;
use common::accounts::{Session, invite_and_join, setup_owner};

/// Polls `schedule_get` (as `who`) until `done` holds for it; returns the last answer.
async fn wait_for(server: &Server, who: &Session, schedule: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = who
            .call(server, "schedule_get", json!({"schedule": schedule}), false)
            .await;
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{what}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn runs_with(body: &Value, status: &str) -> usize {
    body["runs"]
        .as_array()
        .map_or(0, |r| r.iter().filter(|j| j["status"] == status).count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_acts_as_its_owner_with_the_owners_current_role() {
    let server = Server::start();
    let owner = setup_owner(&server, "owner@example.com").await;
    owner.must(&server, "project_create", json!({"name": "p"})).await;
    let dev = invite_and_join(&server, &owner, "dev@example.com", "developer", &["p"]).await;
    let dev_id = dev.body["user"]["id"].as_str().unwrap().to_owned();

    // What cannot be scheduled is refused with a reason, and nothing is stored.
    for (args, why) in [
        (
            json!({"name": "x", "cron": "not a cron", "tool": "project_list"}),
            "cron",
        ),
        (
            json!({"name": "x", "cron": "* * * * *", "timezone": "Mars/Olympus", "tool": "project_list"}),
            "timezone",
        ),
        (
            json!({"name": "x", "cron": "* * * * *", "tool": "project_delete", "args": {"project": "p"}}),
            "destructive",
        ),
        (
            json!({"name": "x", "cron": "* * * * *", "tool": "no_such_tool"}),
            "no tool",
        ),
        (
            json!({"name": "x", "cron": "* * * * *", "tool": "project_update", "args": {"nope": 1}}),
            "args",
        ),
    ] {
        let (status, body) = dev.call(&server, "schedule_create", args, true).await;
        assert_eq!(status, 400, "{why}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{why}: {body}"
        );
    }
    let (status, body) = dev
        .call(
            &server,
            "schedule_create",
            json!({"name": "x", "cron": "* * * * *", "tool": "user_list"}),
            true,
        )
        .await;
    assert_eq!(status, 403, "a developer cannot schedule what they cannot call: {body}");
    let (status, body) = server
        .call(
            "schedule_create",
            json!({"name": "x", "cron": "* * * * *", "tool": "project_list"}),
        )
        .await;
    assert_eq!(status, 400, "the bootstrap key belongs to nobody: {body}");
    let (_, list) = owner.call(&server, "schedule_list", json!({}), false).await;
    assert_eq!(list["schedules"], json!([]));

    // Every second, the developer's schedule changes the project's description.
    let (status, created) = dev
        .call(
            &server,
            "schedule_create",
            json!({"name": "tick", "cron": "* * * * * *", "timezone": "Europe/Paris",
                   "tool": "project_update", "args": {"project": "p", "description": "ticked"}}),
            true,
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created["when"].as_str().unwrap().len() > 5, "{created}");
    let ran = wait_for(&server, &dev, &id, "a run succeeds", |b| runs_with(b, "succeeded") > 0).await;
    let job = ran["runs"][0]["id"].as_str().unwrap().to_owned();
    let (status, detail) = dev.call(&server, "job_get", json!({"job": job}), false).await;
    assert_eq!(status, 200, "{detail}");
    assert!(detail["log"].to_string().contains("project_update"), "{detail}");
    let (_, project) = owner.call(&server, "project_get", json!({"project": "p"}), false).await;
    assert_eq!(project["description"], "ticked", "{project}");
    // A run's log keeps the shape of the result, never its values (results can hold keys).
    assert!(!detail["log"].to_string().contains("ticked"), "{detail}");
    // Others who see it (the owner of the server) may stop it, but not change what it does:
    // it acts as its owner.
    let (status, body) = owner
        .call(
            &server,
            "schedule_update",
            json!({"schedule": "tick", "args": {"project": "p"}}),
            true,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = owner
        .call(
            &server,
            "schedule_update",
            json!({"schedule": "tick", "enabled": false}),
            true,
        )
        .await;
    assert_eq!((status, body["enabled"].clone()), (200, json!(false)), "{body}");
    let (status, body) = dev
        .call(
            &server,
            "schedule_update",
            json!({"schedule": "tick", "enabled": true}),
            true,
        )
        .await;
    assert_eq!((status, body["enabled"].clone()), (200, json!(true)), "{body}");
    // Audited as the developer, via the schedule, through the schedule adapter.
    let (_, audit) = server
        .call("audit_list", json!({"tool": "project_update", "limit": 5}))
        .await;
    let record = &audit["records"][0];
    assert_eq!(record["adapter"], "schedule", "{record}");
    assert_eq!(record["principal"], format!("user:{dev_id}/schedule:{id}"), "{record}");
    assert_eq!(record["outcome"], "ok");
    // Another developer sees neither the schedule nor its jobs.
    let other = invite_and_join(&server, &owner, "other@example.com", "developer", &["p"]).await;
    let (status, _) = other
        .call(&server, "schedule_get", json!({"schedule": "tick"}), false)
        .await;
    assert_eq!(status, 404);
    let (status, _) = other.call(&server, "job_get", json!({"job": job}), false).await;
    assert_eq!(status, 404);
    let (_, jobs) = other.call(&server, "job_list", json!({}), false).await;
    assert_eq!(jobs["jobs"], json!([]));

    // Demoted to viewer: the next run is refused by dispatch and recorded; the schedule stays.
    let (status, body) = owner
        .call(
            &server,
            "user_update_role",
            json!({"user": "dev@example.com", "role": "viewer", "projects": ["p"]}),
            true,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let refused = wait_for(&server, &owner, &id, "a run is refused", |b| {
        b["runs"].as_array().is_some_and(|r| {
            r.iter()
                .any(|j| j["status"] == "failed" && j["error"].to_string().contains("forbidden"))
        })
    })
    .await;
    assert_eq!(refused["schedule"]["enabled"], true);
    let (_, audit) = server
        .call("audit_list", json!({"tool": "project_update", "limit": 1}))
        .await;
    assert_eq!(audit["records"][0]["outcome"], "error", "{audit}");
    assert_eq!(audit["records"][0]["error_kind"], "forbidden", "{audit}");

    // Removed: the schedule stops, saying why.
    let (status, body) = owner
        .call(
            &server,
            "user_remove",
            json!({"user": "dev@example.com", "confirm": "dev@example.com"}),
            true,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let stopped = wait_for(&server, &owner, &id, "the schedule stops", |b| {
        b["schedule"]["enabled"] == false
    })
    .await;
    assert!(
        stopped["schedule"]["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("owner was removed"),
        "{stopped}"
    );
    let runs_then = stopped["runs"].as_array().unwrap().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, later) = owner
        .call(&server, "schedule_get", json!({"schedule": id}), false)
        .await;
    assert_eq!(
        later["runs"].as_array().unwrap().len(),
        runs_then,
        "no run after it stopped"
    );
}

/// sh0 was down when runs were due: the schedule runs once when it is back, saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_runs_happen_once_after_downtime() {
    let mut server = Server::start();
    let owner = setup_owner(&server, "owner@example.com").await;
    let (status, created) = owner
        .call(
            &server,
            "schedule_create",
            json!({"name": "nightly", "cron": "0 3 * * *", "tool": "project_list"}),
            true,
        )
        .await;
    assert_eq!(status, 200, "{created}");
    server.kill9();
    // Three days of downtime: the 03:00 runs of three nights were missed.
    let db = rusqlite::Connection::open(server.data_dir().join("sh0.db")).unwrap();
    db.execute(
        "UPDATE schedules SET next_run_at = '2020-01-01T03:00:00Z' WHERE name = 'nightly'",
        [],
    )
    .unwrap();
    drop(db);
    server.restart();
    let ran = wait_for(&server, &owner, "nightly", "the missed run", |b| {
        runs_with(b, "succeeded") > 0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, after) = owner
        .call(&server, "schedule_get", json!({"schedule": "nightly"}), false)
        .await;
    assert_eq!(
        after["runs"].as_array().unwrap().len(),
        1,
        "once, not once per missed night: {after}"
    );
    let next = after["schedule"]["next_run_at"].as_str().unwrap();
    assert!(next.ends_with("03:00:00Z") && next > "2026", "{next}");
    let job = ran["runs"][0]["id"].as_str().unwrap();
    let (_, detail) = owner.call(&server, "job_get", json!({"job": job}), false).await;
    assert!(detail["log"].to_string().contains("not repeated"), "{detail}");
}
