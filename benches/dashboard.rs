//! The dashboard's size and speed, and the CLI's start, each against a reference measured
//! in the same run on the same `sh0 serve`:
//!
//! - initial JavaScript and CSS over the wire (gzip, as the server sends them) for the
//!   first page, and the binary's size beside the embedded build's;
//! - navigation to the overview showing 50 apps in Chromium (playwright-core, when
//!   `SH0_NODE` and `dashboard/node_modules` are there), against a bare `fetch` of the
//!   same REST call from the same page;
//! - `sh0 app list --json` against `curl` of the same route: wall time and peak memory.
//!
//! Run with `cargo bench --bench dashboard`. Prints medians and ratios; asserts nothing.

mod support;

use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::start;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Wall time and peak resident memory (KB, from GNU time when installed) of a command.
fn run_timed(cmd: &[&str], env: &[(&str, &str)]) -> (Duration, Option<u64>) {
    let time = std::path::Path::new("/usr/bin/time").exists();
    let mut c = if time {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M"]).args(cmd);
        c
    } else {
        let mut c = Command::new(cmd[0]);
        c.args(&cmd[1..]);
        c
    };
    for (k, v) in env {
        c.env(k, v);
    }
    let t = Instant::now();
    let out = c.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rss = String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok());
    (took, rss.filter(|_| time))
}

fn main() {
    let server = start();
    let curl = |args: &[&str]| -> String {
        let out = Command::new("curl").arg("-sf").args(args).output().expect("curl");
        assert!(out.status.success(), "curl {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let auth = format!("authorization: Bearer {}", server.token);
    let call = |tool: &str, args: Value| {
        let url = format!("{}/api/v1/tools/{tool}", server.url);
        curl(&[
            "-X",
            "POST",
            "-H",
            &auth,
            "-H",
            "content-type: application/json",
            "-d",
            &args.to_string(),
            &url,
        ]);
    };
    call("project_create", json!({"name": "bench"}));
    for i in 0..50 {
        call(
            "app_create",
            json!({"name": format!("app-{i:02}"), "project": "bench", "port": 8080}),
        );
    }

    // --- Size: what the first page loads, compressed as sent ------------------------------
    let page = curl(&[&format!("{}/", server.url)]);
    let assets: Vec<&str> = page
        .split('"')
        .filter(|s| s.starts_with("/_app/immutable/") && (s.ends_with(".js") || s.ends_with(".css")))
        .collect();
    let (mut js, mut css, mut raw) = (0usize, 0usize, 0usize);
    for a in &assets {
        let url = format!("{}{a}", server.url);
        let size = |enc: &str| -> usize {
            curl(&[
                "-o",
                "/dev/null",
                "-w",
                "%{size_download}",
                "-H",
                &format!("accept-encoding: {enc}"),
                &url,
            ])
            .trim()
            .parse()
            .unwrap_or(0)
        };
        let gz = size("gzip");
        raw += size("identity");
        if a.ends_with(".js") { js += gz } else { css += gz }
    }
    let build: u64 = walk(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dashboard/build"
    )));
    let binary = std::fs::metadata(env!("CARGO_BIN_EXE_sh0")).unwrap().len();
    println!(
        "dashboard: first page loads {} files: JavaScript {:.1} KB gzip, CSS {:.1} KB gzip ({:.1} KB uncompressed)",
        assets.len(),
        js as f64 / 1024.0,
        css as f64 / 1024.0,
        raw as f64 / 1024.0
    );
    println!(
        "dashboard: binary {:.1} MB, of which the embedded build {:.2} MB ({:.1}%); without it (feature `dashboard` off) about {:.1} MB",
        binary as f64 / 1e6,
        build as f64 / 1e6,
        100.0 * build as f64 / binary as f64,
        (binary - build) as f64 / 1e6
    );

    // --- The CLI against curl ---------------------------------------------------------------
    let url = server.url.clone();
    let env = [("SH0_API_URL", url.as_str()), ("SH0_API_TOKEN", server.token.as_str())];
    let route = format!("{}/api/v1/apps", server.url);
    let (mut cli, mut by_curl, mut cli_rss, mut curl_rss) = (vec![], vec![], 0, 0);
    for _ in 0..30 {
        let (t, r) = run_timed(&[env!("CARGO_BIN_EXE_sh0"), "app", "list", "--json"], &env);
        cli.push(t);
        cli_rss = cli_rss.max(r.unwrap_or(0));
        let (t, r) = run_timed(&["curl", "-sf", "-H", &auth, &route], &[]);
        by_curl.push(t);
        curl_rss = curl_rss.max(r.unwrap_or(0));
    }
    let (cli, curl) = (median(cli), median(by_curl));
    println!(
        "cli: `sh0 app list --json` {:.1} ms (peak {:.1} MB) vs curl of GET /api/v1/apps {:.1} ms (peak {:.1} MB): {:.2}x",
        ms(cli),
        cli_rss as f64 / 1024.0,
        ms(curl),
        curl_rss as f64 / 1024.0,
        ms(cli) / ms(curl)
    );
    let mut version = vec![];
    for _ in 0..30 {
        version.push(run_timed(&[env!("CARGO_BIN_EXE_sh0"), "--version"], &[]).0);
    }
    println!("cli: `sh0 --version` {:.1} ms", ms(median(version)));

    // --- The overview with 50 apps, in Chromium ----------------------------------------------
    let node = std::env::var("SH0_NODE").unwrap_or_else(|_| "node".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboard/e2e/overview-speed.mjs");
    let out = Command::new(&node)
        .arg(script)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/dashboard"))
        .env("SH0_URL", server.url.replace("127.0.0.1", "localhost"))
        .env("SH0_BOOTSTRAP", &server.token)
        .output();
    match out {
        Ok(o) if o.status.success() => print!("{}", String::from_utf8_lossy(&o.stdout)),
        Ok(o) => println!(
            "overview: not measured: {}",
            String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
        ),
        Err(e) => println!("overview: not measured (no Node: {e}); set SH0_NODE"),
    }
}

fn walk(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}
