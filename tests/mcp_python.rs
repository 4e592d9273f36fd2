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
