//! Custom domains: attach a name to an app (optionally with its www/apex partner as a
//! redirect), list them with their certificate state, remove them, and check that a name
//! reaches this server. Attaching a name is all it takes to get HTTPS: the edge orders a
//! certificate in the background.

use crate::domain::Timestamp;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{AcmeState, CertSource, DomainName, ResourceRef};
use crate::registry::HttpMethod::{Delete, Get, Post};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};
use crate::store::DomainRow;

/// Names one app may have (a www partner counts): enough for any real site, few enough
/// that bogus names cannot spend the ACME account's rate limits.
pub const MAX_DOMAINS_PER_APP: usize = 20;

pub struct DomainAdd;
pub struct DomainList;
pub struct DomainRemove;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainAddInput {
    /// App id or name.
    pub app: ResourceRef,
    /// The domain to serve the app at, e.g. shop.example.com.
    pub domain: DomainName,
    /// Also attach the name's www partner (www.example.com for example.com, example.com for
    /// www.example.com) as a permanent redirect to `domain`.
    #[serde(default)]
    pub www_redirect: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainListInput {
    /// Only this app's domains (id or name); all domains when absent.
    #[serde(default)]
    pub app: Option<ResourceRef>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainRemoveInput {
    /// App id or name.
    pub app: ResourceRef,
    /// The domain to detach; names that redirect to it are detached with it.
    pub domain: DomainName,
}

/// The automatic-certificate state of a domain.
#[derive(Serialize, JsonSchema)]
pub struct AcmeView {
    pub state: AcmeState,
    /// Orders placed for this name so far.
    pub orders: u32,
    /// Why the last order failed (the certificate authority's words).
    pub last_error: Option<String>,
    /// When a failed order is retried (RFC 3339).
    pub next_attempt_at: Option<Timestamp>,
}

/// The certificate serving a domain.
#[derive(Serialize, JsonSchema)]
pub struct ServingCert {
    pub id: String,
    pub source: CertSource,
    pub not_after: Timestamp,
}

#[derive(Serialize, JsonSchema)]
pub struct DomainView {
    pub domain: String,
    pub app: String,
    /// Requests for this name are redirected (308) to this one.
    pub redirect_to: Option<String>,
    /// Where the domain is served: https:// once a certificate is in place.
    pub url: String,
    /// Whether HTTPS is served for this name now (plain HTTP then redirects to it).
    pub https: bool,
    pub certificate: Option<ServingCert>,
    /// `null` when automatic certificates are disabled or no order was placed yet.
    pub acme: Option<AcmeView>,
    pub created_at: Timestamp,
}

#[derive(Serialize, JsonSchema)]
pub struct DomainsOutput {
    pub domains: Vec<DomainView>,
}

#[derive(Serialize, JsonSchema)]
pub struct DomainRemoveOutput {
    /// The names detached.
    pub removed: Vec<String>,
}

/// Describes domain rows with their serving certificate and ACME state.
fn views(ctx: &ToolContext, rows: Vec<DomainRow>) -> Result<Vec<DomainView>, ToolError> {
    let apps: std::collections::HashMap<_, _> = ctx
        .store()
        .app_list(None)?
        .into_iter()
        .map(|a| (a.id, a.name.to_string()))
        .collect();
    let certs = ctx.store().cert_list()?;
    let statuses = ctx.edge().acme_statuses()?;
    let served = &ctx.edge().state().certs;
    let now = time::OffsetDateTime::now_utc();
    let unexpired = |c: &crate::store::CertRow| c.not_after.at() > now;
    Ok(rows
        .into_iter()
        .map(|d| {
            let host = d.hostname.as_str();
            let https = served.covers(host);
            let certificate = certs
                .iter()
                // As the edge serves them: unexpired, an upload before an ACME certificate.
                .filter(|c| unexpired(c) && c.names.iter().any(|n| crate::proxy::certs::name_matches(n, host)))
                .max_by_key(|c| (c.source == CertSource::Uploaded, c.not_after))
                .map(|c| ServingCert {
                    id: c.id.to_string(),
                    source: c.source,
                    not_after: c.not_after,
                });
            DomainView {
                domain: host.to_owned(),
                app: apps.get(&d.app_id).cloned().unwrap_or_default(),
                redirect_to: d.redirect_to.as_ref().map(ToString::to_string),
                url: ctx.services.settings.host_url(host, https),
                https,
                certificate,
                acme: statuses.get(host).map(|s| AcmeView {
                    state: s.state,
                    orders: s.orders,
                    last_error: s.last_error.clone(),
                    next_attempt_at: s.next_attempt_at,
                }),
                created_at: d.created_at,
            }
        })
        .collect())
}

#[async_trait]
impl Tool for DomainAdd {
    type Input = DomainAddInput;
    type Output = DomainsOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "domain_add",
            title: "Attach a domain to an app",
            description: "Serve an app at a custom domain. Point the domain's DNS (A/AAAA) at this server first; \
                          sh0 then obtains an HTTPS certificate automatically in the background (see domain_list \
                          for its state). With www_redirect the www/apex partner of the name is attached too and \
                          redirects to it. An app has at most 20 domains. Returns the domains attached.",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Post, "/api/v1/apps/{app}/domains")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DomainAddInput) -> Result<DomainsOutput, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        let mut names = vec![(input.domain.clone(), None)];
        if input.www_redirect {
            let partner = input
                .domain
                .www_partner()
                .ok_or_else(|| ToolError::invalid(format!("{} has no www partner to redirect", input.domain)))?;
            names.push((partner, Some(input.domain.clone())));
        }
        let settings = &ctx.services.settings;
        for (name, _) in &names {
            if ctx.edge().panel() == Some(name) {
                return Err(ToolError::conflict(format!("{name} is the panel's own domain")));
            }
            let under_base = name
                .as_str()
                .strip_suffix(settings.base_domain.as_str())
                .and_then(|rest| rest.strip_suffix('.'))
                .is_some_and(|label| !label.contains('.'));
            if under_base {
                return Err(ToolError::invalid(format!(
                    "{name} is in the default host space <app>.{}, which sh0 routes by app name; \
                     pick a name outside it",
                    settings.base_domain
                )));
            }
        }
        let rows = ctx.store().domains_insert(&app.id, &names, MAX_DOMAINS_PER_APP)?;
        ctx.edge().domains_changed();
        Ok(DomainsOutput {
            domains: views(ctx, rows)?,
        })
    }
}

#[async_trait]
impl Tool for DomainList {
    type Input = DomainListInput;
    type Output = DomainsOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "domain_list",
            title: "List domains",
            description: "List custom domains, all or one app's, with where each is served, whether HTTPS is on, \
                          the certificate serving it and the state of its automatic certificate (pending, \
                          issuing, valid, failed with the CA's reason and the next retry).",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Get, "/api/v1/domains")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DomainListInput) -> Result<DomainsOutput, ToolError> {
        let app = input.app.map(|r| ctx.store().app_find(&r)).transpose()?;
        let mut rows = Vec::new();
        for row in ctx.store().domain_list(app.as_ref().map(|a| &a.id))? {
            if ctx.reaches_app(&row.app_id)? {
                rows.push(row);
            }
        }
        Ok(DomainsOutput {
            domains: views(ctx, rows)?,
        })
    }
}

/// The domain row, when it belongs to the app.
fn owned(ctx: &ToolContext, app: &ResourceRef, domain: &DomainName) -> Result<DomainRow, ToolError> {
    let app = ctx.store().app_find(app)?;
    match ctx.store().domain_get(domain)? {
        Some(d) if d.app_id == app.id => Ok(d),
        _ => Err(ToolError::not_found(format!(
            "domain {domain} of app {} not found",
            app.name
        ))),
    }
}

#[async_trait]
impl Tool for DomainRemove {
    type Input = DomainRemoveInput;
    type Output = DomainRemoveOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "domain_remove",
            title: "Detach a domain",
            description: "Stop serving an app at a custom domain. Names that redirect to it are detached too, and \
                          its automatic certificate is deleted (uploaded certificates stay). Destructive: needs \
                          confirm equal to the domain.",
            safety: Safety::Destructive,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Delete, "/api/v1/apps/{app}/domains/{domain}")),
            idempotent: false,
        }
    }

    async fn confirmation_target(&self, ctx: &ToolContext, input: &DomainRemoveInput) -> Result<String, ToolError> {
        Ok(owned(ctx, &input.app, &input.domain)?.hostname.to_string())
    }

    async fn call(&self, ctx: &ToolContext, input: DomainRemoveInput) -> Result<DomainRemoveOutput, ToolError> {
        owned(ctx, &input.app, &input.domain)?;
        let removed = ctx.store().domain_delete(&input.domain)?;
        ctx.edge().domains_changed();
        Ok(DomainRemoveOutput {
            removed: removed.into_iter().map(String::from).collect(),
        })
    }
}
