//! Test harness: a real `sh0 serve` process on a free loopback port with its own data
//! directory, and a Python venv with the official MCP SDK for the client checks.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sh0");

pub struct Server {
    pub url: String,
    pub token: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Server {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts a server and waits until it answers.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let child = Command::new(BIN)
            .args(["serve", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("SH0_LOG", "debug")
            .env_remove("SH0_MASTER_KEY")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn sh0 serve");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "sh0 serve did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let token = std::fs::read_to_string(dir.path().join("data/bootstrap-token"))
            .expect("bootstrap token");
        Self {
            url,
            token: token.trim().to_owned(),
            dir,
            child,
        }
    }

    /// Runs the CLI against this server.
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(BIN)
            .args(args)
            .env("SH0_API_URL", &self.url)
            .env("SH0_API_TOKEN", &self.token)
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .stdin(Stdio::null())
            .output()
            .expect("run sh0");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Calls a tool over REST by name with the owner key.
    pub async fn call(&self, tool: &str, args: Value) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/tools/{tool}", self.url))
            .bearer_auth(&self.token)
            .json(&args)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn audit_count(&self) -> usize {
        // Read the store directly so that counting does not itself add a record.
        let conn = rusqlite::Connection::open(self.data_dir().join("sh0.db")).expect("open db");
        conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get::<_, i64>(0))
            .expect("count") as usize
    }

    pub fn last_audit(&self) -> (String, String, String, Option<String>, String) {
        let conn = rusqlite::Connection::open(self.data_dir().join("sh0.db")).expect("open db");
        conn.query_row(
            "SELECT adapter, tool, outcome, error_kind, args FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .expect("last audit record")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Python packages the client checks need, pinned.
const PY_PACKAGES: &[&str] = &[
    "mcp==2.3.0",
    "jsonschema==4.25.1",
    "openapi-spec-validator==0.7.2",
];

/// A Python interpreter with the MCP SDK: `SH0_TEST_PYTHON` if set (CI prepares one), else a
/// venv under the target directory, created on first use. Never skipped: without Python
/// and PyPI these tests fail with the reason.
pub fn python() -> PathBuf {
    // Tests of one binary run in parallel: only one of them builds the venv.
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(prepare_python).clone()
}

fn prepare_python() -> PathBuf {
    if let Ok(p) = std::env::var("SH0_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("py-venv");
    let py = venv.join("bin/python");
    let marker = venv.join(format!(
        "ready-{}",
        PY_PACKAGES.join(",").replace(['=', '.'], "_")
    ));
    if marker.exists() {
        return py;
    }
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 -m venv failed: the MCP client checks need Python 3 with venv"
    );
    let ok = Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(PY_PACKAGES)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "pip install {PY_PACKAGES:?} failed");
    std::fs::write(&marker, b"").unwrap();
    py
}

/// Every tool name of this build.
pub fn tool_names() -> Vec<String> {
    sh0::registry::Registry::builtin()
        .iter()
        .map(|d| d.meta().name.to_string())
        .collect()
}
