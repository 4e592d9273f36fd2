//! The catalog: the tool surface as data. It is checked in under `tools/` (a test fails
//! when it is stale), served at `GET /api/v1/tools` (filtered to what the caller may use),
//! and read back by sh0's own remote clients (the stdio MCP bridge).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Registry, Safety};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogHttp {
    pub method: String,
    pub path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogEntry {
    pub name: String,
    pub title: String,
    pub description: String,
    /// `read`, `write` or `destructive`.
    pub safety: String,
    pub permission: String,
    /// The least role holding the permission (owner > admin > developer > viewer).
    #[serde(default)]
    pub min_role: String,
    /// The least API key scope carrying it (admin > write > read).
    #[serde(default)]
    pub min_scope: String,
    /// What the tool reaches: `{"kind": "server"}`, `{"kind": "listing"}`, or
    /// `{"kind": "resource", "field", "resource"}` (one project's resource, members only).
    #[serde(default)]
    pub target: Value,
    pub idempotent: bool,
    pub http: Option<CatalogHttp>,
    /// Endpoints beside the tool call that this tool's checks and audit admit: log
    /// streams (`{"kind": "log_stream", "path", "job"}`) and uploads (`{"kind": "upload",
    /// "path"}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transports: Vec<Value>,
    pub cli: Vec<String>,
    pub input_schema: Value,
    pub output_schema: Value,
}

impl CatalogEntry {
    pub fn is_read_only(&self) -> bool {
        self.safety == "read"
    }
    pub fn is_destructive(&self) -> bool {
        self.safety == "destructive"
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Catalog {
    pub tools: Vec<CatalogEntry>,
}

impl Catalog {
    /// The catalog of `registry`, limited to the tools `keep` accepts.
    pub fn of(registry: &Registry, keep: impl Fn(&str) -> bool) -> Self {
        let tools = registry
            .iter()
            .filter(|d| keep(d.meta().name))
            .map(|d| {
                let m = d.meta();
                CatalogEntry {
                    name: m.name.into(),
                    title: m.title.into(),
                    description: m.description.into(),
                    safety: match m.safety {
                        Safety::Read => "read",
                        Safety::Write => "write",
                        Safety::Destructive => "destructive",
                    }
                    .into(),
                    permission: m.permission.as_str().into(),
                    min_role: m.permission.min_role().as_str().into(),
                    min_scope: m.permission.min_scope().as_str().into(),
                    target: serde_json::to_value(m.target).unwrap_or_default(),
                    idempotent: m.idempotent,
                    http: m.http.map(|h| CatalogHttp {
                        method: h.method.as_str().into(),
                        path: h.path.into(),
                    }),
                    transports: d
                        .transports()
                        .iter()
                        .map(|t| serde_json::to_value(t).unwrap_or_default())
                        .collect(),
                    cli: d.cli().iter().map(|s| s.to_string()).collect(),
                    input_schema: d.input_schema().clone(),
                    output_schema: d.output_schema().clone(),
                }
            })
            .collect();
        Self { tools }
    }
}

/// A readable reference of every tool, for people reviewing a change to the surface.
pub fn reference_markdown(catalog: &Catalog) -> String {
    let mut out = String::from(
        "# sh0 tool reference\n\nGenerated from the tool registry (`cargo test` fails when this file is stale; \
         regenerate with `SH0_BLESS=1 cargo test --test contracts`).\n\n\
         | tool | safety | permission | REST | CLI |\n|---|---|---|---|---|\n",
    );
    for t in &catalog.tools {
        let http = t
            .http
            .as_ref()
            .map(|h| format!("`{} {}`", h.method, h.path))
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | `sh0 {}` |\n",
            t.name,
            t.safety,
            t.permission,
            http,
            t.cli.join(" ")
        ));
    }
    for t in &catalog.tools {
        out.push_str(&format!("\n## `{}` — {}\n\n{}\n\n", t.name, t.title, t.description));
        let props = t.input_schema.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = t
            .input_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(props) = props.filter(|p| !p.is_empty()) {
            out.push_str("| input | type | required | description |\n|---|---|---|---|\n");
            for (name, schema) in props {
                let ty = schema
                    .get("type")
                    .map(|t| t.to_string().replace('"', ""))
                    .unwrap_or_else(|| "any".into());
                let desc = schema
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .replace('\n', " ");
                let req = if required.contains(&name.as_str()) { "yes" } else { "" };
                out.push_str(&format!("| `{name}` | {ty} | {req} | {desc} |\n"));
            }
        } else {
            out.push_str("No input.\n");
        }
    }
    out
}
