//! Deploy overhead: time from upload to the first healthy answer through sh0's proxy,
//! against the raw `docker build` + `docker run` + first answer of the same context,
//! measured in the same run. Run with `cargo bench --bench deploy` (needs Docker and the
//! static busybox, like the tests). Prints medians and the ratio sh0 / raw.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BASE: &str = "sh0-bench/busybox:latest";
const RUNS: usize = 5;

fn sh(cmd: &mut Command) -> String {
    let out = cmd.stderr(Stdio::inherit()).output().expect("run command");
    assert!(out.status.success(), "{cmd:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn write_context(dir: &Path, body: &str) {
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {BASE}\nCOPY www /www\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n"),
    )
    .unwrap();
    std::fs::write(dir.join("www/index.html"), body).unwrap();
}

fn targz(dir: &Path) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(enc);
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

/// Polls `url` (with `host`) until it answers 200 with `body`.
fn wait_for(url: &str, host: &str, body: &str) {
    let started = Instant::now();
    loop {
        let out = Command::new("curl")
            .args(["-s", "-m", "2", "-H", &format!("Host: {host}"), url])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).trim() == body {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{url} never served {body}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let work = tempfile::tempdir().unwrap();
    // Base image: scratch + static busybox.
    let base = work.path().join("base");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::copy("/bin/busybox", base.join("busybox")).expect("static busybox (busybox-static)");
    std::fs::write(
        base.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .unwrap();
    sh(Command::new("docker")
        .args(["build", "-q", "-t", BASE])
        .arg(&base)
        .env("DOCKER_BUILDKIT", "0"));

    // Raw docker: build, run, first answer.
    let mut raw = Vec::new();
    for i in 0..RUNS {
        let ctx = work.path().join(format!("raw{i}"));
        let body = format!("raw-{i}-{}", std::process::id());
        write_context(&ctx, &body);
        let t = Instant::now();
        sh(Command::new("docker")
            .args(["build", "-q", "-t", &format!("sh0-bench/raw:{i}")])
            .arg(&ctx)
            .env("DOCKER_BUILDKIT", "0"));
        let id = sh(Command::new("docker").args(["run", "-d", "-p", "127.0.0.1::8080", &format!("sh0-bench/raw:{i}")]));
        let port = sh(Command::new("docker").args(["port", &id, "8080"]));
        let port = port.lines().next().unwrap().rsplit(':').next().unwrap().to_owned();
        wait_for(&format!("http://127.0.0.1:{port}/"), "localhost", &body);
        raw.push(t.elapsed());
        sh(Command::new("docker").args(["rm", "-f", &id]));
    }

    // sh0: upload, build, start, health check, route swap, first answer through the proxy.
    let data = work.path().join("data");
    let (api, http) = (19_400 + std::process::id() % 500, 19_900 + std::process::id() % 500);
    let mut server = Command::new(env!("CARGO_BIN_EXE_sh0"))
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args([
            "--listen",
            &format!("127.0.0.1:{api}"),
            "--http-port",
            &http.to_string(),
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
    let mut sh0 = Vec::new();
    for i in 0..RUNS {
        let ctx = work.path().join(format!("sh0{i}"));
        let body = format!("sh0-{i}-{}", std::process::id());
        write_context(&ctx, &body);
        let archive = work.path().join(format!("sh0{i}.tar.gz"));
        std::fs::File::create(&archive)
            .unwrap()
            .write_all(&targz(&ctx))
            .unwrap();
        let url = if i == 0 {
            format!("http://127.0.0.1:{api}/api/v1/apps/upload")
        } else {
            format!("http://127.0.0.1:{api}/api/v1/apps/bench/upload")
        };
        let t = Instant::now();
        sh(Command::new("curl").args([
            "-sf",
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-F",
            &format!("file=@{}", archive.display()),
            "-F",
            "name=bench",
            "-F",
            "port=8080",
            &url,
        ]));
        wait_for(&format!("http://127.0.0.1:{http}/"), "bench.localhost", &body);
        sh0.push(t.elapsed());
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = Command::new("sh")
        .arg("-c")
        .arg("docker ps -aq --filter label=sh0.app | xargs -r docker rm -f >/dev/null")
        .status();

    let (r, s) = (median(raw), median(sh0));
    println!(
        "deploy: raw docker build+run+first answer  median {:>8.1} ms ({RUNS} runs)",
        r.as_secs_f64() * 1e3
    );
    println!(
        "deploy: sh0 upload to first healthy answer median {:>8.1} ms ({RUNS} runs)",
        s.as_secs_f64() * 1e3
    );
    println!(
        "deploy: ratio sh0/raw = {:.2}x, overhead {:+.0} ms",
        s.as_secs_f64() / r.as_secs_f64(),
        (s.as_secs_f64() - r.as_secs_f64()) * 1e3
    );
}
