//! The access matrix, generated from the tool catalog: every tool x every role x {REST, MCP,
//! CLI}. A call is allowed exactly when the tool's declared permission (least role, least
//! key scope) and target say so; a caller outside the project a resource lives in gets the
//! very answer a missing resource gets. Adding a tool adds its rows without editing this.

mod common;

use rmcp::model::CallToolRequestParams;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

use common::Server;
use common::accounts::{Session, invite_and_join, key_for, setup_owner};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Forbidden,
    /// Answered exactly like a resource that does not exist.
    Hidden,
    /// A server error: never what any caller should get.
    Broken,
}

struct Caller {
    label: &'static str,
    key: String,
    role: u8,
    scope: u8,
    reaches_a: bool,
    limited: bool,
}

fn rank(role: &str) -> u8 {
    match role {
        "viewer" | "read" => 0,
        "developer" | "write" => 1,
        "admin" => 2,
        "owner" => 3,
        other => panic!("unknown role or scope {other}"),
    }
}

struct Fixtures {
    deployment: String,
    /// The job that ran the deployment.
    job: String,
    key_id: String,
    backup: String,
}

/// A valid value for a property: the fixtures in project `proj-a` for the resource
/// properties, else something that fits the schema.
fn value_for(prop: &str, schema: &Value, fx: &Fixtures, tool: &str) -> Value {
    let pattern = schema["pattern"].as_str().unwrap_or("");
    match prop {
        "project" => return json!("proj-a"),
        "app" => return json!("alpha"),
        "deployment" => return json!(fx.deployment),
        "domain" => return json!("alpha.example.invalid"),
        "database" => return json!("dbalpha"),
        "cron" => return json!("0 3 * * *"),
        "url" => return json!("https://git.example.invalid/acme/alpha.git"),
        "key" if tool.starts_with("env_") => return json!("K1"),
        "key" => return json!(fx.key_id),
        "email" | "user" => return json!("nobody@example.com"),
        "code" => return json!("123456"),
        _ => {}
    }
    if let Some(first) = schema["enum"].get(0) {
        return first.clone();
    }
    if prop == "backup" {
        return json!(fx.backup);
    }
    for prefix in ["ses_", "upl_", "usr_", "key_", "dep_", "crt_"] {
        if pattern.starts_with(&format!("^{prefix}")) {
            return json!(format!("{prefix}{}", "0".repeat(32)));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"boolean") {
        json!(false)
    } else if types.contains(&"integer") {
        json!(schema["minimum"].as_i64().unwrap_or(1).max(1))
    } else {
        json!("matrix")
    }
}

/// Required properties, plus the target property (so listings are checked for one project).
fn args_for(entry: &Value, fx: &Fixtures) -> Map<String, Value> {
    let name = entry["name"].as_str().unwrap();
    let schema = &entry["input_schema"];
    let mut wanted: Vec<String> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if let Some(f) = entry["target"]["field"].as_str()
        && !wanted.iter().any(|w| w == f)
    {
        wanted.push(f.to_owned());
    }
    wanted
        .into_iter()
        .filter(|p| p != "confirm")
        .map(|p| {
            let v = value_for(&p, &schema["properties"][&p], fx, name);
            (p, v)
        })
        .collect()
}

fn expected(entry: &Value, c: &Caller) -> Outcome {
    if c.role < rank(entry["min_role"].as_str().unwrap()) || c.scope < rank(entry["min_scope"].as_str().unwrap()) {
        return Outcome::Forbidden;
    }
    if c.limited && entry["permission"].as_str().unwrap().starts_with("jobs_") {
        // Schedules and jobs are the user's across projects.
        return Outcome::Forbidden;
    }
    match entry["target"]["kind"].as_str().unwrap() {
        "server" if c.limited && entry["safety"] != "read" => Outcome::Forbidden,
        // Server-wide views for administrators or about credentials would show other projects.
        "server"
            if c.limited
                && (rank(entry["min_role"].as_str().unwrap()) >= rank("admin") || entry["min_scope"] == "admin") =>
        {
            Outcome::Forbidden
        }
        "resource" if !c.reaches_a => Outcome::Hidden,
        _ => Outcome::Allowed,
    }
}

/// The message dispatch gives for a missing resource (and for one outside your projects).
fn hidden_message(entry: &Value, args: &Map<String, Value>) -> String {
    let field = entry["target"]["field"].as_str().unwrap();
    let kind = entry["target"]["resource"].as_str().unwrap();
    format!("{kind} `{}` not found", args[field].as_str().unwrap())
}

fn classify(kind: &str, message: &str, hidden: Option<&str>) -> Outcome {
    match kind {
        "forbidden" => Outcome::Forbidden,
        "internal" => Outcome::Broken,
        "not_found" if Some(message) == hidden => Outcome::Hidden,
        _ => Outcome::Allowed,
    }
}

async fn via_rest(
    server: &Server,
    key: &str,
    tool: &str,
    args: &Map<String, Value>,
    hidden: Option<&str>,
) -> (Outcome, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/tools/{tool}", server.url))
        .bearer_auth(key)
        .json(args)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status < 300 {
        return (Outcome::Allowed, body);
    }
    let e = &body["error"];
    (
        classify(
            e["kind"].as_str().unwrap_or(""),
            e["message"].as_str().unwrap_or(""),
            hidden,
        ),
        body,
    )
}

fn via_cli(
    server: &Server,
    key: &str,
    entry: &Value,
    args: &Map<String, Value>,
    hidden: Option<&str>,
) -> (Outcome, String) {
    let mut argv: Vec<String> = entry["cli"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    for (k, v) in args {
        let flag = format!("--{}", k.replace('_', "-"));
        match v {
            Value::Bool(true) => argv.push(flag),
            Value::Bool(false) => {}
            Value::String(s) => argv.extend([flag, s.clone()]),
            other => argv.extend([flag, other.to_string()]),
        }
    }
    let out = std::process::Command::new(common::BIN)
        .args(&argv)
        .env("SH0_API_URL", &server.url)
        .env("SH0_API_TOKEN", key)
        .env("HOME", server.dir.path())
        .env("XDG_CONFIG_HOME", server.dir.path().join("config"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let outcome = match out.status.code() {
        Some(4) => Outcome::Forbidden,
        Some(5) if hidden.is_some_and(|h| stderr.contains(h)) => Outcome::Hidden,
        // Exit 1: an internal error (or the CLI itself failed).
        Some(1) | None => Outcome::Broken,
        _ => Outcome::Allowed,
    };
    (outcome, format!("{argv:?} exit {:?}: {stderr}", out.status.code()))
}

/// Two projects, an app with a variable, a domain and a deployment in `proj-a`, and the
/// callers: five users' keys, an owner's read-scoped key and two project-limited keys.
/// A server whose database engines run the local test images (the world has a database).
fn matrix_server() -> Server {
    common::databases::require_db_images();
    let mut flags = vec!["--no-acme"];
    flags.extend_from_slice(common::databases::DB_IMAGE_FLAGS);
    Server::start_with(&flags)
}

async fn world(server: &Server) -> (Vec<Caller>, Fixtures) {
    let owner = setup_owner(server, "owner@example.com").await;
    for p in ["proj-a", "proj-b"] {
        let (s, b) = owner.call(server, "project_create", json!({"name": p}), true).await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, b) = owner
        .call(
            server,
            "app_create",
            json!({"name": "alpha", "project": "proj-a"}),
            true,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = owner
        .call(
            server,
            "env_set",
            json!({"app": "alpha", "key": "K1", "value": "v"}),
            true,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = owner
        .call(
            server,
            "domain_add",
            json!({"app": "alpha", "domain": "alpha.example.invalid"}),
            true,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // A database and a backup of it, for the database and backup tools.
    let (s, b) = owner
        .call(
            server,
            "database_create",
            json!({"name": "dbalpha", "project": "proj-a", "engine": "postgres"}),
            true,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, backup) = owner
        .call(
            server,
            "backup_create",
            json!({"database": "dbalpha", "wait": true}),
            true,
        )
        .await;
    assert_eq!(s, 200, "{backup}");
    // A deployment row (whether Docker runs it or not does not matter here).
    let (s, dep) = owner
        .call(
            server,
            "app_deploy",
            json!({"app": "alpha", "image": "sh0-test/absent:1"}),
            true,
        )
        .await;
    assert!(s < 300, "{dep}");

    let admin = invite_and_join(server, &owner, "admin@example.com", "admin", &[]).await;
    let dev_a = invite_and_join(server, &owner, "dev-a@example.com", "developer", &["proj-a"]).await;
    let viewer_a = invite_and_join(server, &owner, "viewer-a@example.com", "viewer", &["proj-a"]).await;
    let dev_b = invite_and_join(server, &owner, "dev-b@example.com", "developer", &["proj-b"]).await;
    let owner_read = key_for(server, &owner, "owner read", "read", None).await;
    let (status, keys) = owner.call(server, "key_list", json!({}), false).await;
    assert_eq!(status, 200, "{keys}");
    let key_id = keys["keys"][0]["id"].as_str().expect("a key").to_owned();
    let deployment = dep["deployment_id"].as_str().expect("a deployment").to_owned();
    let (_, got) = owner
        .call(server, "deployment_get", json!({"deployment": deployment}), false)
        .await;
    let fx = Fixtures {
        job: got["deployment"]["job"]
            .as_str()
            .expect("the deployment's job")
            .to_owned(),
        deployment,
        key_id,
        backup: backup["id"].as_str().expect("a backup").to_owned(),
    };
    let sessions: [(&'static str, &Session, &str, bool); 5] = [
        ("owner", &owner, "owner", true),
        ("admin", &admin, "admin", true),
        ("developer of proj-a", &dev_a, "developer", true),
        ("viewer of proj-a", &viewer_a, "viewer", true),
        ("developer of proj-b", &dev_b, "developer", false),
    ];
    let mut callers = Vec::new();
    for (label, session, role, reaches_a) in sessions {
        callers.push(Caller {
            label,
            key: key_for(server, session, label, "admin", None).await,
            role: rank(role),
            scope: rank("admin"),
            reaches_a,
            limited: false,
        });
    }
    callers.push(Caller {
        label: "owner, read-scoped key",
        key: owner_read,
        role: rank("owner"),
        scope: rank("read"),
        reaches_a: true,
        limited: false,
    });
    callers.push(Caller {
        label: "developer of proj-a, key limited to proj-a",
        key: key_for(server, &dev_a, "limited", "write", Some("proj-a")).await,
        role: rank("developer"),
        scope: rank("write"),
        reaches_a: true,
        limited: true,
    });
    callers.push(Caller {
        label: "admin, key limited to proj-b",
        key: key_for(server, &admin, "limited b", "admin", Some("proj-b")).await,
        role: rank("admin"),
        scope: rank("admin"),
        reaches_a: false,
        limited: true,
    });

    (callers, fx)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_tool_every_role_every_adapter() {
    let server = matrix_server();
    let (callers, fx) = world(&server).await;
    let catalog: Value = serde_json::from_str(&std::fs::read_to_string("tools/catalog.json").unwrap()).unwrap();
    let tools = catalog["tools"].as_array().unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for c in &callers {
        let mcp = server.mcp_client_with(&c.key).await.expect("MCP client");
        // MCP lists exactly the tools the role and scope allow.
        let listed: BTreeSet<String> = mcp
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        let visible: BTreeSet<String> = tools
            .iter()
            .filter(|t| {
                c.role >= rank(t["min_role"].as_str().unwrap()) && c.scope >= rank(t["min_scope"].as_str().unwrap())
            })
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        if listed != visible {
            failures.push(format!("{}: MCP tools/list {listed:?} != {visible:?}", c.label));
        }
        for entry in tools {
            let name = entry["name"].as_str().unwrap();
            let args = args_for(entry, &fx);
            let want = expected(entry, c);
            let hidden = (entry["target"]["kind"] == "resource").then(|| hidden_message(entry, &args));

            let (got, body) = via_rest(&server, &c.key, name, &args, hidden.as_deref()).await;
            if got != want {
                failures.push(format!(
                    "REST {name} as {}: want {want:?}, got {got:?}: {body}",
                    c.label
                ));
            }
            // Whatever a caller outside proj-a may call — listings, server-wide reads,
            // its own account — shows nothing of proj-a: no project, app, domain or
            // deployment of it, and no count that includes them.
            if !c.reaches_a && got == Outcome::Allowed {
                let text = body.to_string();
                for secret in ["proj-a", "\"alpha\"", "alpha.example.invalid", fx.deployment.as_str()] {
                    if text.contains(secret) {
                        failures.push(format!("REST {name} as {}: shows {secret} of proj-a: {text}", c.label));
                    }
                }
                if name == "system_info" && body["apps"].as_u64().is_some_and(|n| n > 0) {
                    failures.push(format!("system_info as {}: counts proj-a's app: {text}", c.label));
                }
            }
            if want == Outcome::Hidden {
                // Not even the body differs from a resource that does not exist.
                let field = entry["target"]["field"].as_str().unwrap();
                let mut ghost = args.clone();
                let missing = match entry["target"]["resource"].as_str().unwrap() {
                    "deployment" => format!("dep_{}", "f".repeat(32)),
                    "backup" => format!("bkp_{}", "f".repeat(32)),
                    "domain" => "ghost.example.invalid".to_owned(),
                    _ => "ghost".to_owned(),
                };
                ghost.insert(field.to_owned(), json!(missing));
                let (_, ghost_body) = via_rest(&server, &owner_key(&callers), name, &ghost, None).await;
                let expected_body = ghost_body.to_string().replace(&missing, args[field].as_str().unwrap());
                if body != serde_json::from_str::<Value>(&expected_body).unwrap() {
                    failures.push(format!(
                        "REST {name} as {}: {body} differs from a missing resource's {expected_body}",
                        c.label
                    ));
                }
            }

            let result = mcp
                .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args.clone()))
                .await
                .expect("MCP call");
            let text = result
                .content
                .first()
                .and_then(|c| c.as_text())
                .map(|t| t.text.clone())
                .unwrap_or_default();
            let got = if result.is_error == Some(true) {
                let (kind, message) = text.split_once(": ").unwrap_or(("internal", &text));
                classify(kind, message, hidden.as_deref())
            } else {
                Outcome::Allowed
            };
            if got != want {
                failures.push(format!("MCP {name} as {}: want {want:?}, got {got:?}: {text}", c.label));
            }

            let (got, detail) = via_cli(&server, &c.key, entry, &args, hidden.as_deref());
            if got != want {
                failures.push(format!(
                    "CLI {name} as {}: want {want:?}, got {got:?}: {detail}",
                    c.label
                ));
            }
            checked += 3;
        }
        mcp.cancel().await.unwrap();
    }
    println!(
        "{checked} calls checked ({} tools x {} callers x 3 adapters)",
        tools.len(),
        callers.len()
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The owner's unlimited admin key (the first caller).
fn owner_key(callers: &[Caller]) -> String {
    callers[0].key.clone()
}

/// The audit records written after `seq`, read from the store directly (reading through a
/// tool would add records of its own).
fn audit_after(server: &Server, seq: i64) -> Vec<(i64, String, String)> {
    let conn = rusqlite::Connection::open(server.data_dir().join("sh0.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT seq, tool, outcome FROM audit WHERE seq > ?1 ORDER BY seq")
        .unwrap();
    stmt.query_map([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn last_seq(server: &Server) -> i64 {
    let conn = rusqlite::Connection::open(server.data_dir().join("sh0.db")).unwrap();
    conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |r| r.get(0))
        .unwrap()
}

/// What an HTTP answer means for the access check.
fn outcome_of(status: u16, body: &Value, hidden: Option<&str>) -> Outcome {
    if status < 300 {
        return Outcome::Allowed;
    }
    let e = &body["error"];
    classify(
        e["kind"].as_str().unwrap_or("internal"),
        e["message"].as_str().unwrap_or(""),
        hidden,
    )
}

/// Opens a log stream as `key`: its outcome and the body of a refusal.
async fn open_stream(server: &Server, key: &str, path: &str, hidden: Option<&str>) -> (Outcome, String) {
    use tokio_tungstenite::tungstenite::{Error, client::IntoClientRequest};
    let url = format!("{}{path}?offset=0", server.url.replacen("http", "ws", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((mut ws, resp)) => {
            let _ = ws.close(None).await;
            (Outcome::Allowed, format!("upgraded: {}", resp.status()))
        }
        Err(Error::Http(resp)) => {
            let body = resp.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
            let body = body.unwrap_or_default();
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            (outcome_of(resp.status().as_u16(), &v, hidden), body)
        }
        Err(e) => (Outcome::Broken, e.to_string()),
    }
}

/// Every endpoint beside the tool calls — the log streams and uploads the catalog lists
/// with the tool that admits them, and the account flows of the OpenAPI document — walked
/// by every caller of the matrix. A stream or an upload is allowed exactly when its tool
/// would be (permission, key limit, project access, hidden like a missing resource), and
/// every request, allowed or not, leaves an audit record; no account flow answers 5xx.
#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_beside_tools_every_caller() {
    let server = matrix_server();
    let (callers, fx) = world(&server).await;
    let args = json!({"app": "alpha", "name": "walk"});
    let (_, hook) = via_rest(
        &server,
        &owner_key(&callers),
        "hook_create",
        args.as_object().unwrap(),
        None,
    )
    .await;
    let hook_id = hook["hook"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{hook}"))
        .to_owned();
    let catalog: Value = serde_json::from_str(&std::fs::read_to_string("tools/catalog.json").unwrap()).unwrap();
    let openapi: Value = serde_json::from_str(&std::fs::read_to_string("tools/openapi.json").unwrap()).unwrap();
    let http = reqwest::Client::new();
    let mut failures = Vec::new();
    let mut walked = BTreeSet::new();
    let mut checked = 0;
    for c in &callers {
        for entry in catalog["tools"].as_array().unwrap() {
            let name = entry["name"].as_str().unwrap();
            for t in entry["transports"].as_array().into_iter().flatten() {
                let template = t["path"].as_str().unwrap();
                walked.insert(template.to_owned());
                let before = last_seq(&server);
                let (got, want, detail, audited_as) = match t["kind"].as_str().unwrap() {
                    "log_stream" => {
                        let path = template
                            .replace("{deployment}", &fx.deployment)
                            .replace("{job}", &fx.job);
                        let mut args = Map::new();
                        if template.contains("{deployment}") {
                            args.insert("deployment".into(), json!(fx.deployment));
                        }
                        let hidden = (entry["target"]["kind"] == "resource").then(|| hidden_message(entry, &args));
                        let (got, detail) = open_stream(&server, &c.key, &path, hidden.as_deref()).await;
                        (got, expected(entry, c), detail, name)
                    }
                    "upload" => {
                        let names_app = entry["target"]["field"] == "app";
                        let (path, with_app) = if template == "/api/v1/uploads" {
                            let app = if names_app { "&app=alpha" } else { "" };
                            (format!("{template}?for={name}{app}"), names_app)
                        } else {
                            (template.replace("{app}", "alpha"), template.contains("{app}"))
                        };
                        let mut args = Map::new();
                        if with_app {
                            args.insert("app".into(), json!("alpha"));
                        }
                        // The archive itself is left out: admission is what is checked,
                        // and nothing is deployed or created by the walk.
                        let form = reqwest::multipart::Form::new().text("name", "walk");
                        let resp = http
                            .post(format!("{}{path}", server.url))
                            .bearer_auth(&c.key)
                            .multipart(form)
                            .send()
                            .await
                            .unwrap();
                        let status = resp.status().as_u16();
                        let body: Value = resp.json().await.unwrap_or(Value::Null);
                        let hidden =
                            (with_app && entry["target"]["kind"] == "resource").then(|| hidden_message(entry, &args));
                        let mut scope = entry.clone();
                        if !with_app && entry["target"]["kind"] == "resource" {
                            // No resource named: the tool's project check has nothing to refuse.
                            scope["target"] = json!({"kind": "listing"});
                        }
                        let got = outcome_of(status, &body, hidden.as_deref());
                        (got, expected(&scope, c), format!("{status} {body}"), "upload")
                    }
                    "hook" => {
                        // A hook's delivery takes the hook's token, never a key: every caller
                        // of the matrix is refused, and the refusal is audited.
                        let path = template.replace("{hook}", &hook_id);
                        let resp = http
                            .post(format!("{}{path}", server.url))
                            .bearer_auth(&c.key)
                            .send()
                            .await
                            .unwrap();
                        let status = resp.status().as_u16();
                        let body: Value = resp.json().await.unwrap_or(Value::Null);
                        let got = if status == 401 {
                            Outcome::Forbidden
                        } else {
                            outcome_of(status, &body, None)
                        };
                        (got, Outcome::Forbidden, format!("{status} {body}"), name)
                    }
                    // A forge's delivery takes the webhook's signature, never a key: every
                    // caller is refused (as an unknown webhook would be), and audited.
                    "webhook" => {
                        let path = template.replace("{app}", "alpha");
                        let resp = http
                            .post(format!("{}{path}", server.url))
                            .bearer_auth(&c.key)
                            .header("x-github-event", "push")
                            .body("{}")
                            .send()
                            .await
                            .unwrap();
                        let status = resp.status().as_u16();
                        let got = if status == 401 {
                            Outcome::Forbidden
                        } else {
                            Outcome::Allowed
                        };
                        (got, Outcome::Forbidden, format!("{status}"), name)
                    }
                    // `git push`: admitted as the tool (the ref advertisement is the walk;
                    // nothing is pushed), with git's plain-text errors.
                    "git_push" => {
                        let path = template
                            .replace("{app}", "alpha.git")
                            .replace("git-receive-pack", "info/refs");
                        let resp = http
                            .get(format!("{}{path}?service=git-receive-pack", server.url))
                            .basic_auth("walk", Some(&c.key))
                            .send()
                            .await
                            .unwrap();
                        let status = resp.status().as_u16();
                        let text = resp.text().await.unwrap_or_default();
                        let mut args = Map::new();
                        args.insert("app".into(), json!("alpha"));
                        let hidden = format!("sh0: {}", hidden_message(entry, &args));
                        let got = match status {
                            s if s < 300 => Outcome::Allowed,
                            403 => Outcome::Forbidden,
                            404 if text.trim() == hidden => Outcome::Hidden,
                            _ => Outcome::Broken,
                        };
                        (got, expected(entry, c), format!("{status} {text}"), "git_push")
                    }
                    // The tool's own route, streaming on request: its access is the tool's,
                    // checked by the tool matrix; the stream itself by tests/chat.rs.
                    "event_stream" => {
                        assert!(
                            entry["http"]["path"] == template,
                            "{name}: an event stream is its tool's route"
                        );
                        continue;
                    }
                    other => panic!("unknown transport {other}"),
                };
                checked += 1;
                if got != want {
                    failures.push(format!(
                        "{template} ({name}) as {}: want {want:?}, got {got:?}: {detail}",
                        c.label
                    ));
                }
                let records = audit_after(&server, before);
                if !records.iter().any(|(_, tool, _)| tool == audited_as) {
                    failures.push(format!(
                        "{template} ({name}) as {}: no audit record for `{audited_as}`: {records:?}",
                        c.label
                    ));
                }
            }
        }
        for (path, item) in openapi["paths"].as_object().unwrap() {
            if !path.starts_with("/api/v1/auth/") {
                continue;
            }
            for method in item.as_object().unwrap().keys() {
                walked.insert(path.clone());
                let before = last_seq(&server);
                let req = match method.as_str() {
                    "get" => http.get(format!("{}{path}", server.url)),
                    "post" => http.post(format!("{}{path}", server.url)).json(&json!({})),
                    other => panic!("account flow {path} has method {other}"),
                };
                let resp = req.bearer_auth(&c.key).send().await.unwrap();
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                checked += 1;
                if status >= 500 {
                    failures.push(format!("{method} {path} as {}: {status} {body}", c.label));
                }
                if path == "/api/v1/auth/me" && status != 200 {
                    failures.push(format!(
                        "{path} as {}: a valid key may see who it is: {status} {body}",
                        c.label
                    ));
                }
                if audit_after(&server, before).is_empty() {
                    failures.push(format!(
                        "{method} {path} as {}: left no audit record ({status})",
                        c.label
                    ));
                }
            }
        }
    }
    println!("{checked} requests to {} endpoints checked: {walked:?}", walked.len());
    for must in [
        "/api/v1/uploads",
        "/api/v1/deployments/{deployment}/logs/ws",
        "/api/v1/jobs/{job}/logs/ws",
        "/api/v1/auth/login",
    ] {
        assert!(walked.contains(must), "{must} was not walked: {walked:?}");
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
