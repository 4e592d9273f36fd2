//! MCP against REST: the same read tool (`app_list`) called over one kept-alive HTTP
//! connection as `GET /api/v1/apps` and as an MCP `tools/call` at `/mcp`, in both protocol
//! generations (a 2025-11-25 session and stateless 2026-07-28 requests), measured in the
//! same run against the same `sh0 serve`. Run with `cargo bench --bench mcp`; prints p50
//! and p99 of each and the MCP − REST difference at the median.

mod support;

use std::time::{Duration, Instant};

use support::start;

use serde_json::{Value, json};

const WARMUP: usize = 200;
const RUNS: usize = 3000;

/// The body of an SSE or JSON answer: the JSON-RPC response in it.
fn rpc_result(content_type: &str, body: &str) -> Value {
    let text = if content_type.starts_with("text/event-stream") {
        body.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .rfind(|l| l.contains("\"id\""))
            .unwrap_or_default()
            .to_owned()
    } else {
        body.to_owned()
    };
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {body}"));
    assert!(v.get("error").is_none(), "MCP error: {v}");
    v
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure<F, Fut>(mut call: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..WARMUP {
        call().await;
    }
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        call().await;
        times.push(t.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let server = start();
    // One connection, kept alive, for every request.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let auth = format!("Bearer {}", server.token);
    // Something to list.
    for i in 0..5 {
        let r = http
            .post(format!("{}/api/v1/projects", server.url))
            .header("authorization", &auth)
            .json(&json!({"name": format!("bench-{i}")}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "project_create: {}", r.status());
    }

    let rest_url = format!("{}/api/v1/apps", server.url);
    let rest = measure(|| async {
        let r = http.get(&rest_url).header("authorization", &auth).send().await.unwrap();
        assert!(r.status().is_success());
        r.bytes().await.unwrap();
    })
    .await;

    let mcp_url = format!("{}/mcp", server.url);
    let post = |body: Value, headers: Vec<(&'static str, String)>| {
        let mut req = http
            .post(&mcp_url)
            .header("authorization", &auth)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };

    // 2025-11-25: a session.
    let init = post(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}}}),
        vec![],
    )
    .await
    .unwrap();
    let session = init.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    init.bytes().await.unwrap();
    let legacy_headers = || {
        vec![
            ("mcp-session-id", session.clone()),
            ("mcp-protocol-version", "2025-11-25".to_owned()),
        ]
    };
    post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        legacy_headers(),
    )
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "app_list", "arguments": {}}});
    let legacy = measure(|| async {
        let r = post(call.clone(), legacy_headers()).await.unwrap();
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        rpc_result(&ct, &r.text().await.unwrap());
    })
    .await;

    // 2026-07-28: stateless, the version in the header and in `_meta`.
    let stateless_call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "app_list", "arguments": {}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}}}});
    let stateless = measure(|| async {
        let r = post(
            stateless_call.clone(),
            vec![
                ("mcp-protocol-version", "2026-07-28".to_owned()),
                ("mcp-method", "tools/call".to_owned()),
                ("mcp-name", "app_list".to_owned()),
            ],
        )
        .await
        .unwrap();
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        rpc_result(&ct, &r.text().await.unwrap());
    })
    .await;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("app_list over one kept-alive connection, {RUNS} calls each after {WARMUP} warm-up calls");
    println!("{:<28} {:>9} {:>9} {:>14}", "", "p50 ms", "p99 ms", "p50 − REST ms");
    for (label, (p50, p99)) in [
        ("REST GET /api/v1/apps", rest),
        ("MCP 2025-11-25 (session)", legacy),
        ("MCP 2026-07-28 (stateless)", stateless),
    ] {
        println!(
            "{label:<28} {:>9.3} {:>9.3} {:>14.3}",
            ms(p50),
            ms(p99),
            ms(p50) - ms(rest.0)
        );
    }
}
