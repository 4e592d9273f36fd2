//! The proxy in isolation, against local upstream servers: host routing, 404 and 503
//! pages, X-Forwarded-* headers, streamed responses, WebSocket upgrades, and draining.

use axum::Router;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use sh0::proxy::{ProxyServer, RoutingTable, Target, Upstream, serve_http, table::drain};

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
