//! Backup of a database of more than 1 GB: sh0's peak memory while it streams the dump
//! through compression and encryption to the `local` destination, and its throughput
//! against `pg_dump` run by hand into /dev/null, in the same run. Needs Docker and the
//! database test images (`tests/db-images/build postgres`, which it runs). Run with
//! `cargo bench --bench backup` (`-- --rows N` for another size; the default makes about
//! 1.1 GB).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sh(cmd: &mut Command) -> String {
    let out = cmd.stderr(Stdio::inherit()).output().expect("run command");
    assert!(out.status.success(), "{cmd:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn call(api: u32, token: &str, tool: &str, args: &str) -> serde_json::Value {
    let out = sh(Command::new("curl").args([
        "-s",
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "content-type: application/json",
        "-d",
        args,
        &format!("http://127.0.0.1:{api}/api/v1/tools/{tool}"),
    ]));
    serde_json::from_str(&out).unwrap_or_else(|_| panic!("{tool}: {out}"))
}

/// Resident memory of a process, in KiB: now (VmRSS) and its peak so far (VmHWM).
fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    let rows: u64 = std::env::args()
        .skip_while(|a| a != "--rows")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_100_000);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    sh(Command::new("bash")
        .arg(root.join("tests/db-images/build"))
        .arg("postgres"));

    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let (api, http) = (20_400 + std::process::id() % 500, 20_900 + std::process::id() % 500);
    let mut server = Command::new(env!("CARGO_BIN_EXE_sh0"))
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args([
            "--listen",
            &format!("127.0.0.1:{api}"),
            "--http-port",
            &http.to_string(),
            "--https-port",
            "0",
            "--db-image",
            "postgres=sh0-test/postgres:latest",
        ])
        .env("SH0_LOG", "warn")
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", api as u16)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(20));
    }
    let token = std::fs::read_to_string(data.join("bootstrap-token"))
        .unwrap()
        .trim()
        .to_owned();
    call(api, &token, "project_create", r#"{"name":"bench"}"#);
    let db = call(
        api,
        &token,
        "database_create",
        r#"{"name":"bigdb","project":"bench","engine":"postgres"}"#,
    );
    let container = sh(Command::new("docker").args([
        "ps",
        "-q",
        "--filter",
        &format!("label=sh0.database={}", db["id"].as_str().expect("a database")),
    ]));
    let t = Instant::now();
    sh(Command::new("docker").args([
        "exec",
        &container,
        "psql",
        "-q",
        "-U",
        "bigdb",
        "-d",
        "bigdb",
        "-c",
        &format!(
            "CREATE TABLE big AS SELECT g AS id, md5(g::text) || repeat(md5((g * 7)::text), 28) AS pad \
             FROM generate_series(1, {rows}) g"
        ),
    ]));
    let size: u64 = sh(Command::new("docker").args([
        "exec",
        &container,
        "psql",
        "-tA",
        "-U",
        "bigdb",
        "-d",
        "bigdb",
        "-c",
        "SELECT pg_database_size('bigdb')",
    ]))
    .parse()
    .unwrap();
    println!(
        "backup: database of {:.2} GB ({rows} rows) made in {:.1} s",
        size as f64 / 1e9,
        t.elapsed().as_secs_f64()
    );

    // By hand: the dump tool into /dev/null.
    let t = Instant::now();
    sh(Command::new("sh").arg("-c").arg(format!(
        "docker exec {container} pg_dump -U bigdb -d bigdb --clean --if-exists --no-owner --no-privileges > /dev/null"
    )));
    let by_hand = t.elapsed();

    // sh0: dump, compress, encrypt, store (until `verifying`), then the verification.
    let pid = server.id();
    let (before, _) = rss(pid);
    let t = Instant::now();
    let b = call(api, &token, "backup_create", r#"{"database":"bigdb"}"#);
    let id = b["id"].as_str().expect("a backup").to_owned();
    let (mut peak, mut stored) = (before, None);
    let mut peak_dump = before;
    let verified = loop {
        let now = rss(pid).0;
        peak = peak.max(now);
        let got = call(api, &token, "backup_get", &format!(r#"{{"backup":"{id}"}}"#));
        let status = got["status"].as_str().unwrap_or("").to_owned();
        if status == "running" {
            peak_dump = peak_dump.max(now);
        }
        if stored.is_none() && status != "running" {
            stored = Some(t.elapsed());
        }
        if status != "running" && status != "verifying" {
            assert_eq!(status, "verified", "{got}");
            break (t.elapsed(), got);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stored = stored.expect("the backup was stored");
    let (_, hwm) = rss(pid);
    let _ = server.kill();
    let _ = server.wait();
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "docker rm -f {container} >/dev/null; docker volume ls -q --filter label=sh0.database={} | xargs -r docker volume rm >/dev/null",
            db["id"].as_str().unwrap()
        ))
        .status();

    let mb = |kib: u64| kib as f64 / 1024.0;
    println!(
        "backup: sh0 resident memory {:.1} MB before, {:.1} MB peak while dumping, {:.1} MB peak with the \
         verification (high-water mark {:.1} MB)",
        mb(before),
        mb(peak_dump),
        mb(peak),
        mb(hwm)
    );
    println!(
        "backup: pg_dump by hand to /dev/null   {:>7.1} s ({:.0} MB/s of database)",
        by_hand.as_secs_f64(),
        size as f64 / 1e6 / by_hand.as_secs_f64()
    );
    println!(
        "backup: sh0 dump+gzip+encrypt+store    {:>7.1} s ({:.0} MB/s), stored {:.1} MB",
        stored.as_secs_f64(),
        size as f64 / 1e6 / stored.as_secs_f64(),
        verified.1["size_bytes"].as_u64().unwrap_or(0) as f64 / 1e6
    );
    println!(
        "backup: ratio sh0/by hand = {:.2}x; with verification by restore {:.1} s",
        stored.as_secs_f64() / by_hand.as_secs_f64(),
        verified.0.as_secs_f64()
    );
}
