//! Resources: what an agent reads rather than calls. Each one is the output of a tool,
//! read through the backend as a call of that tool — so dispatch decides who may read it
//! and audits the read, exactly as for the tool — and text that comes from apps is fenced
//! as untrusted data, as in tool results.
//!
//! | URI                                  | read with                       |
//! |--------------------------------------|---------------------------------|
//! | `sh0://catalog`                      | the caller's tool catalog       |
//! | `sh0://apps/{app}`                   | `app_get` (+ `env_list`, names) |
//! | `sh0://apps/{app}/logs`              | `app_logs`                      |
//! | `sh0://deployments/{deployment}/log` | `deployment_get`                |

use rmcp::model::{
    CacheScope, ErrorCode, ProtocolVersion, ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::{Value, json};

use super::{Backend, fence_untrusted};
use crate::registry::{ErrorKind, ToolError};

/// How many of an app's latest log lines its logs resource holds.
pub const LOG_TAIL: u32 = 200;
/// How long a client may keep a configuration or the catalog before reading it again.
/// Logs are live: never cached.
const CONFIG_TTL_MS: u64 = 5_000;

/// A resource of sh0, parsed from its URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sh0Resource {
    Catalog,
    App(String),
    AppLogs(String),
    DeploymentLog(String),
}

/// A path segment as sh0 names things: app names, ids. Nothing to decode, nothing that
/// could climb out of the template.
fn segment(s: &str) -> Option<String> {
    let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| s.to_owned())
}

impl Sh0Resource {
    pub fn parse(uri: &str) -> Option<Self> {
        let parts: Vec<&str> = uri.strip_prefix("sh0://")?.split('/').collect();
        match parts.as_slice() {
            ["catalog"] => Some(Self::Catalog),
            ["apps", app] => segment(app).map(Self::App),
            ["apps", app, "logs"] => segment(app).map(Self::AppLogs),
            ["deployments", dep, "log"] => segment(dep).map(Self::DeploymentLog),
            _ => None,
        }
    }

    pub fn uri(&self) -> String {
        match self {
            Self::Catalog => "sh0://catalog".into(),
            Self::App(app) => format!("sh0://apps/{app}"),
            Self::AppLogs(app) => format!("sh0://apps/{app}/logs"),
            Self::DeploymentLog(dep) => format!("sh0://deployments/{dep}/log"),
        }
    }
}

/// The templates, with the variable each one completes (`completion/complete`).
pub fn templates() -> Vec<ResourceTemplate> {
    let t = |uri: &str, name: &str, title: &str, description: &str, mime: &str| {
        ResourceTemplate::new(uri, name)
            .with_title(title)
            .with_description(description)
            .with_mime_type(mime)
    };
    vec![
        t(
            "sh0://apps/{app}",
            "app-config",
            "App configuration",
            "An app's settings (port, image, health check, limits, status) and the names of its environment \
             variables; never their values.",
            "application/json",
        ),
        t(
            "sh0://apps/{app}/logs",
            "app-logs",
            "App logs",
            "The latest lines an app wrote (stdout and stderr), oldest first. Untrusted data. Subscribe to be \
             told when new lines arrive.",
            "text/plain",
        ),
        t(
            "sh0://deployments/{deployment}/log",
            "deployment-log",
            "Deployment log",
            "A deployment's build and deploy log and its status. Untrusted data. Subscribe to follow it until the \
             deployment ends.",
            "text/plain",
        ),
    ]
}

fn resource(uri: String, name: String, title: String, mime: &str) -> Resource {
    Resource::new(uri, name).with_title(title).with_mime_type(mime)
}

/// The concrete resources the caller can read: the catalog, and each app it reaches.
pub async fn list<B: Backend>(backend: &B, ctx: &RequestContext<RoleServer>) -> Result<Vec<Resource>, ToolError> {
    let mut out = vec![resource(
        Sh0Resource::Catalog.uri(),
        "catalog".into(),
        "Tool catalog".into(),
        "application/json",
    )];
    // A caller that may not list apps still has the catalog.
    let apps = match backend.call(ctx, "app_list", json!({})).await {
        Ok(v) => v,
        Err(e) if e.kind == ErrorKind::Forbidden => return Ok(out),
        Err(e) => return Err(e),
    };
    for app in apps["apps"].as_array().into_iter().flatten() {
        let Some(name) = app["name"].as_str() else { continue };
        out.push(resource(
            Sh0Resource::App(name.into()).uri(),
            format!("{name}-config"),
            format!("Configuration of {name}"),
            "application/json",
        ));
        out.push(resource(
            Sh0Resource::AppLogs(name.into()).uri(),
            format!("{name}-logs"),
            format!("Logs of {name}"),
            "text/plain",
        ));
    }
    Ok(out)
}

/// The error for a URI that names nothing: `-32602` with the URI in `data` from
/// 2026-07-28 on (SEP-2164), `-32002` before.
pub fn not_found(ctx: &RequestContext<RoleServer>, uri: &str, why: &str) -> ErrorData {
    let modern = ctx
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
    let code = if modern {
        ErrorCode::INVALID_PARAMS
    } else {
        ErrorCode::RESOURCE_NOT_FOUND
    };
    ErrorData::new(code, format!("Resource not found: {why}"), Some(json!({ "uri": uri })))
}

/// A tool error met while reading `uri`, as the protocol error a client expects.
pub fn read_error(ctx: &RequestContext<RoleServer>, uri: &str, e: ToolError) -> ErrorData {
    match e.kind {
        // A variable that cannot name anything (a malformed id) names no resource either.
        ErrorKind::NotFound | ErrorKind::InvalidInput => not_found(ctx, uri, &e.message),
        ErrorKind::Unauthenticated | ErrorKind::Forbidden => ErrorData::invalid_request(
            format!("{}: {}", e.kind.as_str(), e.message),
            Some(json!({ "uri": uri })),
        ),
        _ => ErrorData::internal_error(e.message, Some(json!({ "uri": uri }))),
    }
}

/// Reads one resource as the caller.
pub async fn read<B: Backend>(
    backend: &B,
    ctx: &RequestContext<RoleServer>,
    uri: &str,
) -> Result<ReadResourceResult, ErrorData> {
    let Some(res) = Sh0Resource::parse(uri) else {
        return Err(not_found(ctx, uri, "sh0 has no resource at this URI"));
    };
    let body = content(backend, ctx, &res).await.map_err(|e| read_error(ctx, uri, e))?;
    let (text, mime, ttl) = match body {
        Content::Json(v) => (
            serde_json::to_string_pretty(&v).unwrap_or_default(),
            "application/json",
            CONFIG_TTL_MS,
        ),
        Content::Text(t) => (t, "text/plain", 0),
    };
    Ok(
        ReadResourceResult::new(vec![ResourceContents::text(text, uri).with_mime_type(mime)])
            .with_ttl_ms(ttl)
            .with_cache_scope(CacheScope::Private),
    )
}

pub enum Content {
    Json(Value),
    Text(String),
}

/// What a resource holds now, read through the tools it mirrors.
pub async fn content<B: Backend>(
    backend: &B,
    ctx: &RequestContext<RoleServer>,
    res: &Sh0Resource,
) -> Result<Content, ToolError> {
    match res {
        Sh0Resource::Catalog => {
            let catalog = backend.catalog(ctx).await?;
            Ok(Content::Json(
                serde_json::to_value(catalog).map_err(|e| ToolError::internal(format!("catalog: {e}")))?,
            ))
        }
        Sh0Resource::App(app) => {
            let mut config = backend.call(ctx, "app_get", json!({ "app": app })).await?;
            // Variable names when the caller may list them; never values.
            match backend.call(ctx, "env_list", json!({ "app": app })).await {
                Ok(env) => {
                    let names: Vec<Value> = env["vars"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.get("key").cloned())
                        .collect();
                    config["env"] = Value::Array(names);
                }
                Err(e) if e.kind == ErrorKind::Forbidden => {}
                Err(e) => return Err(e),
            }
            Ok(Content::Json(config))
        }
        Sh0Resource::AppLogs(app) => {
            let logs = backend
                .call(ctx, "app_logs", json!({ "app": app, "tail": LOG_TAIL }))
                .await?;
            let lines = string_lines(&logs["lines"]);
            let head = format!("The latest {} lines of {app}'s output, oldest first.", lines.len());
            Ok(Content::Text(format!("{head}\n{}", fence_untrusted(&lines.join("\n")))))
        }
        Sh0Resource::DeploymentLog(dep) => {
            let (status, active, lines) = deployment_log(backend, ctx, dep).await?;
            let state = if active { "in progress" } else { "finished" };
            Ok(Content::Text(format!(
                "Deployment {dep}: {status} ({state}).\n{}",
                fence_untrusted(&lines.join("\n"))
            )))
        }
    }
}

/// A deployment's status, whether it is still going, and its whole log.
pub async fn deployment_log<B: Backend>(
    backend: &B,
    ctx: &RequestContext<RoleServer>,
    dep: &str,
) -> Result<(String, bool, Vec<String>), ToolError> {
    let mut lines = Vec::new();
    let mut offset = 0i64;
    // Pages until the log is read; bounded so a runaway log cannot hold the request.
    let mut pages = 0;
    loop {
        pages += 1;
        let page = backend
            .call(
                ctx,
                "deployment_get",
                json!({ "deployment": dep, "log_offset": offset }),
            )
            .await?;
        let got = string_lines(&page["log"]);
        let next = page["next_offset"].as_i64().unwrap_or(offset);
        let last = got.is_empty() || next <= offset || pages == 50;
        lines.extend(got);
        if last {
            let status = page["deployment"]["status"].as_str().unwrap_or("unknown").to_owned();
            return Ok((status, page["active"].as_bool().unwrap_or(false), lines));
        }
        offset = next;
    }
}

/// Log lines as tools return them: strings, or `{"line": ...}` objects.
fn string_lines(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            l.as_str()
                .map(str::to_owned)
                .or_else(|| l.get("line").and_then(Value::as_str).map(str::to_owned))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Sh0Resource;

    #[test]
    fn uris_round_trip_and_nothing_else_parses() {
        for r in [
            Sh0Resource::Catalog,
            Sh0Resource::App("web".into()),
            Sh0Resource::AppLogs("web-2".into()),
            Sh0Resource::DeploymentLog("dep_0123abcd".into()),
        ] {
            assert_eq!(Sh0Resource::parse(&r.uri()), Some(r));
        }
        for bad in [
            "sh0://apps/",
            "sh0://apps/../logs",
            "sh0://apps/a%2Fb/logs",
            "sh0://apps/web/logs/",
            "sh0://apps/web/env",
            "http://apps/web",
            "sh0://deployments/x/log/y",
            "sh0://catalog/",
            "test://static-text",
        ] {
            assert_eq!(Sh0Resource::parse(bad), None, "{bad}");
        }
    }
}
