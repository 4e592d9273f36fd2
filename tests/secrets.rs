//! No secret in plaintext anywhere it could leak: not in the SQLite files, not in the
//! server log, not in audit records, not in tool output unless explicitly revealed.

mod common;

use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

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
