//! The OpenAPI document, fuzzed by schemathesis with a valid owner key: thousands of
//! generated calls over every operation, and none may answer 5xx or break its own response
//! schema. The seed is fixed so that a failure reproduces (`st replay` shows each case). One
//! worker: with several, hypothesis can trip over its own source introspection (a runtime
//! error of the fuzzer, not a finding about sh0).

mod common;

use std::process::Command;

#[test]
fn fuzzing_the_openapi_document_finds_no_server_error_and_no_schema_break() {
    // Deploys and rollbacks reach Docker; without it they would rightly answer 503.
    common::docker::require_docker();
    let server = common::Server::start_with(&["--no-acme"]);
    let schemathesis = common::python().with_file_name("schemathesis");
    assert!(
        schemathesis.exists(),
        "schemathesis is missing from the test venv at {}",
        schemathesis.display()
    );
    let out = Command::new(&schemathesis)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", server.url))
        .args(["-H", &format!("Authorization: Bearer {}", server.token)])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args(["--max-examples", "25", "--workers", "1", "--request-timeout", "15"])
        .args(["--seed", "20261124", "--no-color"])
        .current_dir(server.dir.path())
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = report
        .lines()
        .rev()
        .find(|l| l.contains("generated"))
        .unwrap_or_default();
    println!("schemathesis: {}", summary.trim());
}
