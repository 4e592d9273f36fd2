//! Deploy hooks: a URL and a token that deploy one app, acting as the hook through
//! dispatch — audited as `hook:<id>`, refused when the token is wrong, demoted with its
//! maker, stopped when its maker is removed — with a real build behind it.

mod common;

use serde_json::{Value, json};

use common::Server;
use common::accounts::{invite_and_join, setup_owner};
use common::docker::{require_docker, targz, web_context};

async fn deliver(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(url).body("{\"ref\":\"refs/heads/main\"}");
    if let Some(t) = token {
        req = req.header("x-sh0-hook-token", t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The newest audit record of `app_deploy`, read from the store.
fn last_deploy_audit(server: &Server) -> (String, String, String) {
    let conn = rusqlite::Connection::open(server.data_dir().join("sh0.db")).unwrap();
    conn.query_row(
        "SELECT principal, adapter, outcome FROM audit WHERE tool = 'app_deploy' ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_deploys_its_app_as_itself_within_its_makers_role() {
    require_docker();
    let server = Server::start();
    let (status, created) = server.upload(None, "hooked", targz(&web_context("one"))).await;
    assert_eq!(status, 201, "{created}");
    server.wait_deployment(created["deployment_id"].as_str().unwrap()).await;
    let owner = setup_owner(&server, "owner@example.com").await;
    let dev = invite_and_join(&server, &owner, "dev@example.com", "developer", &["default"]).await;

    let made = dev
        .must(&server, "hook_create", json!({"app": "hooked", "name": "ci"}))
        .await;
    let url = made["url"].as_str().unwrap().to_owned();
    let token = made["token"].as_str().unwrap().to_owned();
    let hook_id = made["hook"]["id"].as_str().unwrap().to_owned();
    assert!(url.ends_with(&format!("/api/v1/hooks/{hook_id}")), "{made}");
    assert!(token.starts_with("sh0h_"), "{made}");
    let listed = dev.must(&server, "hook_list", json!({"app": "hooked"})).await;
    assert!(
        !listed.to_string().contains(&token),
        "the token is shown once: {listed}"
    );

    // A wrong or missing token, an unknown hook, an API key: refused, audited, nothing runs.
    let before = server.must("deployment_list", json!({"app": "hooked"})).await["deployments"]
        .as_array()
        .unwrap()
        .len();
    for (target, token) in [
        (url.clone(), Some("sh0h_wrong")),
        (url.clone(), None),
        (
            url.replace(&hook_id, &format!("hok_{}", "0".repeat(32))),
            Some(token.as_str()),
        ),
        (url.replace(&hook_id, "not-a-hook"), Some(token.as_str())),
        (url.clone(), Some(server.token.as_str())),
    ] {
        let (status, body) = deliver(&target, token).await;
        assert_eq!(status, 401, "{target}: {body}");
        assert_eq!(body["error"]["message"], "the hook's URL or token is wrong", "{body}");
        let (principal, adapter, outcome) = last_deploy_audit(&server);
        assert!(
            principal.starts_with("hook:") && principal.ends_with("(refused)"),
            "{principal}"
        );
        assert_eq!((adapter.as_str(), outcome.as_str()), ("hook", "error"));
    }
    let after = server.must("deployment_list", json!({"app": "hooked"})).await["deployments"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "a refused delivery deploys nothing");

    // The right token: a deployment of the app's newest source, started by the hook.
    let (status, body) = deliver(&url, Some(&token)).await;
    assert_eq!(status, 202, "{body}");
    let dep = server.wait_deployment(body["deployment_id"].as_str().unwrap()).await;
    assert_eq!(
        (dep["status"].as_str(), dep["triggered_by"].as_str()),
        (Some("running"), Some("hook")),
        "{dep}"
    );
    let (principal, adapter, outcome) = last_deploy_audit(&server);
    assert_eq!(
        (principal, adapter, outcome),
        (format!("hook:{hook_id}"), "hook".into(), "ok".into())
    );
    let job = server.must("job_get", json!({"job": dep["job"]})).await;
    assert_eq!(job["job"]["principal"], format!("hook:{hook_id}"));
    let listed = dev.must(&server, "hook_list", json!({"app": "hooked"})).await;
    assert!(listed["hooks"][0]["last_used_at"].is_string(), "{listed}");

    // Its maker demoted to viewer: the hook is demoted too, and refused.
    owner
        .must(
            &server,
            "user_update_role",
            json!({"user": "dev@example.com", "role": "viewer"}),
        )
        .await;
    let (status, body) = deliver(&url, Some(&token)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        last_deploy_audit(&server),
        (format!("hook:{hook_id}"), "hook".into(), "error".into())
    );
    // Its maker removed: it acts no more, and says why.
    owner
        .must(
            &server,
            "user_remove",
            json!({"user": "dev@example.com", "confirm": "dev@example.com"}),
        )
        .await;
    let (status, body) = deliver(&url, Some(&token)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("removed"), "{body}");
    // Deleting the hook (or its app) ends it.
    owner
        .must(
            &server,
            "hook_delete",
            json!({"app": "hooked", "hook": "ci", "confirm": "ci"}),
        )
        .await;
    let (status, _) = deliver(&url, Some(&token)).await;
    assert_eq!(status, 401);
}
