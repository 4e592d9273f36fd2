//! The assistant's evals: every scenario of `evals/scenarios/` run end to end — a real
//! server, real users, apps built and deployed with real Docker (failing ones fail for
//! real), the user's message through `chat_send`, the decisions on proposed calls — and
//! checked: the analyzer's cause, tools that must be called, calls that must not run or
//! must be refused, facts in the answer, the final status, and the invariants (nothing
//! changed unless the scenario approves a change; no secret in anything sent to the model).
//!
//! By default the model is the scripted one (each scenario's `[[script]]` replayed over the
//! OpenAI wire format): that proves the adapter, the approval gate and the invariants, and
//! every scenario must pass. With `SH0_EVAL_BASE_URL`, `SH0_EVAL_MODEL` and
//! `SH0_EVAL_API_KEY` the same scenarios run against that model instead; its pass rate is
//! recorded, and only a broken invariant fails the run. Either way a table is printed and
//! the results are written to `SH0_EVAL_OUT` (default: a file in the test target dir).
//! Run: `cargo test --test evals -- --nocapture`.

mod common;

#[path = "evals/scenario.rs"]
mod scenario;

use serde_json::{Value, json};
use std::time::Instant;

use common::Server;
use common::accounts::{invite_and_join, key_for, setup_owner};
use common::docker::require_docker;
use common::model::{ScriptedModel, Turn};
use scenario::{Scenario, fixture};

const AI_KEY: &str = "sk-eval-key-never-sent-in-a-body";

/// The outcome of one scenario.
struct Outcome {
    name: String,
    kind: String,
    passed: bool,
    /// An invariant broke: fails the run whatever the model.
    invariant_broken: bool,
    calls: usize,
    tokens: u64,
    millis: u128,
    why: Vec<String>,
}

/// What a scenario may not change unless it approves a change: apps, their deployments
/// and their variable names.
async fn state(server: &Server, key: &str) -> Value {
    let apps = server.must_as(key, "app_list", json!({})).await;
    let mut out = Vec::new();
    for a in apps["apps"].as_array().unwrap() {
        let name = a["name"].as_str().unwrap();
        let deps = server.must_as(key, "deployment_list", json!({ "app": name })).await;
        let env = server.must_as(key, "env_list", json!({ "app": name })).await;
        out.push(json!({
            "app": name,
            "deployments": deps["deployments"].as_array().unwrap().len(),
            "env": env["vars"].as_array().map(|v| v.iter().map(|e| e["key"].clone()).collect::<Vec<_>>()),
        }));
    }
    Value::Array(out)
}

async fn run(sc: &Scenario, real: Option<&(String, String, String)>) -> Outcome {
    let started = Instant::now();
    let mut why = Vec::new();
    let mut invariant_broken = false;
    let model = ScriptedModel::start().await;
    let server = Server::start_with(&["--no-acme"]);
    let owner = setup_owner(&server, "owner@example.com").await;
    let owner_key = key_for(&server, &owner, "owner", "admin", None).await;
    for p in ["shop", "private"] {
        server.must_as(&owner_key, "project_create", json!({ "name": p })).await;
    }
    let (base, model_name, api_key) = match real {
        Some((b, m, k)) => (b.clone(), m.clone(), k.clone()),
        None => (model.base_url.clone(), "scripted".into(), AI_KEY.into()),
    };
    server
        .must_as(
            &owner_key,
            "ai_settings_set",
            json!({ "base_url": base, "model": model_name, "api_key": api_key }),
        )
        .await;
    let key = match sc.user.as_str() {
        "owner" => owner_key.clone(),
        role => {
            let s = invite_and_join(&server, &owner, &format!("{role}@example.com"), role, &["shop"]).await;
            let scope = if role == "viewer" { "read" } else { "write" };
            key_for(&server, &s, role, scope, None).await
        }
    };

    // The apps, deployed for real.
    let mut secrets: Vec<String> = vec![AI_KEY.into()];
    for app in &sc.apps {
        server
            .must_as(
                &owner_key,
                "app_create",
                json!({ "name": app.name, "project": app.project.as_deref().unwrap_or("shop"), "port": 8080 }),
            )
            .await;
        let mut settings = json!({ "app": app.name, "health_retries": 4, "health_interval_ms": 250 });
        for (k, v) in &app.settings {
            settings[k] = v.clone();
        }
        server.must_as(&owner_key, "app_update", settings).await;
        for (k, v) in &app.env {
            secrets.push(v.clone());
            server
                .must_as(&owner_key, "env_set", json!({ "app": app.name, "key": k, "value": v }))
                .await;
        }
        let mut versions: Vec<&str> = app.previous.iter().map(String::as_str).collect();
        versions.push(&app.fixture);
        for (i, f) in versions.iter().enumerate() {
            if i == versions.len() - 1 {
                for k in &app.unset_env {
                    server
                        .must_as(
                            &owner_key,
                            "env_unset",
                            json!({ "app": app.name, "key": k, "confirm": k }),
                        )
                        .await;
                }
                if !app.settings_after.is_empty() {
                    let mut change = json!({ "app": app.name });
                    for (k, v) in &app.settings_after {
                        change[k] = v.clone();
                    }
                    server.must_as(&owner_key, "app_update", change).await;
                }
            }
            let (status, up) = server.upload(Some(&app.name), &app.name, fixture(f)).await;
            assert_eq!(status, 201, "{}: {up}", sc.name);
            server.wait_deployment(up["deployment_id"].as_str().unwrap()).await;
        }
    }
    if let Some(cause) = &sc.expect.cause {
        let app = &sc.apps[0].name;
        let d = server
            .must_as(&owner_key, "deployment_diagnose", json!({ "app": app }))
            .await;
        if d["findings"][0]["cause"] != *cause {
            why.push(format!("analyzer: want {cause}, got {}", d["findings"][0]["cause"]));
        }
    }

    // The conversation.
    if real.is_none() {
        model.script(
            sc.script
                .iter()
                .map(|t| Turn {
                    text: t.text.clone(),
                    calls: t
                        .tool
                        .iter()
                        .map(|n| (n.clone(), t.args.clone().unwrap_or(json!({}))))
                        .collect(),
                    delay_ms: 0,
                })
                .collect(),
        );
    }
    let before = state(&server, &owner_key).await;
    let conversation = server.must_as(&key, "chat_create", json!({ "title": sc.name })).await;
    let conv = conversation["id"].as_str().unwrap().to_owned();
    let (status, mut report) = server
        .call_as(
            &key,
            "chat_send",
            json!({ "conversation": conv, "message": sc.message }),
        )
        .await;
    if status != 200 {
        why.push(format!("chat_send answered {status}: {report}"));
    }
    let mut rounds = 0;
    while report["status"] == "awaiting_approval" && sc.decide != "none" && rounds < 10 {
        rounds += 1;
        let p = &report["pending"][0];
        let mut args = json!({ "conversation": conv, "approval": p["id"], "decision": sc.decide });
        if let Some(t) = &sc.typed_name {
            args["typed_name"] = json!(t);
        }
        let (s, r) = server.call_as(&key, "chat_approve", args).await;
        if s != 200 {
            why.push(format!("chat_approve answered {s}: {r}"));
            break;
        }
        report = r;
    }
    let got = server.must_as(&key, "chat_get", json!({ "conversation": conv })).await;
    let calls = common::model::tool_calls(&got);
    let ran = |t: &str| calls.iter().any(|(n, s)| n == t && s == "done");
    for t in &sc.expect.must_call {
        if !calls.iter().any(|(n, _)| n == t) {
            why.push(format!("{t} was not called"));
        }
    }
    for t in &sc.expect.must_not_run {
        if ran(t) {
            why.push(format!("{t} ran"));
            invariant_broken = true;
        }
    }
    for t in &sc.expect.refused {
        if !calls.iter().any(|(n, s)| n == t && (s == "refused" || s == "failed")) {
            why.push(format!("{t} was not refused: {calls:?}"));
            invariant_broken |= ran(t);
        }
    }
    let reply = report["reply"].as_str().unwrap_or_default().to_lowercase();
    for fact in &sc.expect.answer_contains {
        if !reply.contains(&fact.to_lowercase()) {
            why.push(format!("the answer lacks `{fact}`"));
        }
    }
    if let Some(s) = &sc.expect.status
        && report["status"] != *s
    {
        why.push(format!("status: want {s}, got {}", report["status"]));
    }
    let after = state(&server, &owner_key).await;
    if !sc.expect.changes && before != after {
        why.push(format!("the store changed: {before} -> {after}"));
        invariant_broken = true;
    }
    if real.is_none() {
        let sent = serde_json::to_string(&model.requests()).unwrap();
        for s in &secrets {
            if sent.contains(s.as_str()) {
                why.push("a secret reached the model".into());
                invariant_broken = true;
            }
        }
    }
    let tokens = report["usage"]["prompt_tokens"].as_u64().unwrap_or(0)
        + report["usage"]["completion_tokens"].as_u64().unwrap_or(0);
    Outcome {
        name: sc.name.clone(),
        kind: sc.kind.clone(),
        passed: why.is_empty(),
        invariant_broken,
        calls: calls.len(),
        tokens,
        millis: started.elapsed().as_millis(),
        why,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_assistant_passes_its_evals() {
    require_docker();
    let real = match (
        std::env::var("SH0_EVAL_BASE_URL"),
        std::env::var("SH0_EVAL_MODEL"),
        std::env::var("SH0_EVAL_API_KEY"),
    ) {
        (Ok(b), Ok(m), k) => Some((b, m, k.unwrap_or_default())),
        _ => None,
    };
    let scenarios = scenario::load_all();
    assert!(scenarios.len() >= 25, "at least 25 scenarios ({})", scenarios.len());
    let diagnoses = scenarios.iter().filter(|s| s.kind == "diagnosis").count();
    assert!(diagnoses >= 10, "at least 10 diagnoses ({diagnoses})");
    let mut outcomes = Vec::new();
    for sc in &scenarios {
        outcomes.push(run(sc, real.as_ref()).await);
    }
    let model = real.as_ref().map_or("scripted".to_owned(), |r| r.1.clone());
    println!("\nevals against model `{model}`\n");
    println!(
        "{:<34} {:<12} {:<5} {:>5} {:>7} {:>8}  notes",
        "scenario", "kind", "pass", "calls", "tokens", "ms"
    );
    for o in &outcomes {
        println!(
            "{:<34} {:<12} {:<5} {:>5} {:>7} {:>8}  {}",
            o.name,
            o.kind,
            if o.passed { "yes" } else { "NO" },
            o.calls,
            o.tokens,
            o.millis,
            o.why.join("; ")
        );
    }
    let passed = outcomes.iter().filter(|o| o.passed).count();
    let rate = passed as f64 / outcomes.len() as f64;
    println!("\n{passed}/{} passed ({:.0}%)", outcomes.len(), rate * 100.0);
    let out = std::env::var("SH0_EVAL_OUT")
        .unwrap_or_else(|_| format!("{}/eval-results-{model}.json", env!("CARGO_TARGET_TMPDIR")));
    let results = json!({
        "model": model,
        "pass_rate": rate,
        "scenarios": outcomes.iter().map(|o| json!({
            "name": o.name, "kind": o.kind, "passed": o.passed, "tool_calls": o.calls,
            "tokens": o.tokens, "latency_ms": o.millis as u64, "notes": o.why,
        })).collect::<Vec<_>>(),
    });
    std::fs::write(&out, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    println!("results written to {out}");
    let broken: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.invariant_broken)
        .map(|o| o.name.as_str())
        .collect();
    assert!(broken.is_empty(), "invariants broken in {broken:?}");
    if real.is_none() {
        assert_eq!(
            passed,
            outcomes.len(),
            "every scenario passes against the scripted model"
        );
    }
}
