//! Client ID Metadata Documents: a client whose id is an `https` URL is described by the
//! JSON document at that URL (`client_id` equal to the URL, `redirect_uris`,
//! `client_name`). Fetching a URL named by a stranger is a request forgery risk, so the
//! fetch goes only to public addresses (the name is resolved first and the connection
//! pinned to the checked address), follows no redirect, waits at most five seconds and
//! reads at most 64 KiB.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::auth::oauth::check_redirect_uri;
use crate::store::ClientRow;

const MAX_DOCUMENT: usize = 64 * 1024;

/// Whether an address is one the public internet routes to (not this machine, not a
/// private or link-local network).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || o[0] == 100 && (64..128).contains(&o[1])
                || o[0] == 192 && o[1] == 0 && o[2] == 0
                || o[0] == 198 && (o[1] == 18 || o[1] == 19)
                || o[0] >= 224)
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let embedded = |a: u16, b: u16| std::net::Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8);
            // Addresses that carry an IPv4 one (mapped, NAT64, 6to4) are as public as it is.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public(IpAddr::V4(embedded(seg[6], seg[7])));
            }
            if seg[0] == 0x2002 {
                return is_public(IpAddr::V4(embedded(seg[1], seg[2])));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || seg[0] == 0x2001 && seg[1] == 0xdb8)
        }
    }
}

/// Fetches and checks the document at `client_id`.
pub async fn fetch(client_id: &str) -> Result<ClientRow, String> {
    let url = url::Url::parse(client_id).map_err(|e| format!("client_id: {e}"))?;
    let host = url.host_str().ok_or("client_id has no host")?.to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let Some(addr) = addrs.iter().copied().find(|a| is_public(a.ip())) else {
        return Err(format!(
            "{host} does not resolve to a public address; sh0 fetches client metadata only from the internet"
        ));
    };
    if addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(format!("{host} resolves to a private address too; refused"));
    }
    let http = reqwest::Client::builder()
        .resolve(&host, addr)
        .redirect(reqwest::redirect::Policy::none())
        // A proxy from the environment would connect elsewhere than the checked address.
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let mut resp = http
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("fetching the client's metadata document: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("the client's metadata document answered {}", resp.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT {
            return Err("the client's metadata document is larger than 64 KiB".into());
        }
    }
    parse(client_id, &body)
}

/// Checks a metadata document's content against the URL it came from.
pub fn parse(client_id: &str, body: &[u8]) -> Result<ClientRow, String> {
    let doc: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if doc["client_id"].as_str() != Some(client_id) {
        return Err("the document's client_id is not its own URL".into());
    }
    if doc.get("client_secret").is_some() {
        return Err("a metadata document may not carry a client_secret".into());
    }
    let uris: Vec<String> = doc["redirect_uris"]
        .as_array()
        .ok_or("the document lists no redirect_uris")?
        .iter()
        .filter_map(|u| u.as_str().map(str::to_owned))
        .collect();
    if uris.is_empty() {
        return Err("the document lists no redirect_uris".into());
    }
    for u in &uris {
        check_redirect_uri(u)?;
    }
    let name: String = doc["client_name"]
        .as_str()
        .unwrap_or(client_id)
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    Ok(ClientRow {
        id: client_id.to_owned(),
        name,
        redirect_uris: uris,
        source: "metadata_document".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "100.64.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "2606:4700:4700::1111", "64:ff9b::101:101"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn documents_are_checked_against_their_url() {
        let id = "https://client.example/oauth.json";
        let ok = format!(
            r#"{{"client_id": "{id}", "client_name": "Agent", "redirect_uris": ["http://127.0.0.1:3000/cb"]}}"#
        );
        let c = parse(id, ok.as_bytes()).unwrap();
        assert_eq!((c.name.as_str(), c.redirect_uris.len()), ("Agent", 1));
        for bad in [
            r#"{"client_id": "https://other.example/x.json", "redirect_uris": ["https://a.example/cb"]}"#.to_owned(),
            format!(r#"{{"client_id": "{id}", "redirect_uris": []}}"#),
            format!(r#"{{"client_id": "{id}", "redirect_uris": ["http://evil.example/cb"]}}"#),
            format!(r#"{{"client_id": "{id}", "client_secret": "x", "redirect_uris": ["https://a.example/cb"]}}"#),
        ] {
            assert!(parse(id, bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
