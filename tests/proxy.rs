//! The proxy in isolation, against local upstream servers: host routing, 404 and 503
//! pages, X-Forwarded-* headers, streamed responses, WebSocket upgrades, draining, TLS with
//! SNI and ALPN (HTTP/2, WebSocket over TLS), body and time limits, and access metrics.

mod common;

use axum::Router;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use sh0::proxy::certs::ParsedCert;
use sh0::proxy::{
    ProxyConfig, ProxyServer, ProxyState, RoutingTable, Target, Upstream, serve_http, serve_https, table::drain, tls,
};

async fn upstream(release: Arc<tokio::sync::Notify>) -> SocketAddr {
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/headers",
            get(|h: HeaderMap| async move {
                let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
                format!(
                    "{} {} {}",
                    get("x-forwarded-for"),
                    get("x-forwarded-proto"),
                    get("x-forwarded-host")
                )
            }),
        )
        .route(
            "/stream",
            get(move || {
                let release = release.clone();
                async move {
                    let body = async_stream(release);
                    axum::body::Body::from_stream(body)
                }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        .route(
            "/upload",
            axum::routing::post(|body: bytes::Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/ws",
            get(|ws: WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket| async move {
                    while let Some(Ok(Message::Text(t))) = socket.recv().await {
                        let _ = socket.send(Message::Text(format!("echo:{t}").into())).await;
                    }
                })
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// First chunk at once, the second only after the test has seen the first through the proxy.
fn async_stream(
    release: Arc<tokio::sync::Notify>,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
    futures::stream::unfold(0, move |state| {
        let release = release.clone();
        async move {
            match state {
                0 => Some((Ok(bytes::Bytes::from_static(b"first;")), 1)),
                1 => {
                    release.notified().await;
                    Some((Ok(bytes::Bytes::from_static(b"second")), 2))
                }
                _ => None,
            }
        }
    })
}

async fn proxy(table: Arc<RoutingTable>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_http(listener, ProxyServer::new(table), CancellationToken::new()));
    addr
}

fn up(app: &str, addr: SocketAddr) -> Arc<Upstream> {
    Arc::new(Upstream {
        app: app.into(),
        deployment: "d".into(),
        addr,
    })
}

#[tokio::test]
async fn routes_by_host_and_passes_everything_through() {
    let release = Arc::new(tokio::sync::Notify::new());
    let backend = upstream(release.clone()).await;
    let table = Arc::new(RoutingTable::new("example.test"));
    table.set("web", Target::Up(up("web", backend)));
    table.set("down", Target::Unavailable { app: "down".into() });
    let p = proxy(table.clone()).await;
    let http = reqwest::Client::new();
    let get = |host: &str, path: &str| http.get(format!("http://{p}{path}")).header("host", host).send();

    let r = get("WEB.example.test:80", "/").await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, "hello".into()));
    let r = get("nope.example.test", "/").await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("No app"));
    let r = get("<script>.example.test", "/").await.unwrap();
    assert!(
        !r.text().await.unwrap().contains("<script>"),
        "hosts are escaped in pages"
    );
    let r = get("down.example.test", "/").await.unwrap();
    assert_eq!(r.status(), 503);

    let r = http
        .get(format!("http://{p}/headers"))
        .header("host", "web.example.test")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "203.0.113.7, 127.0.0.1 http web.example.test");

    // Streaming: the first chunk arrives before the upstream has written the second.
    let mut r = get("web.example.test", "/stream").await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), r.chunk())
        .await
        .expect("first chunk is not buffered");
    assert_eq!(first.unwrap().unwrap(), "first;");
    release.notify_one();
    assert_eq!(r.chunk().await.unwrap().unwrap(), "second");

    // WebSocket upgrade through the proxy.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{p}/ws").into_client_request().unwrap();
    req.headers_mut().insert("host", "web.example.test".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade through the proxy");
    ws.send(tokio_tungstenite::tungstenite::Message::Text("ping".into()))
        .await
        .unwrap();
    let reply = ws.next().await.unwrap().unwrap();
    assert_eq!(reply.into_text().unwrap().as_str(), "echo:ping");
}

#[tokio::test]
async fn a_swap_drains_in_flight_requests_before_release() {
    let release = Arc::new(tokio::sync::Notify::new());
    let a = upstream(release.clone()).await;
    let b = upstream(Arc::new(tokio::sync::Notify::new())).await;
    let table = Arc::new(RoutingTable::new("example.test"));
    table.set("web", Target::Up(up("web", a)));
    let p = proxy(table.clone()).await;

    // A streaming request is in flight on A when the route moves to B.
    let mut slow = reqwest::Client::new()
        .get(format!("http://{p}/stream"))
        .header("host", "web.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(slow.chunk().await.unwrap().unwrap(), "first;");
    let old = table.set("web", Target::Up(up("web", b))).expect("the old upstream");
    let drained = tokio::spawn(drain(old, Duration::from_secs(30)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!drained.is_finished(), "the old upstream is still in use");
    // New requests already go to B while A finishes its request.
    let r = reqwest::Client::new()
        .get(format!("http://{p}/"))
        .header("host", "web.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    release.notify_one();
    assert_eq!(slow.chunk().await.unwrap().unwrap(), "second");
    assert!(slow.chunk().await.unwrap().is_none());
    drop(slow);
    assert!(
        tokio::time::timeout(Duration::from_secs(10), drained)
            .await
            .unwrap()
            .unwrap(),
        "drained"
    );
}

/// A proxy on plain HTTP and HTTPS with `config` and a certificate for `web.example.test`.
async fn edge_proxy(table: Arc<RoutingTable>, config: ProxyConfig) -> (SocketAddr, SocketAddr, ProxyState, String) {
    let ca = common::certs::TestCa::new("proxy test CA");
    let leaf = ca.leaf(&["web.example.test"]);
    let state = ProxyState::default();
    let cert = ParsedCert::parse(&leaf.cert_pem, &leaf.key_pem).unwrap();
    state.certs.replace(std::collections::HashMap::from([(
        "web.example.test".to_string(),
        cert.key,
    )]));
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let secure = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (p, s) = (plain.local_addr().unwrap(), secure.local_addr().unwrap());
    let config = ProxyConfig {
        http_port: p.port(),
        https_port: Some(s.port()),
        ..config
    };
    let server = ProxyServer::with(table, state.clone(), config);
    tokio::spawn(serve_http(plain, server.clone(), CancellationToken::new()));
    let tls_config = tls::server_config(state.certs.clone());
    tokio::spawn(serve_https(secure, server, tls_config, CancellationToken::new()));
    (p, s, state, ca.pem)
}

#[tokio::test]
async fn tls_terminates_per_sni_with_h2_websockets_limits_and_metrics() {
    let backend = upstream(Arc::new(tokio::sync::Notify::new())).await;
    let table = Arc::new(RoutingTable::new("example.test"));
    table.set("web", Target::Up(up("web", backend)));
    let config = ProxyConfig {
        max_body_bytes: 1024,
        upstream_timeout: Duration::from_millis(500),
        ..ProxyConfig::default()
    };
    let (plain, secure, state, root) = edge_proxy(table, config).await;
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(root.as_bytes()).unwrap()])
        .resolve("web.example.test", secure)
        .resolve("other.example.test", secure)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("https://web.example.test:{}", secure.port());

    let r = client.get(format!("{base}/headers")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "ALPN picks h2");
    assert_eq!(
        r.text().await.unwrap(),
        format!("127.0.0.1 https web.example.test:{}", secure.port())
    );
    // No certificate for a name: the port answers, the handshake fails, nothing is served.
    assert!(tokio::net::TcpStream::connect(secure).await.is_ok());
    assert!(
        client
            .get(format!("https://other.example.test:{}/", secure.port()))
            .send()
            .await
            .is_err()
    );
    // Plain HTTP for a name with a certificate redirects, except ACME challenges.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .get(format!("http://{plain}/p?q=1"))
        .header("host", "web.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], format!("{base}/p?q=1").as_str());
    // A Host that is not a name is refused, never redirected (it would match a wildcard).
    let r = http
        .get(format!("http://{plain}/"))
        .header("host", "1249763876/.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    state.challenges.insert("tok", "tok.thumb");
    let r = http
        .get(format!("http://{plain}/.well-known/acme-challenge/tok"))
        .header("host", "web.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (200, "tok.thumb".into())
    );

    // Body limit: declared too large, and streamed past the limit.
    let r = client
        .post(format!("{base}/upload"))
        .body(vec![b'x'; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = client
        .post(format!("{base}/upload"))
        .body(vec![b'x'; 512])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "512");
    let chunks = futures::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 512])));
    let r = client
        .post(format!("{base}/upload"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "a streamed body over the limit is cut off");
    // An app slower than the upstream timeout gets 504.
    let r = client.get(format!("{base}/slow")).send().await.unwrap();
    assert_eq!(r.status(), 504);

    // WebSocket over TLS (HTTP/1.1 upgrade after the handshake).
    let connector = tokio_rustls::TlsConnector::from(Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates({
                let mut roots = rustls::RootCertStore::empty();
                use rustls_pki_types::pem::PemObject;
                roots
                    .add(rustls_pki_types::CertificateDer::from_pem_slice(root.as_bytes()).unwrap())
                    .unwrap();
                roots
            })
            .with_no_client_auth(),
    ));
    let tcp = tokio::net::TcpStream::connect(secure).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("web.example.test").unwrap();
    let tls_stream = connector.connect(name, tcp).await.unwrap();
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("wss://web.example.test:{}/ws", secure.port()), tls_stream)
            .await
            .expect("WebSocket over TLS");
    ws.send(tokio_tungstenite::tungstenite::Message::Text("tls".into()))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap().into_text().unwrap().as_str(),
        "echo:tls"
    );

    let traffic = state.metrics.snapshot(Some("web"));
    let web = &traffic[0];
    assert!(web.requests >= 6, "{web:?}");
    assert_eq!((web.status["1xx"], web.status["2xx"]), (1, 2), "{web:?}");
    assert_eq!((web.status["4xx"], web.status["5xx"]), (2, 1), "{web:?}");
    assert_eq!(web.proxy_errors, 3, "413 twice and 504 are the proxy's own: {web:?}");
    assert!(web.latency_p99_ms.is_some());
}

/// RFC 9112 §3.2: a request with two Host headers is refused, and an absolute-form
/// target names the host (its Host header is ignored), so the proxy and the app it reaches
/// never disagree about where a request goes.
#[tokio::test]
async fn two_hosts_are_refused_and_absolute_targets_name_the_host() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let release = Arc::new(tokio::sync::Notify::new());
    let backend = upstream(release).await;
    let table = Arc::new(RoutingTable::new("example.test"));
    table.set("web", Target::Up(up("web", backend)));
    let p = proxy(table).await;
    let raw = |req: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(p).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out)).await;
        out
    };
    let two =
        raw("GET / HTTP/1.1\r\nHost: web.example.test\r\nHost: other.example.test\r\nConnection: close\r\n\r\n").await;
    assert!(two.starts_with("HTTP/1.1 400"), "{two}");
    let absolute =
        raw("GET http://web.example.test/headers HTTP/1.1\r\nHost: nothing.example.test\r\nConnection: close\r\n\r\n")
            .await;
    assert!(absolute.starts_with("HTTP/1.1 200"), "{absolute}");
    assert!(
        absolute.contains("web.example.test"),
        "the app saw the routed host: {absolute}"
    );
    let absolute_other =
        raw("GET http://nothing.example.test/ HTTP/1.1\r\nHost: web.example.test\r\nConnection: close\r\n\r\n").await;
    assert!(absolute_other.starts_with("HTTP/1.1 404"), "{absolute_other}");
}
