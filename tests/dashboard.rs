//! The dashboard in a real browser: Debian's Chromium, driven by playwright-core
//! (`dashboard/e2e/run.mjs`), against a real `sh0 serve` with real Docker. The script does
//! what a person does — set up the owner, sign out and in with TOTP, create projects from
//! the command palette, deploy an archive and watch the live build reach "running", open
//! the app, set a variable and see the redeploy, attach a domain, deploy a broken version and
//! read its diagnosis while the previous one serves on, set the assistant's model
//! and hold a conversation in its panel (a read, an approved change, a destructive change
//! approved by typing its target, a declined one), make a read-only key,
//! invite a developer limited to one project and a viewer, try a cross-site request and a
//! cross-site WebSocket, run axe-core over every page in both themes, render every page in
//! each language, delete the app by typing its name, verify the audit chain — and this
//! test then checks from the server's side what the browser could not see.
//!
//! Needs `SH0_NODE` (a Node to run the script; `.ci/test` sets it), the dashboard's
//! `node_modules` (`.ci/test` runs `npm ci`) and Chromium (`SH0_CHROMIUM`, default
//! `/usr/bin/chromium`). Under `CI=true` a missing one fails the test; it never skips.

mod common;

use common::docker::{BASE_IMAGE, require_docker, targz, web_context};
use common::model::{ScriptedModel, call, say};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

fn needed(var: &str, default: Option<&str>) -> Option<String> {
    match std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .or(default.map(str::to_owned))
    {
        Some(p) if Path::new(&p).exists() => Some(p),
        other if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{var} ({other:?}) is not usable: run the tests with `bash .ci/test`, which installs it")
        }
        _ => {
            eprintln!("skipping: {var} is not set (run `bash .ci/test`)");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_runs_sh0_from_the_dashboard_in_chromium() {
    let dashboard = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard");
    let (Some(node), Some(chromium)) = (
        needed("SH0_NODE", None),
        needed("SH0_CHROMIUM", Some("/usr/bin/chromium")),
    ) else {
        return;
    };
    assert!(
        dashboard.join("node_modules/playwright-core").exists(),
        "dashboard/node_modules is missing: run `npm ci` in dashboard/ (bash .ci/test does)"
    );
    require_docker();
    let server = common::Server::start();
    let port = server.url.rsplit(':').next().unwrap();
    let body = "hello from the dashboard test";
    let archive = server.dir.path().join("web.tar.gz");
    std::fs::write(&archive, targz(&web_context(body))).unwrap();
    // A version whose build fails, for the diagnosis on the app's page.
    let bad_archive = server.dir.path().join("bad.tar.gz");
    let mut bad = web_context(body);
    bad[0].1 = format!("FROM {BASE_IMAGE}\nRUN [\"sh\", \"-c\", \"echo build step broke; exit 3\"]\n").into_bytes();
    std::fs::write(&bad_archive, targz(&bad)).unwrap();
    let shots = std::env::var("SH0_SCREENSHOTS").unwrap_or_default();
    // The assistant's answers, in the order run.mjs sends its four messages.
    let model = ScriptedModel::start().await;
    model.script(vec![
        call("app_list", json!({})),
        say("You have one app: web."),
        call(
            "env_set",
            json!({ "app": "web", "key": "FROM_ASSISTANT", "value": "1" }),
        ),
        say("FROM_ASSISTANT is set on web."),
        call("env_unset", json!({ "app": "web", "key": "FROM_ASSISTANT" })),
        say("Removed FROM_ASSISTANT."),
        call("app_stop", json!({ "app": "web" })),
        say("Understood, web keeps running."),
    ]);

    let out = Command::new(&node)
        .arg(dashboard.join("e2e/run.mjs"))
        .current_dir(&dashboard)
        .env("SH0_URL", format!("http://localhost:{port}"))
        .env("SH0_BOOTSTRAP", &server.token)
        .env("SH0_ARCHIVE", &archive)
        .env("SH0_BAD_ARCHIVE", &bad_archive)
        .env("SH0_APP_BODY", body)
        .env("SH0_CHROMIUM", &chromium)
        .env("SH0_SCREENSHOTS", shots)
        .env("SH0_MODEL_URL", &model.base_url)
        .output()
        .expect("run the browser test");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stderr}");
    let summary: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no summary from the browser test:\n{stdout}\n{stderr}"));
    assert!(
        summary["ok"] == true && out.status.success(),
        "the browser test failed: {}\nsteps done: {}\nserver log (tail):\n{}",
        summary["error"].as_str().unwrap_or("?"),
        summary["steps"],
        server.log().lines().rev().take(40).collect::<Vec<_>>().join("\n")
    );
    println!("summary: {}", serde_json::to_string_pretty(&summary).unwrap());

    // What the browser could not see: the cross-site POST changed nothing.
    let projects = server.must("project_list", json!({})).await;
    let names: Vec<&str> = projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["demo", "other"], "a cross-site request created something");
    // The assistant's calls ran as the owner through the chat adapter, each only after its
    // decision: the approved ones ran, the declined stop did not.
    assert_eq!(model.requests().len(), 8, "the model was asked once per scripted turn");
    for (tool, ran) in [
        ("app_list", true),
        ("env_set", true),
        ("env_unset", true),
        ("app_stop", false),
    ] {
        let records = server.must("audit_list", json!({"tool": tool, "limit": 500})).await;
        let by_chat: Vec<&Value> = records["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["adapter"] == "chat")
            .collect();
        assert_eq!(
            by_chat.iter().any(|r| r["outcome"] == "ok"),
            ran,
            "{tool} through the assistant: {by_chat:?}"
        );
    }
    // The base image set and reset in the browser went through the tool, and left nothing.
    let images = server.must("audit_list", json!({"tool": "base_images_set"})).await;
    assert_eq!(images["records"].as_array().unwrap().len(), 2, "{images}");
    let static_image = server.must("base_images_list", json!({})).await["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == "static")
        .cloned()
        .unwrap();
    assert_eq!(static_image["source"], "default", "{static_image}");
    // The app is gone, the chain is intact, and the calls were recorded as the dashboard's.
    let apps = server.must("app_list", json!({})).await;
    assert_eq!(apps["apps"].as_array().unwrap().len(), 0);
    let verdict = server.must("audit_verify", json!({})).await;
    assert!(verdict["first_broken_seq"].is_null(), "{verdict}");
    let records = server.must("audit_list", json!({"tool": "app_delete"})).await;
    let record = &records["records"][0];
    assert_eq!(record["adapter"], "dashboard", "{record}");
    assert_eq!(record["outcome"], "ok", "{record}");
    assert!(record["principal"].as_str().unwrap().starts_with("user:"), "{record}");
}
