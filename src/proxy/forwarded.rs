//! What the proxy tells the panel (the API listener) about a request it forwards: the
//! client's address. The API sees every proxied request come from loopback, so without it
//! one client's failed logins would lock out everybody who signs in through the panel
//! domain. The proxy vouches for the address with a secret made at start and known only to
//! this process; it removes both headers from every request it receives, so neither a
//! client nor an app can set them, and it never sends them to an app.

use axum::http::{HeaderMap, HeaderValue};
use std::net::IpAddr;
use std::sync::Arc;

/// The client's address as the proxy saw it.
pub const CLIENT_ADDR_HEADER: &str = "x-sh0-client-addr";
/// The per-process secret that proves the request came through sh0's proxy.
pub const PROXY_SECRET_HEADER: &str = "x-sh0-proxy-secret";

/// The secret shared by the proxy and the API listener of one `sh0 serve` process.
#[derive(Clone)]
pub struct ProxySecret(Arc<str>);

impl ProxySecret {
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes).into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for ProxySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxySecret([redacted])")
    }
}

/// Removes what only the proxy may say, from any request it received.
pub fn strip(headers: &mut HeaderMap) {
    headers.remove(CLIENT_ADDR_HEADER);
    headers.remove(PROXY_SECRET_HEADER);
}

/// Adds the client's address and the secret to a request bound for the panel.
pub fn for_panel(headers: &mut HeaderMap, client: IpAddr, secret: &ProxySecret) {
    if let (Ok(addr), Ok(secret)) = (
        HeaderValue::from_str(&client.to_string()),
        HeaderValue::from_str(secret.as_str()),
    ) {
        headers.insert(CLIENT_ADDR_HEADER, addr);
        headers.insert(PROXY_SECRET_HEADER, secret);
    }
}
