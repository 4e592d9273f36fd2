//! The contract every tool keeps on every adapter, walked generically over the registry so
//! a new tool is covered without editing this file:
//! - without credentials it is refused (REST 401, MCP 401, CLI exit 3) and nothing is audited;
//! - invalid input (unknown field, wrong type, overlong or non-ASCII value) is a clear
//!   `invalid_input` (400 / `isError` / exit 2), never a 500 or a panic, and stores nothing;
//! - every dispatched call adds exactly one audit record naming the adapter and the tool.

mod common;

use rmcp::model::CallToolRequestParams;
use serde_json::{Map, Value, json};

use common::Server;
use sh0::registry::{HttpMethod, ToolDescriptor};

/// A value of the wrong JSON type for any property.
/// A value of a JSON type the property's schema does not accept.
fn wrong_type(schema: &Value) -> Value {
    let accepts: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    [
        ("object", json!({ "nested": [1, 2, 3] })),
        ("array", json!([1, 2, 3])),
        ("boolean", json!(true)),
    ]
    .into_iter()
    .find(|(t, _)| !accepts.contains(t))
    .map(|(_, v)| v)
    .unwrap_or(json!({ "nested": [1, 2, 3] }))
}

/// A value a required flag accepts: an enum's first value, else a plausible name.
fn plausible_value(schema: &Value) -> String {
    if schema["type"] == "integer" {
        return schema["minimum"].as_i64().unwrap_or(1).to_string();
    }
    schema
        .get("enum")
        .and_then(|e| e.get(0))
        .and_then(Value::as_str)
        .unwrap_or("web")
        .to_string()
}

/// A value that breaks the property's constraints while having the right type, for the CLI
/// (which can only pass strings).
fn bad_flag_value(schema: &Value) -> Option<String> {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"boolean") {
        return None;
    }
    if types.contains(&"integer") {
        return Some("0".into()).filter(|_| schema["minimum"].as_i64().unwrap_or(0) >= 1);
    }
    if schema.get("pattern").is_some() {
        return Some("名字".into());
    }
    schema["maxLength"].as_u64().map(|n| "x".repeat(n as usize + 1))
}

fn route_url(server: &Server, desc: &ToolDescriptor, query: &str) -> (reqwest::Method, String) {
    let route = desc.meta().http.expect("route");
    let mut path = route.path.to_string();
    for p in route.path_params() {
        path = path.replace(&format!("{{{p}}}"), "nothing-here");
    }
    let method = match route.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Patch => reqwest::Method::PATCH,
        HttpMethod::Delete => reqwest::Method::DELETE,
    };
    (method, format!("{}{path}{query}", server.url))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_keeps_the_contract_on_every_adapter() {
    let mut server = Server::start();
    // Act as the owner's own key (account tools need a user; the bootstrap key has none).
    let owner = common::accounts::setup_owner(&server, "owner@example.com").await;
    server.token = common::accounts::key_for(&server, &owner, "contract", "admin", None).await;
    let registry = sh0::tools::registry();
    let http = reqwest::Client::new();
    // A project and an app so that tools which look things up find something.
    server.seed_app("demo", "web").await;
    let projects_before = server.call("project_list", json!({})).await.1;

    let mcp = server
        .mcp_client_with(&server.token)
        .await
        .expect("MCP client connects with the key");

    for desc in registry.iter() {
        let name = desc.meta().name;

        // --- unauthenticated: refused everywhere, nothing audited ---
        let before = server.audit_count().await;
        let (method, url) = route_url(&server, desc, "");
        let r = http
            .request(method.clone(), &url)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{name}: REST route without a key");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["kind"], "unauthenticated", "{name}: envelope");
        let r = http
            .post(format!("{}/api/v1/tools/{name}", server.url))
            .bearer_auth("sh0_wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{name}: REST by name with a wrong key");
        let bad_mcp = server.mcp_client_with("sh0_wrong").await;
        assert!(bad_mcp.is_err(), "{name}: MCP with a wrong key must not connect");
        let [group, verb] = desc.cli();
        let mut cli = vec![group, verb];
        let required = desc.required_inputs();
        let filler: Vec<(String, String)> = desc
            .input_properties()
            .into_iter()
            .filter(|(p, _)| required.contains(p))
            .map(|(p, schema)| (format!("--{}", p.replace('_', "-")), plausible_value(schema)))
            .collect();
        for (flag, v) in &filler {
            cli.push(flag);
            cli.push(v);
        }
        let out = std::process::Command::new(common::BIN)
            .args(&cli)
            .env("SH0_API_URL", &server.url)
            .env("SH0_API_TOKEN", "sh0_wrong")
            .env("XDG_CONFIG_HOME", server.dir.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{name}: CLI with a wrong key: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            server.audit_count().await,
            before,
            "{name}: refused calls are not dispatched"
        );

        // --- invalid input: REST route (unknown field) ---
        let before = server.audit_count().await;
        let (method, url) = route_url(&server, desc, "?bogus_field=1");
        let req = http.request(method.clone(), &url).bearer_auth(&server.token);
        let req = if matches!(method, reqwest::Method::GET | reqwest::Method::DELETE) {
            req
        } else {
            req.json(&json!({"bogus_field": 1}))
        };
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 400, "{name}: unknown field over REST");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["kind"], "invalid_input");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("bogus_field"),
            "{name}: {body}"
        );
        assert_eq!(
            server.audit_count().await,
            before + 1,
            "{name}: one audit record per REST call"
        );
        let (adapter, tool, outcome, kind, _) = server.last_audit();
        assert_eq!(
            (adapter.as_str(), tool.as_str(), outcome.as_str()),
            ("rest", name, "error")
        );
        assert_eq!(kind.as_deref(), Some("invalid_input"));

        // --- invalid input: wrong types, by name over REST ---
        for (prop, schema) in desc.input_properties() {
            let mut args = Map::new();
            args.insert(prop.to_string(), wrong_type(schema));
            let (status, body) = server.call(name, Value::Object(args)).await;
            assert_eq!(status, 400, "{name}.{prop}: wrong type: {body}");
            assert!(
                body["error"]["message"].as_str().unwrap().contains(prop),
                "{name}.{prop}: names the field: {body}"
            );
        }
        let (status, _) = server.call(name, json!([1, 2])).await;
        assert_eq!(status, 400, "{name}: non-object arguments");

        // --- invalid input: MCP ---
        let before = server.audit_count().await;
        let mut args = Map::new();
        args.insert("bogus_field".into(), json!(1));
        let result = mcp
            .call_tool(CallToolRequestParams::new(name).with_arguments(args))
            .await
            .expect("tool result");
        assert_eq!(result.is_error, Some(true), "{name}: MCP unknown field");
        let text = serde_json::to_string(&result.content).unwrap();
        assert!(text.contains("invalid_input"), "{name}: {text}");
        assert_eq!(
            server.audit_count().await,
            before + 1,
            "{name}: one audit record per MCP call"
        );
        let (adapter, tool, _, _, _) = server.last_audit();
        assert_eq!((adapter.as_str(), tool.as_str()), ("mcp", name));

        // --- invalid input (or, for tools with nothing to get wrong, a valid call): CLI ---
        let before = server.audit_count().await;
        let mut argv: Vec<String> = desc.cli().iter().map(|s| s.to_string()).collect();
        let mut any_bad = false;
        for (prop, schema) in desc.input_properties() {
            let flag = format!("--{}", prop.replace('_', "-"));
            if let Some(v) = bad_flag_value(schema) {
                any_bad = true;
                argv.push(flag);
                argv.push(v);
            } else if required.contains(&prop) {
                argv.push(flag);
                argv.push(plausible_value(schema));
            }
        }
        argv.push("--json".into());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = server.cli(&argv);
        if any_bad {
            assert_eq!(code, 2, "{name}: CLI invalid input: {stdout} {stderr}");
            let v: Value = serde_json::from_str(&stdout).expect("--json prints the error envelope");
            assert_eq!(v["error"]["kind"], "invalid_input");
        } else {
            assert_eq!(code, 0, "{name}: CLI valid call: {stdout} {stderr}");
        }
        assert_eq!(
            server.audit_count().await,
            before + 1,
            "{name}: one audit record per CLI call"
        );
        let (adapter, tool, _, _, _) = server.last_audit();
        assert_eq!((adapter.as_str(), tool.as_str()), ("cli", name));
    }
    mcp.cancel().await.ok();

    // Nothing of all that was stored.
    assert_eq!(server.call("project_list", json!({})).await.1, projects_before);
    let apps = server.call("app_list", json!({})).await.1;
    assert_eq!(apps["apps"].as_array().unwrap().len(), 1, "{apps}");
    assert!(!server.log().contains("panicked"), "a panic in the server log");
}

#[tokio::test]
async fn names_and_values_are_validated_and_nothing_bad_is_stored() {
    let server = Server::start();
    assert_eq!(server.call("project_create", json!({"name": "demo"})).await.0, 200);
    let cases = [
        json!({"name": "Web", "project": "demo"}),
        json!({"name": "web_1", "project": "demo"}),
        json!({"name": "-web", "project": "demo"}),
        json!({"name": "wéb", "project": "demo"}),
        json!({"name": "应用", "project": "demo"}),
        json!({"name": "a".repeat(64), "project": "demo"}),
        json!({"name": "web", "project": "demo", "port": 0}),
        json!({"name": "web", "project": "demo", "port": 70000}),
        json!({"name": "web", "project": "demo", "port": "80"}),
        json!({"name": "web", "project": "demo", "description": "d".repeat(501)}),
        json!({"name": "web", "project": "demo", "image": "bad image"}),
        json!({"name": "web", "project": "demo", "extra": true}),
        json!({"name": "web"}),
    ];
    for args in cases {
        let (status, body) = server.call("app_create", args.clone()).await;
        assert_eq!(status, 400, "{args}: {body}");
        assert_eq!(body["error"]["kind"], "invalid_input");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, body) = server
        .call("app_create", json!({"name": "web", "project": "nope"}))
        .await;
    assert_eq!(
        (status, body["error"]["kind"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (_, apps) = server.call("app_list", json!({})).await;
    assert_eq!(apps["apps"], json!([]), "nothing stored");

    // Names are unique per server, across projects.
    assert_eq!(server.call("project_create", json!({"name": "other"})).await.0, 200);
    assert_eq!(
        server
            .call("app_create", json!({"name": "web", "project": "demo"}))
            .await
            .0,
        200
    );
    let (status, body) = server
        .call("app_create", json!({"name": "web", "project": "other"}))
        .await;
    assert_eq!(status, 409, "{body}");
    for bad_key in ["1ABC", "A-B", "A B", "ÄB", ""] {
        let (status, _) = server
            .call("env_set", json!({"app": "web", "key": bad_key, "value": "v"}))
            .await;
        assert_eq!(status, 400, "env key {bad_key:?}");
    }
    let (status, _) = server
        .call(
            "env_set",
            json!({"app": "web", "key": "BIG", "value": "v".repeat(70_000)}),
        )
        .await;
    assert_eq!(status, 400);
    let (_, env) = server.call("env_list", json!({"app": "web"})).await;
    assert_eq!(env["vars"], json!([]));
}

#[tokio::test]
async fn projects_apps_and_env_work_through_rest_routes() {
    let server = Server::start();
    let http = reqwest::Client::new();
    let auth = |r: reqwest::RequestBuilder| r.bearer_auth(&server.token);
    let r = auth(http.post(format!("{}/api/v1/projects", server.url)))
        .json(&json!({"name": "shop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = auth(http.post(format!("{}/api/v1/apps", server.url)))
        .json(&json!({"name": "api", "project": "shop", "port": 3000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let app: Value = r.json().await.unwrap();
    let id = app["id"].as_str().unwrap();
    let r = auth(http.patch(format!("{}/api/v1/apps/{id}", server.url)))
        .json(&json!({"port": 4000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["port"], 4000);
    let r = auth(http.put(format!("{}/api/v1/apps/api/env/TOKEN", server.url)))
        .json(&json!({"value": "t0ps3cret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let env: Value = auth(http.get(format!("{}/api/v1/apps/api/env", server.url)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(env["vars"][0]["value"], Value::Null);
    let env: Value = auth(http.get(format!("{}/api/v1/apps/api/env?reveal=true", server.url)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(env["vars"][0]["value"], "t0ps3cret");

    // A project with apps is not deleted without cascade, even when confirmed.
    let r = auth(http.delete(format!("{}/api/v1/projects/shop?confirm=shop", server.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    // A delete without the right confirmation changes nothing.
    let r = auth(http.delete(format!("{}/api/v1/projects/shop?cascade=true", server.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 428);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["confirm"], "shop");
    let r = auth(http.delete(format!("{}/api/v1/projects/shop?cascade=true&confirm=shap", server.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 428);
    assert_eq!(server.call("app_get", json!({"app": "api"})).await.0, 200);
    let r = auth(http.delete(format!("{}/api/v1/projects/shop?cascade=true&confirm=shop", server.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["deleted_apps"], json!(["api"]));
    assert_eq!(server.call("app_get", json!({"app": "api"})).await.0, 404);

    // Unknown routes and bad bodies answer in the envelope.
    let r = auth(http.get(format!("{}/api/v1/nothing", server.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["kind"], "not_found");
    let r = auth(http.post(format!("{}/api/v1/projects", server.url)))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["kind"], "invalid_input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_output_reaches_mcp_fenced_as_untrusted_data() {
    let server = Server::start();
    assert_eq!(server.call("project_create", json!({"name": "demo"})).await.0, 200);
    assert_eq!(
        server
            .call("app_create", json!({"name": "web", "project": "demo", "port": 80}))
            .await
            .0,
        200
    );
    // An image that exists nowhere: the deployment fails, but it has a log.
    let (status, dep) = server
        .call(
            "app_deploy",
            json!({"app": "web", "image": "sh0-test/does-not-exist:0"}),
        )
        .await;
    assert_eq!(status, 200, "{dep}");
    let id = dep["deployment_id"].as_str().unwrap().to_owned();
    server.wait_deployment(&id).await;
    let mcp = server.mcp_client_with(&server.token).await.unwrap();
    let args = json!({"deployment": id}).as_object().unwrap().clone();
    let r = mcp
        .call_tool(CallToolRequestParams::new("deployment_get").with_arguments(args))
        .await
        .unwrap();
    let text = serde_json::to_string(&r.content).unwrap();
    assert!(
        text.contains("untrusted data") && text.contains("<untrusted-data>"),
        "{text}"
    );
    assert!(r.structured_content.unwrap()["log"].as_array().unwrap().len() > 1);
    // Results without app output are not fenced.
    let r = mcp.call_tool(CallToolRequestParams::new("system_info")).await.unwrap();
    assert!(!serde_json::to_string(&r.content).unwrap().contains("untrusted"));
    mcp.cancel().await.ok();
}
