//! The deploy engine against a real Docker daemon: blue-green swaps with zero failed
//! requests, failures that leave the previous version serving, a crash in the middle of a
//! build, one active deployment per app, and the app lifecycle.

mod common;

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::Server;
use common::docker::{BASE_IMAGE, managed_containers, require_docker, targz, web_context};

fn slow_build_context(body: &str) -> Vec<u8> {
    let mut files = web_context(body);
    files[0].1 = format!(
        "FROM {BASE_IMAGE}\nRUN [\"sleep\", \"60\"]\nCOPY www /www\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n"
    )
    .into_bytes();
    targz(&files)
}

async fn deploy_ok(server: &Server, app: &str, body: &str) -> Value {
    let (status, resp) = server.upload(Some(app), app, targz(&web_context(body))).await;
    assert_eq!(status, 201, "{resp}");
    let dep = server.wait_deployment(resp["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "running", "{dep}");
    dep
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_redeploys_under_load_fail_no_request() {
    require_docker();
    let server = Arc::new(Server::start());
    let (status, created) = server.upload(None, "web", targz(&web_context("v0"))).await;
    assert_eq!(status, 201, "{created}");
    let app_id = created["app_id"].as_str().unwrap().to_owned();
    let first = server.wait_deployment(created["deployment_id"].as_str().unwrap()).await;
    assert_eq!(first["status"], "running", "{first}");
    // Short health checks so the failing deployment fails fast.
    let (s, body) = server
        .call(
            "app_update",
            json!({"app": "web", "health_retries": 12, "health_interval_ms": 250}),
        )
        .await;
    assert_eq!(s, 200, "{body}");

    // Continuous load: 8 clients with keep-alive, a few hundred requests/s in all.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (stop, ok, failed, failures) = (stop.clone(), ok.clone(), failed.clone(), failures.clone());
        let url = format!("http://127.0.0.1:{}/", server.http_port);
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                match http.get(&url).header("host", "web.localhost").send().await {
                    Ok(r) if r.status() == 200 => match r.text().await {
                        Ok(t) if t.starts_with('v') => ok.fetch_add(1, Ordering::Relaxed),
                        other => {
                            failures.lock().unwrap().push(format!("body {other:?}"));
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    },
                    other => {
                        failures.lock().unwrap().push(format!("{other:?}"));
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
                tokio::time::sleep(Duration::from_millis(12)).await;
            }
        }));
    }

    let mut serving = "v0".to_string();
    for i in 1..=10 {
        let (files, expect_ok) = match i {
            4 => {
                // Builds fine, never becomes healthy (nothing listens on the port).
                let mut f = web_context("never");
                f[0].1 = format!("FROM {BASE_IMAGE}\nCMD [\"sleep\", \"600\"]\n").into_bytes();
                (f, false)
            }
            7 => {
                // The build itself fails.
                let mut f = web_context("never");
                f[0].1 = format!("FROM {BASE_IMAGE}\nRUN [\"false\"]\n").into_bytes();
                (f, false)
            }
            _ => (web_context(&format!("v{i}")), true),
        };
        let (status, resp) = server.upload(Some(&app_id), "web", targz(&files)).await;
        assert_eq!(status, 201, "deploy {i}: {resp}");
        let dep = server.wait_deployment(resp["deployment_id"].as_str().unwrap()).await;
        if expect_ok {
            assert_eq!(dep["status"], "running", "deploy {i}: {dep}");
            serving = format!("v{i}");
        } else {
            assert_eq!(dep["status"], "failed", "deploy {i}: {dep}");
            assert!(dep["error"].as_str().unwrap().len() > 10, "a readable reason: {dep}");
        }
        // Whatever happened, the proxy serves the last good version.
        let (code, text) = server.via_proxy("web", "/").await.unwrap();
        assert_eq!((code, text.trim()), (200, serving.as_str()), "after deploy {i}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("requests through the proxy during 10 redeploys: {ok} ok, {failed} failed");
    assert!(ok > 500, "the load generator ran ({ok} requests)");
    assert_eq!(
        failed,
        0,
        "failed requests: {:?}",
        failures.lock().unwrap().iter().take(5).collect::<Vec<_>>()
    );

    // Old containers are drained and removed: only the serving one remains (give the last
    // drain its stop grace period).
    let started = std::time::Instant::now();
    while managed_containers(&app_id).len() > 1 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(managed_containers(&app_id).len(), 1);
    let (_, list) = server.call("deployment_list", json!({"app": "web", "limit": 50})).await;
    let statuses: Vec<&str> = list["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "running").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == "failed").count(), 2, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_build_then_restart_recovers() {
    require_docker();
    let mut server = Server::start();
    let (status, created) = server.upload(None, "api", targz(&web_context("stable"))).await;
    assert_eq!(status, 201, "{created}");
    let app_id = created["app_id"].as_str().unwrap().to_owned();
    assert_eq!(
        server.wait_deployment(created["deployment_id"].as_str().unwrap()).await["status"],
        "running"
    );

    let (status, resp) = server.upload(Some("api"), "api", slow_build_context("new")).await;
    assert_eq!(status, 201, "{resp}");
    let dep_id = resp["deployment_id"].as_str().unwrap().to_owned();
    loop {
        let (_, d) = server.call("deployment_get", json!({"deployment": dep_id})).await;
        if d["log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("sleep"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill9();
    // While sh0 is down its proxy is down too; the container itself keeps running.
    server.restart();

    let (_, d) = server.call("deployment_get", json!({"deployment": dep_id})).await;
    assert_eq!(d["deployment"]["status"], "failed", "{d}");
    assert!(
        d["deployment"]["error"]
            .as_str()
            .unwrap()
            .contains("interrupted by restart"),
        "{d}"
    );
    // Its job says the same, and its work folders are gone.
    let job = server.must("job_get", json!({"job": d["deployment"]["job"]})).await;
    assert_eq!(job["job"]["status"], "failed", "{job}");
    assert!(job["job"]["error"].as_str().unwrap().contains("interrupted"), "{job}");
    let builds = server.data_dir().join("builds");
    let left: Vec<_> = std::fs::read_dir(&builds)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "work folders left behind: {left:?}");
    let (code, text) = server.via_proxy("api", "/").await.unwrap();
    assert_eq!((code, text.trim()), (200, "stable"));
    assert_eq!(managed_containers(&app_id).len(), 1, "no orphan container");
    // And the app can be deployed again.
    deploy_ok(&server, "api", "after").await;
    let (_, text) = server.via_proxy("api", "/").await.unwrap();
    assert_eq!(text.trim(), "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_active_deployment_per_app_and_cancel() {
    require_docker();
    let server = Server::start();
    let (status, created) = server.upload(None, "busy", targz(&web_context("one"))).await;
    assert_eq!(status, 201);
    server.wait_deployment(created["deployment_id"].as_str().unwrap()).await;
    let (status, first) = server.upload(Some("busy"), "busy", slow_build_context("slow")).await;
    assert_eq!(status, 201, "{first}");
    let first_id = first["deployment_id"].as_str().unwrap();
    let (status, second) = server.upload(Some("busy"), "busy", targz(&web_context("two"))).await;
    assert_eq!(status, 409, "{second}");
    assert!(
        second["error"]["message"].as_str().unwrap().contains(first_id),
        "names the active one: {second}"
    );
    let (status, again) = server.call("app_deploy", json!({"app": "busy"})).await;
    assert_eq!(status, 409, "{again}");

    let (status, c) = server.call("deployment_cancel", json!({"deployment": first_id})).await;
    assert_eq!((status, c["cancelled"].as_bool()), (200, Some(true)), "{c}");
    let dep = server.wait_deployment(first_id).await;
    assert_eq!(dep["status"], "cancelled", "{dep}");
    let (_, text) = server.via_proxy("busy", "/").await.unwrap();
    assert_eq!(text.trim(), "one", "the previous version still serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_rollback_stop_start_restart_logs_delete() {
    require_docker();
    let server = Server::start();
    let (status, created) = server.upload(None, "life", targz(&web_context("a"))).await;
    assert_eq!(status, 201, "{created}");
    let app_id = created["app_id"].as_str().unwrap().to_owned();
    server.wait_deployment(created["deployment_id"].as_str().unwrap()).await;
    deploy_ok(&server, "life", "b").await;

    // Forwarded headers reach the app.
    let (_, headers) = server.via_proxy("life", "/cgi-bin/headers").await.unwrap();
    assert!(
        headers.contains("xff=127.0.0.1") && headers.contains("proto=http"),
        "{headers}"
    );
    assert!(headers.contains("host=life.localhost"), "{headers}");

    // Rollback runs the previous image again.
    let (status, rb) = server.call("app_rollback", json!({"app": "life"})).await;
    assert_eq!(status, 200, "{rb}");
    let dep = server.wait_deployment(rb["deployment_id"].as_str().unwrap()).await;
    assert_eq!(
        (dep["status"].as_str(), dep["triggered_by"].as_str()),
        (Some("running"), Some("rollback"))
    );
    assert_eq!(server.via_proxy("life", "/").await.unwrap().1.trim(), "a");

    // Stop: 503. Start: back.
    assert_eq!(server.call("app_stop", json!({"app": "life"})).await.0, 200);
    assert_eq!(server.via_proxy("life", "/").await.unwrap().0, 503);
    assert_eq!(server.call("app_start", json!({"app": "life"})).await.0, 200);
    assert_eq!(server.via_proxy("life", "/").await.unwrap(), (200, "a".into()));

    // Restart is a zero-downtime redeploy of the current image.
    let (status, rs) = server.call("app_restart", json!({"app": "life"})).await;
    assert_eq!(status, 200, "{rs}");
    let dep = server.wait_deployment(rs["deployment_id"].as_str().unwrap()).await;
    assert_eq!(
        (dep["status"].as_str(), dep["triggered_by"].as_str()),
        (Some("running"), Some("restart"))
    );

    // Logs of the app, through the tool.
    let (status, logs) = server.call("app_logs", json!({"app": "life", "tail": 10})).await;
    assert_eq!(status, 200, "{logs}");
    assert!(logs["lines"].is_array());

    // Deploying an image reference works too.
    let (status, img) = server
        .call("app_deploy", json!({"app": "life", "image": BASE_IMAGE}))
        .await;
    assert_eq!(status, 200, "{img}");
    let dep = server.wait_deployment(img["deployment_id"].as_str().unwrap()).await;
    // The bare base image serves nothing on 8080, so its health check fails and "a" stays.
    let _ = dep;

    // Unknown hosts are a 404 page; delete removes containers and route.
    assert_eq!(server.via_proxy("nothing", "/").await.unwrap().0, 404);
    let (status, del) = server
        .call("app_delete", json!({"app": "life", "confirm": "life"}))
        .await;
    assert_eq!(status, 200, "{del}");
    assert_eq!(server.via_proxy("life", "/").await.unwrap().0, 404);
    assert!(managed_containers(&app_id).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_log_streams_over_websocket() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    require_docker();
    let server = Server::start();
    let (status, created) = server.upload(None, "ws", targz(&web_context("x"))).await;
    assert_eq!(status, 201);
    let id = created["deployment_id"].as_str().unwrap();
    let url = format!("{}/api/v1/deployments/{id}/logs/ws", server.url.replace("http", "ws"));
    let mut req = url.clone().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {}", server.token).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("websocket");
    let mut lines = Vec::new();
    let mut end = None;
    while let Some(Ok(msg)) = ws.next().await {
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["end"] == true {
                end = Some(v);
                break;
            }
            lines.push(v["line"].as_str().unwrap().to_owned());
        }
    }
    // The stream is the deployment's job's log: it ends with the job's status, and the
    // same log is the job's (job_get) and the deployment's (deployment_get).
    let end = end.unwrap();
    assert_eq!(end["status"], "succeeded", "{end}");
    let job = end["job"].as_str().unwrap().to_owned();
    let dep = server.must("deployment_get", json!({ "deployment": id })).await;
    assert_eq!(dep["deployment"]["job"], job.as_str(), "{dep}");
    assert_eq!(dep["deployment"]["status"], "running", "{dep}");
    let snapshot = server.must("job_get", json!({ "job": job })).await;
    assert_eq!(snapshot["job"]["kind"], "deploy", "{snapshot}");
    assert_eq!(snapshot["log"], dep["log"], "one log, two views");
    assert!(lines.iter().any(|l| l.contains("Step 1/")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("health check passed")), "{lines:?}");
    // Without a key: refused before the upgrade.
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
}
