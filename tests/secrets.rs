//! No secret in plaintext anywhere it could leak: not in the SQLite files, not in the
//! server log, not in audit records, not in tool output unless explicitly revealed.

mod common;

use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use common::Server;

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_plaintext() {
    let server = common::Server::start();
    let markers = ["rest-Secret-9f8e7d", "cli-Secret-6c5b4a", "mcp-Secret-3e2d1c"];
    server.seed_app("demo", "web").await;

    // REST
    let (status, out) = server
        .call(
            "env_set",
            json!({"app": "web", "key": "REST_SECRET", "value": markers[0]}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(!out.to_string().contains(markers[0]));
    // CLI
    let (code, stdout, stderr) = server.cli(&[
        "env",
        "set",
        "--app",
        "web",
        "--key",
        "CLI_SECRET",
        "--value",
        markers[1],
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains(markers[1]) && !stderr.contains(markers[1]));
    // MCP
    let mcp = server.mcp_client_with(&server.token).await.unwrap();
    let args = json!({"app": "web", "key": "MCP_SECRET", "value": markers[2]});
    let r = mcp
        .call_tool(CallToolRequestParams::new("env_set").with_arguments(args.as_object().unwrap().clone()))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(false));
    assert!(!serde_json::to_string(&r).unwrap().contains(markers[2]));
    // A refused call with a secret argument must not leak it either.
    let _ = server
        .call("env_set", json!({"app": "web", "key": "1BAD", "value": markers[0]}))
        .await;

    // Listing without reveal shows names only.
    let (_, listed) = server.call("env_list", json!({"app": "web"})).await;
    assert_eq!(listed["vars"].as_array().unwrap().len(), 3);
    for m in markers {
        assert!(!listed.to_string().contains(m));
    }
    // The audit log, read through its tool and straight from the database.
    let (_, audit) = server.call("audit_list", json!({"limit": 500})).await;
    assert!(audit["records"].as_array().unwrap().len() >= 6);
    assert!(audit.to_string().contains("[redacted]"));
    // Reveal works, and is the only way to get a value back.
    let (_, revealed) = server.call("env_list", json!({"app": "web", "reveal": true})).await;
    let values: Vec<&str> = revealed["vars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, vec![markers[1], markers[2], markers[0]]);
    mcp.cancel().await.ok();

    // Let SQLite write everything out, then look at every file of the data dir and the log.
    drop(audit);
    let log = server.log();
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(server.data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("sh0.db"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    assert!(log.contains("INFO"), "the server logged");
    assert!(!log.contains('\x1b'), "no colour codes in a log that is not a terminal");
    files.push(("server log".into(), log.clone().into_bytes()));
    assert!(files.len() >= 2);
    for (name, bytes) in &files {
        for m in markers {
            assert!(!contains(bytes, m), "{m} in plaintext in {name}");
        }
        assert!(!contains(bytes, &server.token), "the API key in plaintext in {name}");
    }
    assert!(
        log.contains("bootstrap-token"),
        "the log says where the bootstrap key is"
    );
}

#[tokio::test]
async fn bootstrap_token_is_private_and_works_once_created() {
    use std::os::unix::fs::PermissionsExt;
    let server = common::Server::start();
    let data = server.data_dir();
    for f in ["bootstrap-token", "master.key"] {
        let mode = std::fs::metadata(data.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    assert!(server.token.starts_with("sh0_") && server.token.len() >= 47);
    let (status, body) = server.call("system_info", Value::Null).await;
    assert_eq!(status, 200, "{body}");
}

/// The sealed value of `key` of app `app`, straight from the database.
fn sealed_env(server: &Server, app: &str, key: &str) -> (String, Vec<u8>) {
    let conn = rusqlite::Connection::open(server.data_dir().join("sh0.db")).unwrap();
    conn.query_row(
        "SELECT e.app_id, e.sealed FROM env_vars e JOIN apps a ON a.id = e.app_id WHERE a.name = ?1 AND e.key = ?2",
        [app, key],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

fn opens_with(key_text: &str, app_id: &str, key: &str, sealed: &[u8]) -> bool {
    let context = sh0::auth::env_context(
        &sh0::domain::AppId::try_from(app_id.to_string()).unwrap(),
        &sh0::domain::EnvKey::try_from(key.to_string()).unwrap(),
    );
    sh0::auth::MasterKey::parse(key_text)
        .unwrap()
        .open(sealed, &context)
        .is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_the_master_key_reseals_every_secret_while_serving() {
    let mut server = Server::start_with(&["--no-acme"]);
    server.seed_app("vault", "web").await;
    let (status, body) = server
        .call(
            "env_set",
            json!({"app": "web", "key": "TOKEN", "value": "rotate-me-please"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    server
        .call("domain_add", json!({"app": "web", "domain": "web.example.test"}))
        .await;
    let ca = common::certs::TestCa::new("rotation CA");
    let leaf = ca.leaf(&["web.example.test"]);
    let (status, body) = server
        .call(
            "cert_upload",
            json!({"domain": "web.example.test", "certificate_pem": leaf.cert_pem, "private_key_pem": leaf.key_pem}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let key_file = server.data_dir().join("master.key");
    let old = std::fs::read_to_string(&key_file).unwrap();

    let (status, out) = server.call("secrets_rotate", json!({})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["resealed"]["env_vars"], 1);
    assert_eq!(out["resealed"]["certificate_keys"], 1);
    let new = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(old, new);
    assert!(!server.data_dir().join("master.key.next").exists());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (app_id, sealed) = sealed_env(&server, "web", "TOKEN");
    assert!(
        !opens_with(&old, &app_id, "TOKEN", &sealed),
        "the old key still opens the value"
    );
    assert!(opens_with(&new, &app_id, "TOKEN", &sealed));

    // The running server never stopped reading its secrets, and neither does a restarted one.
    let reveal = json!({"app": "web", "reveal": true});
    let (_, vars) = server.call("env_list", reveal.clone()).await;
    assert_eq!(vars["vars"][0]["value"], "rotate-me-please");
    server.restart();
    let (_, vars) = server.call("env_list", reveal.clone()).await;
    assert_eq!(vars["vars"][0]["value"], "rotate-me-please");
    let (_, domains) = server.call("domain_list", json!({})).await;
    assert_eq!(
        domains["domains"][0]["https"], true,
        "the certificate key opened after restart: {domains}"
    );

    // Two rotations at once, and a value written meanwhile: one rotation at a time, and
    // every value still opens afterwards, also after a restart.
    let late = json!({"app": "web", "key": "LATE", "value": "written-during-rotation"});
    let (a, b, c) = tokio::join!(
        server.call("secrets_rotate", json!({})),
        server.call("secrets_rotate", json!({})),
        server.call("env_set", late),
    );
    assert_eq!((a.0, b.0, c.0), (200, 200, 200), "{a:?} {b:?} {c:?}");
    assert!(!server.data_dir().join("master.key.next").exists());
    server.restart();
    let (_, vars) = server.call("env_list", reveal.clone()).await;
    let values: Vec<&str> = vars["vars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["written-during-rotation", "rotate-me-please"], "{vars}");

    // A rotation stopped before it re-sealed anything (only the new key file written) is
    // finished at the next start.
    let next = "ab".repeat(32);
    std::fs::write(server.data_dir().join("master.key.next"), &next).unwrap();
    server.restart();
    let (_, vars) = server.call("env_list", reveal).await;
    assert_eq!(vars["vars"][1]["value"], "rotate-me-please");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), next);
    let (app_id, sealed) = sealed_env(&server, "web", "TOKEN");
    assert!(opens_with(&next, &app_id, "TOKEN", &sealed));
}
