//! The HTTP listener of the proxy (hyper 1): routes each request by its `Host` to the app's
//! container over a pooled keep-alive client, streams bodies both ways, passes WebSocket
//! upgrades through, and sets `X-Forwarded-For/-Proto/-Host`.

use http_body_util::Limited;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::body::{Guarded, ProxyBody, page};
use super::challenges::{CHALLENGE_PREFIX, Challenges};
use super::metrics::Metrics;
use super::table::{Route, normalize_host};
use super::tls::CertResolver;
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

/// Limits and ports of the proxy.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The plain HTTP port, for redirect URLs (80 is left out of them).
    pub http_port: u16,
    /// The HTTPS port when TLS is served (443 is left out of redirect URLs).
    pub https_port: Option<u16>,
    /// Request bodies larger than this get 413.
    pub max_body_bytes: u64,
    /// How long an app may take to send its response head before the client gets 504.
    pub upstream_timeout: Duration,
    /// How long a client connection may sit idle (or take to send a request head).
    pub idle_timeout: Duration,
    /// Idle keep-alive connections kept per app instance.
    pub pool_per_upstream: usize,
    /// Vouches for the client address in requests forwarded to the panel.
    pub panel_secret: Option<super::ProxySecret>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            http_port: 80,
            https_port: None,
            max_body_bytes: 512 * 1024 * 1024,
            upstream_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(60),
            pool_per_upstream: 128,
            panel_secret: None,
        }
    }
}

/// What the proxy shares with the rest of the edge: the certificates it serves, the ACME
/// answers in progress, and the access metrics.
#[derive(Clone, Default)]
pub struct ProxyState {
    pub certs: Arc<CertResolver>,
    pub challenges: Arc<Challenges>,
    pub metrics: Arc<Metrics>,
}

type UpstreamBody = Limited<Incoming>;

/// The proxy's shared state: the routing table, the upstream connection pool and the edge.
#[derive(Clone)]
pub struct ProxyServer {
    table: Arc<RoutingTable>,
    client: Client<HttpConnector, UpstreamBody>,
    state: ProxyState,
    config: Arc<ProxyConfig>,
}

/// Whether a connection came in over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

impl ProxyServer {
    /// A proxy with default limits and no TLS.
    pub fn new(table: Arc<RoutingTable>) -> Self {
        Self::with(table, ProxyState::default(), ProxyConfig::default())
    }

    pub fn with(table: Arc<RoutingTable>, state: ProxyState, config: ProxyConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(config.pool_per_upstream)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Self {
            table,
            client,
            state,
            config: Arc::new(config),
        }
    }

    pub fn state(&self) -> &ProxyState {
        &self.state
    }

    /// The same proxy with its own upstream pool, for another worker thread.
    pub fn for_worker(&self) -> Self {
        Self::with(self.table.clone(), self.state.clone(), (*self.config).clone())
    }

    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr, scheme: Scheme) -> Response<ProxyBody> {
        // RFC 9112 §3.2: one Host or none (400 otherwise); an absolute-form target (and
        // HTTP/2's :authority) names the host, and any Host header is then ignored.
        if req.headers().get_all(header::HOST).iter().nth(1).is_some() {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "The request has more than one Host header.",
            );
        }
        let host = req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .or_else(|| {
                req.headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
        if !valid_host(&host) {
            // Never route, and above all never redirect, to a host that is not a name:
            // `Host: 1249763876/.example.com` would otherwise match a wildcard certificate
            // and send the client elsewhere.
            return error(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "The Host header is not a valid host name.",
            );
        }
        if scheme == Scheme::Http {
            // ACME answers stay on plain HTTP, whatever else the host does.
            if req.uri().path().starts_with(CHALLENGE_PREFIX) {
                return match self.state.challenges.answer(req.uri().path()) {
                    Some(answer) => text(StatusCode::OK, answer),
                    None => text(StatusCode::NOT_FOUND, "unknown challenge token".into()),
                };
            }
            if self.config.https_port.is_some() && !self.state.certs.is_empty() {
                let name = normalize_host(&host);
                if self.state.certs.covers(&name) {
                    return self.redirect(Scheme::Https, &name, &path);
                }
            }
        }
        let upstream = match self.table.lookup(&host) {
            Some(Route::Serve(Target::Up(u))) => u,
            Some(Route::Redirect(to)) => {
                // HTTPS only where the target can be served over it.
                let scheme = if self.config.https_port.is_some() && self.state.certs.covers(&to) {
                    Scheme::Https
                } else {
                    Scheme::Http
                };
                return self.redirect(scheme, &to, &path);
            }
            Some(Route::Serve(Target::Unavailable { app })) => {
                self.state.metrics.record(&app, 503, Duration::ZERO, true);
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
        let started = Instant::now();
        let (resp, by_proxy) = self.forward(req, &upstream, peer, scheme, &host, &path).await;
        self.state
            .metrics
            .record(&upstream.app, resp.status().as_u16(), started.elapsed(), by_proxy);
        resp
    }

    /// Sends the request to the app; the flag says whether the proxy answered itself.
    async fn forward(
        &self,
        mut req: Request<Incoming>,
        upstream: &Arc<super::Upstream>,
        peer: SocketAddr,
        scheme: Scheme,
        host: &str,
        path: &str,
    ) -> (Response<ProxyBody>, bool) {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.config.max_body_bytes) {
            return (self.too_large(), true);
        }
        let upgrade = is_upgrade(req.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        parts.uri = match format!("http://{}{path}", upstream.addr).parse() {
            Ok(uri) => uri,
            Err(_) => {
                let resp = error(
                    StatusCode::BAD_REQUEST,
                    "Bad request",
                    "The request target is not valid.",
                );
                return (resp, true);
            }
        };
        prepare_headers(&mut parts.headers, upgrade, peer, host, scheme);
        super::forwarded::strip(&mut parts.headers);
        if upstream.app == super::table::PANEL_APP
            && let Some(secret) = &self.config.panel_secret
        {
            super::forwarded::for_panel(&mut parts.headers, peer.ip(), secret);
        }
        // Apps speak HTTP/1.1 behind the proxy, whatever the client spoke (h2 carries the
        // host as `:authority`, so it is restored as a header); the app sees the host the
        // request was routed by, never a second opinion.
        parts.version = hyper::Version::HTTP_11;
        if let Ok(v) = HeaderValue::from_str(host) {
            parts.headers.insert(header::HOST, v);
        }
        let body = Limited::new(body, usize::try_from(self.config.max_body_bytes).unwrap_or(usize::MAX));
        let upstream_req = Request::from_parts(parts, body);

        let mut resp = match tokio::time::timeout(self.config.upstream_timeout, self.client.request(upstream_req)).await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) if caused_by_body_limit(&e) => return (self.too_large(), true),
            Ok(Err(e)) => {
                tracing::debug!(app = %upstream.app, error = %e, "upstream request failed");
                let resp = error(StatusCode::BAD_GATEWAY, "Bad gateway", "The app did not answer.");
                return (resp, true);
            }
            Err(_) => {
                let resp = error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "Gateway timeout",
                    "The app took too long to answer.",
                );
                return (resp, true);
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
            return (Response::from_parts(parts, super::body::full("")), false);
        }

        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        (
            Response::from_parts(parts, Guarded::wrap(body, upstream.clone())),
            false,
        )
    }

    fn too_large(&self) -> Response<ProxyBody> {
        let limit = self.config.max_body_bytes;
        let shown = if limit >= 1024 * 1024 {
            format!("{} MB", limit / (1024 * 1024))
        } else {
            format!("{limit} bytes")
        };
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
            &format!("Request bodies are limited to {shown}."),
        )
    }

    /// A permanent redirect that keeps the method (308) to the same path on `host`.
    fn redirect(&self, scheme: Scheme, host: &str, path: &str) -> Response<ProxyBody> {
        let authority = match (scheme, self.config.https_port) {
            (Scheme::Https, Some(443)) | (Scheme::Https, None) => host.to_owned(),
            (Scheme::Https, Some(port)) => format!("{host}:{port}"),
            (Scheme::Http, _) if self.config.http_port == 80 => host.to_owned(),
            (Scheme::Http, _) => format!("{host}:{}", self.config.http_port),
        };
        let location = format!("{}://{authority}{path}", scheme.as_str());
        let mut resp = Response::new(super::body::full(""));
        *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        resp
    }
}

/// A Host header sh0 will act on: a DNS name or IPv4 address (letters, digits, `-`, `.`)
/// or a bracketed IPv6 address, with an optional port. Empty (HTTP/1.0) is allowed: it
/// routes nowhere.
fn valid_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, port)) => {
                return v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
                    && (port.is_empty()
                        || port
                            .strip_prefix(':')
                            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit())));
            }
            None => return false,
        },
        None => host,
    };
    let name = match name.rsplit_once(':') {
        Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n,
        Some(_) => return false,
        None => name,
    };
    name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Whether a failed upstream request failed because the client's body passed the limit
/// (a streamed body, whose size was not declared up front).
fn caused_by_body_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
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

fn prepare_headers(headers: &mut HeaderMap, upgrade: bool, peer: SocketAddr, host: &str, scheme: Scheme) {
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
    headers.insert("x-forwarded-proto", HeaderValue::from_static(scheme.as_str()));
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

fn text(status: StatusCode, body: String) -> Response<ProxyBody> {
    let mut resp = Response::new(super::body::full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// Serves plain HTTP on `listener` until `shutdown` is cancelled; open connections finish
/// their in-flight requests (hyper's graceful shutdown) before the task ends.
pub async fn serve_http(listener: TcpListener, proxy: ProxyServer, shutdown: CancellationToken) {
    serve_listener(listener, proxy, None, shutdown).await
}

/// Serves HTTPS on `listener` with `tls` (see `tls::server_config`).
pub async fn serve_https(
    listener: TcpListener,
    proxy: ProxyServer,
    tls: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) {
    serve_listener(listener, proxy, Some(tls), shutdown).await
}

/// Serves `listener` on the current runtime, over TLS when `tls` is given.
pub(super) async fn serve_listener(
    listener: TcpListener,
    proxy: ProxyServer,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) {
    let tls = tls.map(TlsAcceptor::from);
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
        let watcher = graceful.watcher();
        match tls.clone() {
            None => {
                tokio::spawn(serve_connection(stream, peer, proxy, Scheme::Http, watcher));
            }
            Some(acceptor) => {
                let handshake_timeout = proxy.config.idle_timeout.min(Duration::from_secs(10));
                tokio::spawn(async move {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => serve_connection(tls_stream, peer, proxy, Scheme::Https, watcher).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    proxy: ProxyServer,
    scheme: Scheme,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let idle = proxy.config.idle_timeout;
    let service = hyper::service::service_fn(move |req| {
        let proxy = proxy.clone();
        async move { Ok::<_, Infallible>(proxy.handle(req, peer, scheme).await) }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // The header read timer also runs while a keep-alive connection waits for its next
    // request, so it is the idle timeout as well.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(idle);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(idle / 2)
        .keep_alive_timeout(Duration::from_secs(20));
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let _ = watcher.watch(conn.into_owned()).await;
}

#[cfg(test)]
mod tests {
    use super::valid_host;

    #[test]
    fn hosts_must_be_names_or_addresses() {
        for ok in [
            "",
            "web.example.com",
            "WEB.example.com:8080",
            "127.0.0.1:80",
            "[::1]:443",
            "[::1]",
            "a-b.c.",
        ] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in [
            "1249763876/.example.com",
            "a b.com",
            "x.com:80:80",
            "x.com:http",
            "[::1",
            "[::1]x",
            "é.com",
            "a@b.com",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }
}
