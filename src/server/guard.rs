//! What every request to the API listener passes before any route sees it, whatever the
//! route (REST, the account endpoints, uploads, streams, `/mcp`):
//!
//! - **Host**: one of the server's names (`localhost`, the listen address, `--host`, the
//!   panel domain) or an IP address. A DNS-rebinding page reaches the server under its
//!   own name, which is refused.
//! - **Origin**: when a browser names one, it must be the request's own host (same
//!   origin). A page elsewhere — another site, or an app at a sibling `<app>.<domain>` —
//!   can neither call the API, nor log someone in or out, nor open a WebSocket.
//! - **Sec-Fetch-Site**: a change (any method but GET/HEAD/OPTIONS) marked `cross-site` or
//!   `same-site` by the browser is refused, for browsers that send no `Origin`.
//! - **Client address and scheme**: the socket peer, or — only when sh0's own proxy
//!   forwarded the request (it proves it with a per-process secret it strips from every
//!   inbound request) — the address the proxy saw. Rate limits and the session list use
//!   it. `X-Forwarded-*` headers from anyone else are removed, so a client cannot claim
//!   HTTPS to change how session cookies are named.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use subtle::ConstantTimeEq;

use crate::proxy::{CLIENT_ADDR_HEADER, PROXY_SECRET_HEADER, ProxySecret};
use crate::registry::{ClientAddr, same_origin};

/// The rules' inputs, fixed at start.
#[derive(Clone)]
pub struct Guard {
    /// Names the server answers to, lower case.
    hosts: Arc<Vec<String>>,
    /// What sh0's proxy presents when it forwards to the panel.
    proxy_secret: ProxySecret,
}

impl Guard {
    pub fn new(hosts: &[String], proxy_secret: ProxySecret) -> Self {
        Self {
            hosts: Arc::new(hosts.iter().map(|h| h.to_ascii_lowercase()).collect()),
            proxy_secret,
        }
    }

    /// Whether `host` (with an optional port) is a name of this server or an address.
    fn allows_host(&self, host: &str) -> bool {
        let name = strip_port(host).to_ascii_lowercase();
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>().is_ok() || self.hosts.iter().any(|h| *h == name || *h == bare)
    }

    fn forwarded_by_proxy(&self, headers: &HeaderMap) -> bool {
        let presented = headers.get(PROXY_SECRET_HEADER).map(|v| v.as_bytes());
        presented.is_some_and(|p| bool::from(p.ct_eq(self.proxy_secret.as_bytes())))
    }

    fn client_addr(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        if !self.forwarded_by_proxy(headers) {
            return peer;
        }
        headers
            .get(CLIENT_ADDR_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(peer)
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [::1]:9000
        return rest.split_once(']').map_or(host, |(h, _)| &host[..h.len() + 2]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

fn refuse(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": { "kind": kind, "message": message } })),
    )
        .into_response()
}

/// The middleware.
pub async fn check(State(guard): State<Guard>, mut req: Request, next: Next) -> Response {
    // HTTP/2 names the host in the request target (`:authority`), not in a header.
    let authority = req.uri().authority().map(|a| a.to_string());
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or(authority.as_deref());
    match host {
        Some(h) if guard.allows_host(h) => {}
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_input",
                "this server does not answer to that host name; start it with --host NAME to add one",
            );
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        if !same_origin(origin.to_str().ok(), host) {
            return refuse(
                StatusCode::FORBIDDEN,
                "forbidden",
                "requests from another origin are refused: use the server's own pages, or a client that is not a browser",
            );
        }
    } else {
        let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        if changes && matches!(site, Some("cross-site" | "same-site")) {
            return refuse(
                StatusCode::FORBIDDEN,
                "forbidden",
                "requests from another site are refused",
            );
        }
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let addr = guard.client_addr(req.headers(), peer);
    if !guard.forwarded_by_proxy(req.headers()) {
        // What only sh0's proxy may say (the scheme decides the cookies' names and `Secure`).
        for h in [
            "x-forwarded-proto",
            "x-forwarded-for",
            "x-forwarded-host",
            CLIENT_ADDR_HEADER,
        ] {
            req.headers_mut().remove(h);
        }
    }
    req.headers_mut().remove(PROXY_SECRET_HEADER);
    req.extensions_mut().insert(ClientAddr(addr));
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_names_of_the_server_or_addresses() {
        let g = Guard::new(
            &["localhost".into(), "panel.example.com".into()],
            ProxySecret::generate(),
        );
        for ok in [
            "localhost",
            "localhost:9000",
            "Panel.Example.com",
            "127.0.0.1:9000",
            "[::1]:9000",
            "203.0.113.5",
        ] {
            assert!(g.allows_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:9000",
            "localhost.evil.example",
            "web.localhost",
            "",
        ] {
            assert!(!g.allows_host(bad), "{bad}");
        }
    }

    #[test]
    fn the_client_address_is_the_proxys_only_with_its_secret() {
        let secret = ProxySecret::generate();
        let g = Guard::new(&[], secret.clone());
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(CLIENT_ADDR_HEADER, "198.51.100.7".parse().unwrap());
        assert_eq!(g.client_addr(&h, peer), peer, "no secret: the socket peer");
        h.insert(PROXY_SECRET_HEADER, "guess".parse().unwrap());
        assert_eq!(g.client_addr(&h, peer), peer, "a wrong secret: the socket peer");
        h.insert(PROXY_SECRET_HEADER, secret.as_str().parse().unwrap());
        assert_eq!(g.client_addr(&h, peer), "198.51.100.7".parse::<IpAddr>().unwrap());
    }
}
