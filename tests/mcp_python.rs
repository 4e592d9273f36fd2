//! The official MCP Python SDK against sh0: stdio (`sh0 mcp`) and streamable HTTP (`/mcp`),
//! both protocol generations. The checks themselves are in `tests/mcp/client_check.py`.

mod common;

use std::process::Command;

#[test]
fn python_sdk_drives_sh0_over_http_and_stdio_in_both_generations() {
    let python = common::python();
    let server = common::Server::start();
    let out = Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/client_check.py"))
        .env("SH0_URL", &server.url)
        .env("SH0_TOKEN", &server.token)
        .env("SH0_BIN", common::BIN)
        .env(
            "SH0_EXPECTED_TOOLS",
            serde_json::to_string(&common::tool_names()).unwrap(),
        )
        .output()
        .expect("run the Python MCP client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "MCP client checks failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log()
    );
    for label in ["http/legacy", "http/2026-07-28", "stdio/legacy", "stdio/2026-07-28"] {
        assert!(
            stdout.contains(&format!("ok {label}")),
            "{label} did not run:\n{stdout}"
        );
    }
}

#[test]
fn openapi_document_validates() {
    let python = common::python();
    let server = common::Server::start();
    let doc = reqwest::blocking_get(&format!("{}/api/v1/openapi.json", server.url));
    let path = server.dir.path().join("openapi.json");
    std::fs::write(&path, doc).unwrap();
    let out = Command::new(python)
        .args(["-c", "import sys, json; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('valid')"])
        .arg(&path)
        .output()
        .expect("run openapi-spec-validator");
    assert!(
        out.status.success(),
        "the OpenAPI document does not validate:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

mod reqwest {
    /// A blocking GET without pulling reqwest's blocking feature into the build.
    pub fn blocking_get(url: &str) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { ::reqwest::get(url).await.unwrap().text().await.unwrap() })
    }
}

/// Resources, subscriptions, completions, progress and logging, with the official Python
/// SDK against a real deployment: an owner and a developer limited to one project, an app
/// in each project, a real container serving one of them. The checks are in
/// `tests/mcp/resources_check.py`.
#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_reads_resources_follows_deployments_and_completes() {
    use common::accounts::{invite_and_join, key_for, setup_owner};
    use common::docker::{require_docker, targz, web_context};
    use serde_json::json;

    require_docker();
    let server = common::Server::start();
    let owner = setup_owner(&server, "owner@example.com").await;
    for p in ["alpha", "beta"] {
        server.must("project_create", json!({ "name": p })).await;
    }
    server
        .must(
            "app_create",
            json!({ "name": "web-a", "project": "alpha", "port": 8080 }),
        )
        .await;
    server
        .must(
            "app_create",
            json!({ "name": "web-b", "project": "beta", "port": 8080 }),
        )
        .await;
    server
        .must(
            "env_set",
            json!({ "app": "web-a", "key": "API_SECRET", "value": "s3cr3t-value-9" }),
        )
        .await;
    let (status, resp) = server
        .upload(Some("web-a"), "web-a", targz(&web_context("hello from a")))
        .await;
    assert_eq!(status, 201, "{resp}");
    server.wait_deployment(resp["deployment_id"].as_str().unwrap()).await;
    let owner_key = key_for(&server, &owner, "owner-mcp", "admin", None).await;
    let dev = invite_and_join(&server, &owner, "dev@example.com", "developer", &["alpha"]).await;
    let dev_key = key_for(&server, &dev, "dev-mcp", "write", None).await;

    let out = Command::new(common::python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/resources_check.py"))
        .env("SH0_URL", &server.url)
        .env("SH0_OWNER_KEY", &owner_key)
        .env("SH0_DEV_KEY", &dev_key)
        .env("SH0_BIN", common::BIN)
        .output()
        .expect("run the Python MCP client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "MCP resource checks failed:\n{stdout}\n{}\nserver log (tail):\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log().lines().rev().take(40).collect::<Vec<_>>().join("\n")
    );
    for label in ["legacy", "2026-07-28"] {
        assert!(
            stdout.contains(&format!("ok resources {label}")),
            "{label} did not run:\n{stdout}"
        );
    }

    // Resource reads went through dispatch: audited as calls of the tools they mirror.
    let audit = server
        .must("audit_list", json!({ "tool": "app_logs", "limit": 100 }))
        .await;
    let entries = audit["records"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["adapter"] == "mcp"),
        "reads of sh0://apps/web-a/logs are audited as app_logs over MCP: {audit}"
    );
    let text = audit.to_string();
    assert!(!text.contains("s3cr3t-value-9"), "no secret in the audit log");
}
