//! The proxy against nginx, in the same run, on loopback, in front of the same upstream
//! (an nginx answering a small body): requests per second and p99 latency under wrk (plain
//! HTTP and HTTPS), memory per idle keep-alive connection with 2,000 of them open, and full
//! TLS handshakes per second. Prints each figure for both and the ratio sh0 / nginx.
//!
//! Run with `cargo bench --bench proxy` (needs Debian's `nginx-light` and `wrk`). sh0's side
//! is this binary started again as a child (`SH0_BENCH_ROLE=proxy`) running the real
//! `ProxyServer` on a multi-threaded tokio runtime, as `sh0 serve` does, so its memory is
//! measured alone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sh0::proxy::certs::ParsedCert;
use sh0::proxy::{
    HostRoute, ProxyConfig, ProxyServer, ProxyState, RoutingTable, Target, Upstream, Workers, tls, workers,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// The host served over plain HTTP (the app's default host) and the one with a certificate.
const PLAIN_HOST: &str = "web.bench.test";
const TLS_HOST: &str = "tls.bench.test";
const IDLE_CONNECTIONS: usize = 2_000;
const WRK_SECONDS: &str = "8";
const HANDSHAKES: usize = 1_500;

fn main() {
    if std::env::var("SH0_BENCH_ROLE").as_deref() == Ok("proxy") {
        return run_sh0_proxy();
    }
    for tool in ["nginx", "wrk"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool} || test -x /usr/sbin/{tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "the proxy benchmark needs {tool}: apt-get install nginx-light wrk"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert_pem, key_pem, root_pem) = certificate();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &key_pem).unwrap();

    let upstream_port = free_port();
    let upstream = Nginx::start(dir.path(), "upstream", &upstream_conf(upstream_port));
    let (nginx_http, nginx_https) = (free_port(), free_port());
    let reference = Nginx::start(
        dir.path(),
        "reference",
        &proxy_conf(dir.path(), nginx_http, nginx_https, upstream_port),
    );
    let (sh0_http, sh0_https) = (free_port(), free_port());
    let mut sh0 = Command::new(std::env::current_exe().unwrap())
        .env("SH0_BENCH_ROLE", "proxy")
        .env("BENCH_UPSTREAM", upstream_port.to_string())
        .env("BENCH_HTTP", sh0_http.to_string())
        .env("BENCH_HTTPS", sh0_https.to_string())
        .env("BENCH_CERT", dir.path().join("cert.pem"))
        .env("BENCH_KEY", dir.path().join("key.pem"))
        .stdout(Stdio::null())
        .spawn()
        .expect("start the sh0 proxy");
    for port in [upstream_port, nginx_http, nginx_https, sh0_http, sh0_https] {
        wait_port(port);
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rows: Vec<(String, f64, f64, bool)> = Vec::new();
    for (label, scheme, host, sh0_port, nginx_port) in [
        ("HTTP", "http", PLAIN_HOST, sh0_http, nginx_http),
        ("HTTPS", "https", TLS_HOST, sh0_https, nginx_https),
    ] {
        // Alternate who goes first and keep each side's better round.
        let mut best: HashMap<&str, (f64, f64)> = HashMap::new();
        for round in 0..2 {
            let order = if round == 0 {
                [("nginx", nginx_port), ("sh0", sh0_port)]
            } else {
                [("sh0", sh0_port), ("nginx", nginx_port)]
            };
            for (who, port) in order {
                let (rps, p99) = wrk(scheme, host, port);
                eprintln!("{label} {who}: {rps:.0} requests/s, p99 {p99:.2} ms");
                let entry = best.entry(who).or_insert((0.0, f64::MAX));
                entry.0 = entry.0.max(rps);
                entry.1 = entry.1.min(p99);
            }
        }
        let (s, n) = (best["sh0"], best["nginx"]);
        rows.push((format!("{label} requests/s (wrk -c64)"), s.0, n.0, true));
        rows.push((format!("{label} p99 latency ms"), s.1, n.1, false));
    }

    let sh0_pid = sh0.id();
    let nginx_pids = reference.pids();
    let (sh0_kb, sh0_total) = rt.block_on(idle_cost(sh0_http, PLAIN_HOST, || rss_kb(&[sh0_pid])));
    let (nginx_kb, nginx_total) = rt.block_on(idle_cost(nginx_http, PLAIN_HOST, || rss_kb(&nginx_pids)));
    // nginx allocates its connection table up front (worker_connections), so its growth is
    // near zero: the resident total is the figure to compare.
    rows.push((
        format!("MB resident with {IDLE_CONNECTIONS} idle connections"),
        sh0_total / 1024.0,
        nginx_total / 1024.0,
        false,
    ));
    rows.push((
        "KB growth per idle keep-alive connection".into(),
        sh0_kb,
        nginx_kb,
        false,
    ));

    let sh0_hs = rt.block_on(handshakes(sh0_https, &root_pem));
    let nginx_hs = rt.block_on(handshakes(nginx_https, &root_pem));
    rows.push(("TLS handshakes/s (full, TLS 1.3, P-256)".into(), sh0_hs, nginx_hs, true));

    println!(
        "\nsh0 proxy vs nginx {} (same upstream, same run, loopback)",
        nginx_version()
    );
    println!("{:<48} {:>12} {:>12} {:>8}", "", "sh0", "nginx", "ratio");
    for (name, s, n, higher_better) in &rows {
        let note = if *higher_better { "" } else { " (lower is better)" };
        let ratio = if *n > 0.0 { format!("{:.2}x", s / n) } else { "-".into() };
        println!("{name:<48} {s:>12.1} {n:>12.1} {ratio:>8}{note}");
    }
    let _ = sh0.kill();
    let _ = sh0.wait();
    drop(reference);
    drop(upstream);
}

/// The child: sh0's proxy with one app at the upstream, a plain and a TLS host, on one
/// worker per core as `sh0 serve` runs it.
fn run_sh0_proxy() {
    let port = |k: &str| std::env::var(k).unwrap().parse::<u16>().unwrap();
    let table = Arc::new(RoutingTable::new("bench.test"));
    let upstream = SocketAddr::from(([127, 0, 0, 1], port("BENCH_UPSTREAM")));
    table.set(
        "web",
        Target::Up(Arc::new(Upstream {
            app: "web".into(),
            deployment: "bench".into(),
            addr: upstream,
        })),
    );
    table.set_hosts(HashMap::from([(TLS_HOST.to_string(), HostRoute::App("web".into()))]));
    let state = ProxyState::default();
    let read = |k: &str| std::fs::read_to_string(std::env::var(k).unwrap()).unwrap();
    let cert = ParsedCert::parse(&read("BENCH_CERT"), &read("BENCH_KEY")).unwrap();
    state.certs.replace(HashMap::from([(TLS_HOST.to_string(), cert.key)]));
    // wrk connects by IP address and sends no server name, like nginx's default server.
    state.certs.set_default(TLS_HOST);
    let config = ProxyConfig {
        http_port: port("BENCH_HTTP"),
        https_port: Some(port("BENCH_HTTPS")),
        ..ProxyConfig::default()
    };
    let proxy = ProxyServer::with(table, state.clone(), config);
    let stop = CancellationToken::new();
    let n = workers::default_count();
    let at = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let tls_config = tls::server_config(state.certs.clone());
    let http = Workers::spawn(at(port("BENCH_HTTP")), n, &proxy, None, &stop).unwrap();
    let https = Workers::spawn(at(port("BENCH_HTTPS")), n, &proxy, Some(tls_config), &stop).unwrap();
    http.join();
    https.join();
}

/// An ECDSA P-256 certificate for the TLS host, from a throwaway CA: (chain, key, root).
fn certificate() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let root = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![TLS_HOST.to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (leaf.pem(), key.serialize_pem(), root)
}

struct Nginx {
    child: Child,
    pid_file: std::path::PathBuf,
}

impl Nginx {
    fn start(dir: &Path, name: &str, server_blocks: &str) -> Self {
        let prefix = dir.join(name);
        std::fs::create_dir_all(prefix.join("logs")).unwrap();
        let pid_file = prefix.join("nginx.pid");
        let conf = format!(
            "daemon off;\nworker_processes auto;\nworker_rlimit_nofile 16384;\npid {pid};\n\
             error_log {prefix}/logs/error.log warn;\nevents {{ worker_connections 8192; }}\n\
             http {{\n  access_log off;\n  keepalive_requests 1000000;\n  keepalive_timeout 75s;\n\
             client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n{server_blocks}\n}}\n",
            pid = pid_file.display(),
            prefix = prefix.display(),
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf_path)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        Self { child, pid_file }
    }

    /// The master and its workers.
    fn pids(&self) -> Vec<u32> {
        let started = Instant::now();
        while !self.pid_file.exists() && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        let master = self.child.id();
        let out = Command::new("pgrep")
            .args(["-P", &master.to_string()])
            .output()
            .unwrap();
        let workers: Vec<u32> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        assert!(!workers.is_empty(), "no nginx workers found under {master}");
        std::iter::once(master).chain(workers).collect()
    }

    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill").arg(self.child.id().to_string()).status();
            let _ = self.child.wait();
        }
    }
}

/// A panicking run (wrk saw errors) must not leave nginx processes behind.
impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

fn upstream_conf(port: u16) -> String {
    format!(
        "  server {{ listen 127.0.0.1:{port} reuseport; location / {{ default_type text/plain; \
         return 200 \"hello from the upstream, a small response body\\n\"; }} }}"
    )
}

fn proxy_conf(dir: &Path, http: u16, https: u16, upstream: u16) -> String {
    let location = "location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; \
                    proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; \
                    proxy_set_header X-Forwarded-Proto $scheme; proxy_buffering off; }";
    format!(
        "  upstream app {{ server 127.0.0.1:{upstream}; keepalive 128; }}\n\
         server {{ listen 127.0.0.1:{http}; server_name {PLAIN_HOST}; {location} }}\n\
         server {{ listen 127.0.0.1:{https} ssl http2; server_name {TLS_HOST}; \
         ssl_certificate {cert}; ssl_certificate_key {key}; ssl_protocols TLSv1.2 TLSv1.3; \
         ssl_session_tickets off; ssl_session_cache off; {location} }}",
        cert = dir.join("cert.pem").display(),
        key = dir.join("key.pem").display(),
    )
}

fn nginx_version() -> String {
    let out = Command::new("nginx").arg("-v").output().unwrap();
    String::from_utf8_lossy(&out.stderr)
        .trim()
        .replace("nginx version: ", "")
}

/// Requests per second and p99 latency (ms) of one wrk run (2 threads, 64 connections).
fn wrk(scheme: &str, host: &str, port: u16) -> (f64, f64) {
    let out = Command::new("wrk")
        .args(["-t2", "-c64", "-d", WRK_SECONDS, "--latency", "-H"])
        .arg(format!("Host: {host}"))
        .arg(format!("{scheme}://127.0.0.1:{port}/"))
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("Non-2xx") && !text.contains("Socket errors"),
        "wrk saw errors against port {port}:\n{text}"
    );
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| millis(v.trim()))
        .unwrap_or_else(|| panic!("no 99% line in wrk output:\n{text}"));
    (rps, p99)
}

/// wrk's durations: `812.00us`, `1.25ms`, `2.01s`.
fn millis(v: &str) -> f64 {
    let num = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
    if let Some(us) = v.strip_suffix("us") {
        num(us) / 1000.0
    } else if let Some(ms) = v.strip_suffix("ms") {
        num(ms)
    } else if let Some(s) = v.strip_suffix('s') {
        num(s) * 1000.0
    } else {
        f64::NAN
    }
}

/// Resident memory of the processes, in KB.
fn rss_kb(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .sum()
}

/// Opens `IDLE_CONNECTIONS` keep-alive connections, each after one request, and returns the
/// growth of the server's resident memory per connection and its total (KB), measured while
/// they idle.
async fn idle_cost(port: u16, host: &str, rss: impl Fn() -> f64) -> (f64, f64) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss();
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let mut conns = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        conns.push(s);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss();
    drop(conns);
    ((after - before) / IDLE_CONNECTIONS as f64, after)
}

/// Full TLS handshakes per second (no resumption) from 16 concurrent clients.
async fn handshakes(port: u16, root_pem: &str) -> f64 {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(root_pem.as_bytes()).unwrap())
        .unwrap();
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let started = Instant::now();
    let per_task = HANDSHAKES / 16;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let connector = connector.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                    let name = rustls_pki_types::ServerName::try_from(TLS_HOST).unwrap();
                    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
                    drop(tls);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (per_task * 16) as f64 / started.elapsed().as_secs_f64()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(15), "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
