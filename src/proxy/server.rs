//! The HTTP listener of the proxy (hyper 1): routes each request by its `Host` to the app's
//! container over a pooled keep-alive client, streams bodies both ways, passes WebSocket
//! upgrades through, and sets `X-Forwarded-For/-Proto/-Host`.

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::body::{Guarded, ProxyBody, page};
use super::{RoutingTable, Target};

/// Headers that describe one hop and must not be forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
];

/// The proxy's shared state: the routing table and the upstream connection pool.
#[derive(Clone)]
pub struct ProxyServer {
    table: Arc<RoutingTable>,
    client: Client<HttpConnector, Incoming>,
}

impl ProxyServer {
    pub fn new(table: Arc<RoutingTable>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        Self { table, client }
    }

    async fn handle(&self, mut req: Request<Incoming>, peer: SocketAddr) -> Response<ProxyBody> {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let upstream = match self.table.lookup(&host) {
            Some(Target::Up(u)) => u,
            Some(Target::Unavailable { app }) => {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service unavailable",
                    &format!("The app {} has no healthy instance right now.", escape(&app)),
                );
            }
            None => {
                return error(
                    StatusCode::NOT_FOUND,
                    "No app here",
                    &format!("No app is configured for the host {}.", escape(&host)),
                );
            }
        };

        let upgrade = is_upgrade(req.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        parts.uri = match format!("http://{}{path}", upstream.addr).parse() {
            Ok(uri) => uri,
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Bad request",
                    "The request target is not valid.",
                );
            }
        };
        prepare_headers(&mut parts.headers, upgrade, peer, &host);
        let upstream_req = Request::from_parts(parts, body);

        let mut resp = match self.client.request(upstream_req).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(app = %upstream.app, error = %e, "upstream request failed");
                return error(StatusCode::BAD_GATEWAY, "Bad gateway", "The app did not answer.");
            }
        };

        if resp.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(client_upgrade) = client_upgrade
        {
            let upstream_upgrade = hyper::upgrade::on(&mut resp);
            let held = upstream.clone();
            tokio::spawn(async move {
                let _held = held;
                if let (Ok(client), Ok(server)) = (client_upgrade.await, upstream_upgrade.await) {
                    let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut TokioIo::new(server)).await;
                }
            });
            let (parts, _) = resp.into_parts();
            return Response::from_parts(parts, super::body::full(""));
        }

        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Response::from_parts(parts, Guarded::wrap(body, upstream))
    }
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Also drop the headers the Connection header names.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|t| t.trim().to_ascii_lowercase()).collect::<Vec<_>>())
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for h in named {
        headers.remove(h);
    }
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    headers.remove(header::UPGRADE);
}

fn prepare_headers(headers: &mut HeaderMap, upgrade: bool, peer: SocketAddr, host: &str) {
    let upgrade_value = headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(headers);
    if upgrade && let Some(u) = upgrade_value {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, u);
    }
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Ok(v) = HeaderValue::from_str(host) {
        headers.insert("x-forwarded-host", v);
    }
}

fn error(status: StatusCode, title: &str, detail: &str) -> Response<ProxyBody> {
    let mut resp = Response::new(page(title, detail));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn escape(s: &str) -> String {
    s.chars()
        .take(255)
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Serves the proxy on `listener` until `shutdown` is cancelled; open connections finish
/// their in-flight requests (hyper's graceful shutdown) before the task ends.
pub async fn serve_http(listener: TcpListener, proxy: ProxyServer, shutdown: CancellationToken) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        let service = hyper::service::service_fn(move |req| {
            let proxy = proxy.clone();
            async move { Ok::<_, Infallible>(proxy.handle(req, peer).await) }
        });
        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}
