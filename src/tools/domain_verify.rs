//! `domain_verify`: does a domain attached to one of the caller's apps resolve, and does a
//! request for it reach this server's proxy? It makes requests from the server, so it is
//! kept from being a probe of anything else: the domain must be attached to an app the
//! caller reaches (dispatch checks the target like any resource), only public addresses
//! are requested (never loopback, private, link-local, shared or multicast ranges), and
//! each user may verify a few names a minute.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::domain::DomainName;
use crate::registry::HttpMethod::Get;
use crate::registry::{HttpRoute, Permission, ResourceKind, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};

pub struct DomainVerify;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainVerifyInput {
    /// A domain attached to one of your apps.
    pub domain: DomainName,
}

#[derive(Serialize, JsonSchema)]
pub struct DomainVerifyOutput {
    pub domain: String,
    /// The addresses the name resolves to from this server.
    pub addresses: Vec<String>,
    /// Whether a request for the name reached this server's proxy.
    pub reaches_this_server: bool,
    /// What was found, and what to do when the name does not reach this server.
    pub detail: String,
}

/// Whether `ip` is one a public certificate authority could not reach, and so one sh0
/// never sends a request to on a user's behalf.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                // Shared address space (carrier-grade NAT), 100.64.0.0/10.
                || (a == 100 && (64..128).contains(&b))
                // Benchmarking 198.18.0.0/15 and reserved 240.0.0.0/4.
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7 and link-local fe80::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

#[async_trait]
impl Tool for DomainVerify {
    type Input = DomainVerifyInput;
    type Output = DomainVerifyOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "domain_verify",
            title: "Check a domain's DNS",
            description: "Check whether a domain attached to one of your apps resolves to a public address and \
                          whether a request for it reaches this server's proxy (what a certificate authority \
                          needs before it issues a certificate). Use it when a domain's certificate stays pending \
                          or failed. A few checks a minute per user.",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::Resource {
                field: "domain",
                resource: ResourceKind::Domain,
            },
            http: Some(HttpRoute::new(Get, "/api/v1/domains/{domain}/verify")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DomainVerifyInput) -> Result<DomainVerifyOutput, ToolError> {
        let limiter = &ctx.services.limiters.domain_verify;
        let who = ctx.principal.account_key();
        limiter
            .check(&who)
            .map_err(|wait| ToolError::quota("too many domain checks; try again in a minute", wait))?;
        limiter.fail(&who);
        let domain = input.domain.to_string();
        let port = ctx.services.settings.http_port;
        let resolved = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((domain.clone(), if port == 0 { 80 } else { port })),
        )
        .await;
        let mut addresses: Vec<SocketAddr> = match resolved {
            Ok(Ok(found)) => found.collect(),
            _ => Vec::new(),
        };
        addresses.dedup_by_key(|a| a.ip());
        let shown: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
        let answer = |reaches: bool, detail: String| DomainVerifyOutput {
            domain: domain.clone(),
            addresses: shown.clone(),
            reaches_this_server: reaches,
            detail,
        };
        if addresses.is_empty() {
            return Ok(answer(
                false,
                format!("{domain} does not resolve: add an A (or AAAA) record pointing at this server"),
            ));
        }
        let (internal, public): (Vec<SocketAddr>, Vec<SocketAddr>) =
            addresses.iter().partition(|a| is_internal(a.ip()));
        if public.is_empty() {
            let list: Vec<String> = internal.iter().map(|a| a.ip().to_string()).collect();
            return Ok(answer(
                false,
                format!(
                    "{domain} resolves only to internal addresses ({}), which a public certificate authority \
                     cannot reach: point the record at this server's public address",
                    list.join(", ")
                ),
            ));
        }
        if port == 0 {
            return Ok(answer(false, "the proxy's HTTP port is disabled on this server".into()));
        }
        let reached = probe(ctx, &domain, &public).await?;
        Ok(if reached.is_empty() {
            answer(
                false,
                format!(
                    "{domain} resolves to {}, but a request there on port {port} did not reach this server: \
                     point the record at this server, or open port {port} to it",
                    shown.join(", ")
                ),
            )
        } else {
            answer(true, format!("{domain} reaches this server at {}", reached.join(", ")))
        })
    }
}

/// Requests a one-off token, served like an ACME challenge (only this server can answer
/// it), from up to four public addresses; returns those that answered it.
async fn probe(ctx: &ToolContext, domain: &str, addresses: &[SocketAddr]) -> Result<Vec<String>, ToolError> {
    let token = format!("sh0-verify-{}", uuid::Uuid::now_v7().simple());
    let expected = uuid::Uuid::new_v4().simple().to_string();
    let challenges = &ctx.edge().state().challenges;
    challenges.insert(&token, &expected);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(ToolError::internal)?;
    let mut reached = Vec::new();
    for addr in addresses.iter().take(4) {
        let url = format!("http://{addr}/.well-known/acme-challenge/{token}");
        let got = client.get(&url).header("host", domain).send().await;
        if let Ok(resp) = got
            && resp.text().await.is_ok_and(|body| body == expected)
        {
            reached.push(addr.ip().to_string());
        }
    }
    challenges.remove(&token);
    Ok(reached)
}

#[cfg(test)]
mod tests {
    use super::is_internal;

    #[test]
    fn internal_ranges_are_never_probed() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }
}
