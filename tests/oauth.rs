//! Remote MCP clients with OAuth 2.1, driven by the official MCP Python SDK's OAuth client
//! against a real `sh0 serve`: discovery from the 401, registration, authorization with
//! PKCE, consent by a signed-in user, tokens, tool calls; and each refusal — a wrong
//! redirect URI, a missing or wrong PKCE verifier, a reused code, a token for another
//! audience, a revoked grant, a reused refresh token. The checks are in
//! `tests/mcp/oauth_check.py`.

mod common;

use serde_json::json;
use std::process::Command;

use common::accounts::{PASSWORD, invite_and_join, setup_owner};

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_oauth_client_completes_the_flow_and_every_refusal_holds() {
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
    invite_and_join(&server, &owner, "dev@example.com", "developer", &["alpha"]).await;

    let port = server.url.rsplit(':').next().unwrap().to_owned();
    let out = Command::new(common::python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/oauth_check.py"))
        .env("SH0_URL", &server.url)
        .env("SH0_OTHER_URL", format!("http://localhost:{port}"))
        .env("SH0_EMAIL", "dev@example.com")
        .env("SH0_PASSWORD", PASSWORD)
        .output()
        .expect("run the Python OAuth client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "OAuth checks failed:\n{stdout}\n{}\nserver log (tail):\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log().lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
    assert!(stdout.contains("ok oauth"), "{stdout}");

    // Grants act as their user: the audit names the grant, and no token is in it.
    let audit = server.must("audit_list", json!({ "limit": 200 })).await;
    let text = audit.to_string();
    assert!(
        text.contains("/grant:ogr_"),
        "calls through a grant are audited as it: {text}"
    );
    assert!(
        !text.contains("sh0at_") && !text.contains("sh0rt_") && !text.contains("sh0ac_"),
        "a token in the audit log"
    );
    assert!(!server.log().contains("sh0at_"), "a token in the server log");
}
