//! `completion/complete`: the names a caller may type into a resource template variable or a
//! prompt argument — apps, projects, deployments, domains. Every list is read through the
//! backend as the caller (the same tools, the same checks), so a developer limited to one
//! project is offered that project's names and nothing else.

use rmcp::model::{CompleteRequestParams, CompleteResult, CompletionInfo, Reference};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::{Value, json};

use super::Backend;
use super::resources::templates;
use crate::registry::{ErrorKind, ToolError};

/// At most this many apps are looked into when completing a deployment or a domain with no
/// app given.
const APPS_SCANNED: usize = 20;

/// Which list an argument completes from, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    App,
    Project,
    Deployment,
    Domain,
}

fn kind_of(argument: &str) -> Option<Kind> {
    match argument {
        "app" => Some(Kind::App),
        "project" => Some(Kind::Project),
        "deployment" => Some(Kind::Deployment),
        "domain" => Some(Kind::Domain),
        _ => None,
    }
}

pub async fn complete<B: Backend>(
    backend: &B,
    ctx: &RequestContext<RoleServer>,
    request: CompleteRequestParams,
) -> Result<CompleteResult, ErrorData> {
    // The reference must exist, and name the argument.
    let known = match &request.r#ref {
        Reference::Resource(r) => templates()
            .iter()
            .any(|t| t.uri_template == r.uri && t.uri_template.contains(&format!("{{{}}}", request.argument.name))),
        Reference::Prompt(p) => crate::registry::prompts::get(&p.name)
            .map_err(|e| ErrorData::invalid_params(e.message, None))?
            .arguments
            .iter()
            .any(|a| a.name == request.argument.name),
        #[allow(unreachable_patterns)]
        _ => false,
    };
    if !known {
        return Err(ErrorData::invalid_params(
            format!("`{}` is not an argument of this reference", request.argument.name),
            None,
        ));
    }
    let Some(kind) = kind_of(&request.argument.name) else {
        return Ok(CompleteResult::default());
    };
    let context_app = request
        .context
        .as_ref()
        .and_then(|c| c.arguments.as_ref())
        .and_then(|a| a.get("app"))
        .cloned();
    let prefix = request.argument.value.to_lowercase();
    let mut names = candidates(backend, ctx, kind, context_app.as_deref())
        .await
        .map_err(|e| ErrorData::internal_error(e.message, None))?;
    names.retain(|n| n.to_lowercase().starts_with(&prefix));
    names.sort();
    names.dedup();
    let total = names.len();
    names.truncate(CompletionInfo::MAX_VALUES);
    let mut info = CompletionInfo::new(names).map_err(|e| ErrorData::internal_error(e, None))?;
    info.total = Some(total as u32);
    info.has_more = Some(total > CompletionInfo::MAX_VALUES);
    Ok(CompleteResult::new(info))
}

/// Everything of `kind` the caller can reach. A list the caller may not read is empty.
async fn candidates<B: Backend>(
    backend: &B,
    ctx: &RequestContext<RoleServer>,
    kind: Kind,
    app: Option<&str>,
) -> Result<Vec<String>, ToolError> {
    let field = |v: &Value, list: &str, key: &str| -> Vec<String> {
        v[list]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i[key].as_str().map(str::to_owned))
            .collect()
    };
    let call = |tool: &'static str, args: Value| async move {
        match backend.call(ctx, tool, args).await {
            Ok(v) => Ok(Some(v)),
            Err(e)
                if matches!(
                    e.kind,
                    ErrorKind::Forbidden | ErrorKind::NotFound | ErrorKind::InvalidInput
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    };
    let apps = |app: Option<&str>| {
        let app = app.map(str::to_owned);
        async move {
            if let Some(a) = app {
                return Ok::<_, ToolError>(vec![a]);
            }
            let list = call("app_list", json!({})).await?;
            let mut names = list.map(|l| field(&l, "apps", "name")).unwrap_or_default();
            names.truncate(APPS_SCANNED);
            Ok(names)
        }
    };
    Ok(match kind {
        Kind::App => apps(None).await?,
        Kind::Project => call("project_list", json!({}))
            .await?
            .map(|l| field(&l, "projects", "name"))
            .unwrap_or_default(),
        Kind::Deployment => {
            let mut out = Vec::new();
            for a in apps(app).await? {
                if let Some(l) = call("deployment_list", json!({ "app": a, "limit": 20 })).await? {
                    out.extend(field(&l, "deployments", "id"));
                }
            }
            out
        }
        Kind::Domain => {
            let mut out = Vec::new();
            for a in apps(app).await? {
                if let Some(l) = call("domain_list", json!({ "app": a })).await? {
                    out.extend(field(&l, "domains", "domain"));
                }
            }
            out
        }
    })
}
