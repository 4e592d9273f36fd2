//! The analyzer of failed deployments against real failing apps, with no model: one app
//! per cause (a port other than the configured one, listening on 127.0.0.1 inside the
//! container, a crash on a missing variable, out of memory, a health path answering 500,
//! a build error), each deployed through sh0 with real Docker. The report in
//! `deployment_get` names the cause and cites the evidence; `deployment_diagnose` gives it
//! on demand, and looks at a serving app live.

mod common;

use serde_json::{Value, json};

use common::Server;
use common::docker::{BASE_IMAGE, require_docker, targz, web_context};

/// A context whose Dockerfile ends with `tail` (after `FROM` and `COPY www /www`).
fn context(tail: &str) -> Vec<u8> {
    let mut files = web_context("ok");
    files[0].1 = format!("FROM {BASE_IMAGE}\nCOPY www /www\n{tail}\n").into_bytes();
    targz(&files)
}

const SERVE_8080: &str = r#"CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]"#;

/// Creates app `name` (port 8080, a short health check, `extra` settings) and deploys
/// `archive`; returns the finished `deployment_get` answer.
async fn deploy(server: &Server, name: &str, extra: Value, archive: Vec<u8>) -> Value {
    if server.call("app_get", json!({ "app": name })).await.0 == 404 {
        server
            .must("app_create", json!({ "name": name, "project": "diag", "port": 8080 }))
            .await;
    }
    let mut settings = json!({ "app": name, "health_retries": 4, "health_interval_ms": 250 });
    settings
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    server.must("app_update", settings).await;
    let (status, resp) = server.upload(Some(name), name, archive).await;
    assert_eq!(status, 201, "{resp}");
    let id = resp["deployment_id"].as_str().unwrap().to_owned();
    server.wait_deployment(&id).await;
    server
        .must("deployment_get", json!({ "deployment": id, "log_limit": 1 }))
        .await
}

/// The report of a failed deployment, with its first finding's cause.
fn report(got: &Value) -> (&Value, &str) {
    assert_eq!(got["deployment"]["status"], "failed", "{got}");
    let d = &got["diagnosis"];
    assert!(d.is_object(), "a failed deployment carries its diagnosis: {got}");
    (d, d["findings"][0]["cause"].as_str().unwrap())
}

/// Every piece of evidence of the first finding, as one text.
fn evidence(d: &Value) -> String {
    d["findings"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["detail"], e["quote"]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn fixes(d: &Value) -> Vec<(String, Value)> {
    d["findings"][0]["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["tool"].as_str().unwrap().to_owned(), f["arguments"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_cause_is_named_with_its_evidence() {
    require_docker();
    let server = Server::start();
    server.must("project_create", json!({ "name": "diag" })).await;

    // The app listens on 3000; its port says 8080.
    let got = deploy(
        &server,
        "wrongport",
        json!({}),
        context(r#"CMD ["httpd", "-f", "-p", "3000", "-h", "/www"]"#),
    )
    .await;
    let (d, cause) = report(&got);
    assert_eq!(cause, "port_mismatch", "{d:#}");
    assert!(
        evidence(d).contains("]:3000") || evidence(d).contains("0.0.0.0:3000"),
        "{}",
        evidence(d)
    );
    assert!(evidence(d).contains("port is 8080"), "{}", evidence(d));
    assert_eq!(
        fixes(d)[0],
        ("app_update".into(), json!({ "app": "wrongport", "port": 3000 }))
    );

    // Listening on the loopback address inside the container.
    let got = deploy(
        &server,
        "loopback",
        json!({}),
        context(r#"CMD ["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"]"#),
    )
    .await;
    let (d, cause) = report(&got);
    assert_eq!(cause, "listens_on_loopback", "{d:#}");
    assert!(evidence(d).contains("127.0.0.1:8080"), "{}", evidence(d));
    assert!(d["summary"].as_str().unwrap().contains("127.0.0.1:8080"), "{d:#}");

    // A crash on a missing variable, after a version that had it: the variable is named,
    // and the change since the last good deployment is listed.
    let needs_db = context(
        r#"CMD ["sh", "-c", "echo starting; if [ -z \"$DATABASE_URL\" ]; then echo 'Error: environment variable DATABASE_URL is not set' >&2; exit 1; fi; exec httpd -f -p 8080 -h /www"]"#,
    );
    server
        .must(
            "app_create",
            json!({ "name": "needsdb", "project": "diag", "port": 8080 }),
        )
        .await;
    server
        .must(
            "env_set",
            json!({ "app": "needsdb", "key": "DATABASE_URL", "value": "postgres://db/app" }),
        )
        .await;
    let good = deploy(&server, "needsdb", json!({}), needs_db.clone()).await;
    assert_eq!(good["deployment"]["status"], "running", "{good}");
    assert!(
        good["diagnosis"].is_null(),
        "a deployment that runs has no report: {good}"
    );
    server
        .must(
            "env_unset",
            json!({ "app": "needsdb", "key": "DATABASE_URL", "confirm": "DATABASE_URL" }),
        )
        .await;
    let got = deploy(&server, "needsdb", json!({}), needs_db).await;
    let (d, cause) = report(&got);
    assert_eq!(cause, "missing_env", "{d:#}");
    assert!(evidence(d).contains("DATABASE_URL is not set"), "{}", evidence(d));
    assert_eq!(fixes(d)[0].0, "env_set");
    assert_eq!(fixes(d)[0].1["key"], "DATABASE_URL");
    let changed = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["cause"] == "changed_since_last_good")
        .expect("what changed since the version that ran");
    assert!(changed.to_string().contains("removed since: DATABASE_URL"), "{changed}");
    // The old version still serves.
    let (code, _) = server.via_proxy("needsdb", "/").await.unwrap();
    assert_eq!(code, 200);

    // Out of memory at a 16 MB limit.
    let got = deploy(
        &server,
        "hungry",
        json!({ "memory_mb": 16 }),
        context(r#"CMD ["dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"]"#),
    )
    .await;
    let (d, cause) = report(&got);
    assert_eq!(cause, "out_of_memory", "{d:#}");
    assert!(evidence(d).contains("OOMKilled: true"), "{}", evidence(d));
    assert!(evidence(d).contains("memory limit 16 MB"), "{}", evidence(d));
    assert_eq!(fixes(d)[0].1["memory_mb"], 256);

    // The health path answers 500.
    let got = deploy(
        &server,
        "sick",
        json!({ "health_path": "/cgi-bin/health" }),
        {
            let mut files = web_context("ok");
            files[0].1 = format!("FROM {BASE_IMAGE}\nCOPY www /www\n{SERVE_8080}\n").into_bytes();
            files.push((
                "www/cgi-bin/health".into(),
                b"#!/bin/sh\necho 'Status: 500 Internal Server Error'\necho 'Content-Type: text/plain'\necho\necho down\necho 'error: cannot reach the database' >&2\n".to_vec(),
                0o755,
            ));
            targz(&files)
        },
    )
    .await;
    let (d, cause) = report(&got);
    assert_eq!(cause, "health_check_error", "{d:#}");
    assert!(
        evidence(d).contains("GET /cgi-bin/health answered 500"),
        "{}",
        evidence(d)
    );
    assert!(
        evidence(d).contains("cannot reach the database"),
        "the app's own words: {}",
        evidence(d)
    );

    // The build fails.
    let got = deploy(
        &server,
        "broken",
        json!({}),
        context("RUN [\"sh\", \"-c\", \"echo compiling; echo 'main.c:3: error: expected ;' >&2; exit 2\"]"),
    )
    .await;
    let (d, cause) = report(&got);
    assert_eq!(cause, "build_failed", "{d:#}");
    assert!(d["summary"].as_str().unwrap().contains("RUN"), "{d:#}");
    assert!(evidence(d).contains("main.c:3: error"), "{}", evidence(d));

    // On demand: the same report for a failed deployment, and a live look at a serving app.
    let again = server.must("deployment_diagnose", json!({ "app": "wrongport" })).await;
    assert_eq!(again["findings"][0]["cause"], "port_mismatch", "{again:#}");
    let live = server
        .must(
            "deployment_diagnose",
            json!({ "app": "needsdb", "deployment": good["deployment"]["id"] }),
        )
        .await;
    assert_eq!(live["status"], "running", "{live:#}");
    assert_eq!(live["findings"], json!([]), "a healthy app: {live:#}");
    assert_eq!(live["container"]["running"], true, "{live:#}");
    assert!(live["container"]["listening"].to_string().contains("8080"), "{live:#}");
    assert_eq!(live["health"]["last"]["code"], 200, "{live:#}");
    // A deployment of another app is not found through this one.
    let (status, body) = server
        .call(
            "deployment_diagnose",
            json!({ "app": "sick", "deployment": good["deployment"]["id"] }),
        )
        .await;
    assert_eq!(status, 404, "{body}");

    // The CLI shows the report with the deployment.
    let id = got["deployment"]["id"].as_str().unwrap();
    let (code, out, err) = server.cli(&["deployment", "get", "--deployment", id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Diagnosis: the image build failed"), "{out}");
    assert!(
        out.contains("| main.c:3: error: expected ;"),
        "the evidence, quoted: {out}"
    );
}
