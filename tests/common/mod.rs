//! Test harness: a real `sh0 serve` process on a free loopback port with its own data
//! directory, and a Python venv with the official MCP SDK for the client checks.

#![allow(dead_code)]

pub mod accounts;
pub mod certs;
pub mod databases;
pub mod docker;
pub mod git;
pub mod model;
pub mod pebble;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sh0");

pub struct Server {
    pub url: String,
    pub token: String,
    pub dir: tempfile::TempDir,
    /// The proxy's port.
    pub http_port: u16,
    /// The proxy's HTTPS port.
    pub https_port: u16,
    api_port: u16,
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

    /// Starts a server (API and proxy on free loopback ports) and waits until it answers.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra `sh0 serve` arguments.
    ///
    /// Ports are picked free, but tests run in parallel: another test's server may take one
    /// of them before this one binds it. So the server must prove it is this one (its own
    /// bootstrap key works on the port); if not, or if it exited, it starts again on other
    /// ports.
    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        std::fs::write(dir.path().join("extra-args"), extra.join("\n")).unwrap();
        let mut attempt = 0;
        let (child, token, api_port, http_port, https_port) = loop {
            attempt += 1;
            let (api_port, http_port, https_port) = (free_port(), free_port(), free_port());
            let mut child = spawn(dir.path(), api_port, http_port, https_port);
            let token = std::fs::read_to_string(dir.path().join("data/bootstrap-token")).unwrap_or_default();
            let token = token.trim().to_owned();
            if child.try_wait().ok().flatten().is_none() && answers_to(api_port, &token) {
                break (child, token, api_port, http_port, https_port);
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(attempt < 5, "sh0 serve did not start on free ports five times");
        };
        Self {
            url: format!("http://127.0.0.1:{api_port}"),
            token,
            dir,
            http_port,
            https_port,
            api_port,
            child,
        }
    }

    /// Kills the server with SIGKILL (no shutdown of any kind).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same data directory and ports.
    pub fn restart(&mut self) {
        self.kill9();
        self.child = spawn(self.dir.path(), self.api_port, self.http_port, self.https_port);
    }

    /// A request through the proxy to `<app>.localhost`.
    pub async fn via_proxy(&self, app: &str, path: &str) -> Result<(u16, String), reqwest::Error> {
        let resp = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}{path}", self.http_port))
            .header("host", format!("{app}.localhost"))
            .send()
            .await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    /// Uploads an archive: a new app (`app: None`) or a new version of an existing one.
    pub async fn upload(&self, app: Option<&str>, name: &str, archive: Vec<u8>) -> (u16, Value) {
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(archive).file_name("src.tar.gz"))
            .text("name", name.to_owned())
            .text("port", "8080");
        let url = match app {
            Some(a) => format!("{}/api/v1/apps/{a}/upload", self.url),
            None => format!("{}/api/v1/apps/upload", self.url),
        };
        let resp = reqwest::Client::new()
            .post(url)
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Polls a deployment until it is no longer active; returns its final record.
    pub async fn wait_deployment(&self, id: &str) -> Value {
        let started = Instant::now();
        loop {
            let (status, body) = self
                .call(
                    "deployment_get",
                    serde_json::json!({ "deployment": id, "log_limit": 1 }),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            if body["active"] == false {
                return body["deployment"].clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "deployment {id} did not finish"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs the CLI against this server.
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        self.cli_in(self.dir.path(), args)
    }

    /// Runs the CLI in `cwd` against this server.
    pub fn cli_in(&self, cwd: &Path, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(BIN)
            .current_dir(cwd)
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

    /// Calls a tool over REST by name with `key`.
    pub async fn call_as(&self, key: &str, tool: &str, args: Value) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/tools/{tool}", self.url))
            .bearer_auth(key)
            .json(&args)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// [`Self::call_as`] for a call that must succeed; returns its result.
    pub async fn must_as(&self, key: &str, tool: &str, args: Value) -> Value {
        let (status, body) = self.call_as(key, tool, args.clone()).await;
        assert!(status < 300, "{tool} {args}: {status} {body}");
        body
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

    /// Calls a tool with the owner key; the call must succeed.
    pub async fn must(&self, tool: &str, args: Value) -> Value {
        let (status, body) = self.call(tool, args.clone()).await;
        assert_eq!(status, 200, "{tool} {args}: {body}");
        body
    }

    /// Creates project `project` and app `app` in it, asserting both succeed.
    pub async fn seed_app(&self, project: &str, app: &str) {
        let (status, body) = self
            .call("project_create", serde_json::json!({ "name": project }))
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = self
            .call("app_create", serde_json::json!({ "name": app, "project": project }))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// An MCP client over streamable HTTP with `key` (rmcp's client).
    pub async fn mcp_client_with(
        &self,
        key: &str,
    ) -> Result<rmcp::service::RunningService<rmcp::RoleClient, ()>, rmcp::service::ClientInitializeError> {
        use rmcp::ServiceExt;
        use rmcp::transport::StreamableHttpClientTransport;
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        let config =
            StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", self.url)).auth_header(key.to_owned());
        ().serve(StreamableHttpClientTransport::from_config(config)).await
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
    /// Stops the server and removes what it left in Docker (its containers and networks,
    /// found by its installation id), so that test runs do not pile them up on the daemon.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let instance: Option<String> = rusqlite::Connection::open(self.data_dir().join("sh0.db"))
            .and_then(|c| c.query_row("SELECT value FROM settings WHERE key = 'instance_id'", [], |r| r.get(0)))
            .ok();
        let Some(instance) = instance else { return };
        let filter = format!("label=sh0.instance={instance}");
        for (list, remove) in [
            (vec!["ps", "-aq", "--filter", &filter], vec!["rm", "-f"]),
            (vec!["network", "ls", "-q", "--filter", &filter], vec!["network", "rm"]),
        ] {
            let Ok(out) = Command::new("docker").args(&list).output() else {
                return;
            };
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(&remove)
                    .args(&ids)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

fn spawn(dir: &Path, api_port: u16, http_port: u16, https_port: u16) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("log file");
    let mut child = Command::new(BIN)
        .args(["serve", "--data-dir"])
        .arg(dir.join("data"))
        .args([
            "--listen",
            &format!("127.0.0.1:{api_port}"),
            "--http-port",
            &http_port.to_string(),
            "--https-port",
            &https_port.to_string(),
        ])
        .args(
            std::fs::read_to_string(dir.join("extra-args"))
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.is_empty()),
        )
        .env("SH0_LOG", "debug")
        .env_remove("SH0_MASTER_KEY")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn sh0 serve");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", api_port)).is_err() {
        if child.try_wait().ok().flatten().is_some() {
            break; // it could not start (a port was taken): the caller tries other ports
        }
        assert!(started.elapsed() < Duration::from_secs(30), "sh0 serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Whether the server on `port` takes `token` (a plain HTTP/1.1 request: no runtime here).
fn answers_to(port: u16, token: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let req = format!(
        "GET /api/v1/auth/me HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    let mut head = [0u8; 12];
    s.write_all(req.as_bytes()).is_ok() && s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

pub fn free_port() -> u16 {
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
    "schemathesis==4.32.5",
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
    let marker = venv.join(format!("ready-{}", PY_PACKAGES.join(",").replace(['=', '.'], "_")));
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
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(PY_PACKAGES)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "pip install {PY_PACKAGES:?} failed");
    std::fs::write(&marker, b"").unwrap();
    py
}

/// Every tool name of this build.
pub fn tool_names() -> Vec<String> {
    sh0::tools::registry()
        .iter()
        .map(|d| d.meta().name.to_string())
        .collect()
}
