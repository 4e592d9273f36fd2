//! Git for the tests: a git host serving bare repositories over smart HTTP through the
//! real `git http-backend`, working clones to commit and push from, and the waits the git
//! tests share.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::docker::web_context;
use super::{Server, free_port};

pub const TOKEN: &str = "forge-token-0123456789";

/// A git host: bare repositories under a folder, served over smart HTTP.
pub struct GitHost {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl Drop for GitHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GitHost {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/git/http_backend.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(dir.path().join("repos"))
            .arg(port.to_string())
            .arg(TOKEN)
            .spawn()
            .expect("python3 runs the git host");
        std::fs::create_dir_all(dir.path().join("repos/private")).unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the git host did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { dir, port, child }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}.git", self.port)
    }

    /// A new bare repository `name` and a working clone of it; returns the clone.
    pub fn repo(&self, name: &str) -> PathBuf {
        let bare = self.dir.path().join("repos").join(format!("{name}.git"));
        git(
            self.dir.path(),
            &["init", "-q", "--bare", "--initial-branch=main", bare.to_str().unwrap()],
        );
        git(&bare, &["config", "uploadpack.allowReachableSHA1InWant", "true"]);
        let work = self.dir.path().join("work").join(name);
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q", "--initial-branch=main"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        work
    }
}

/// Runs git in `dir`; returns its trimmed output. Panics with what git said on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Writes the web app serving `body`, commits it on `branch` and pushes; returns the commit.
pub fn commit_web(work: &Path, branch: &str, body: &str) -> String {
    if git(work, &["branch", "--show-current"]) != branch {
        let exists = Command::new("git")
            .current_dir(work)
            .args(["rev-parse", "--verify", "-q", branch])
            .status()
            .unwrap()
            .success();
        let flag = if exists { "" } else { "-b" };
        let mut args = vec!["checkout", "-q"];
        if !flag.is_empty() {
            args.push(flag);
        }
        args.push(branch);
        git(work, &args);
    }
    for (path, data, mode) in web_context(body) {
        let p = work.join(&path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", &format!("serve {body}")]);
    git(work, &["push", "-q", "origin", branch]);
    git(work, &["rev-parse", "HEAD"])
}

pub async fn deployments(server: &Server, app: &str) -> Vec<Value> {
    server.must("deployment_list", json!({"app": app})).await["deployments"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until the app's newest deployment is for `sha` and finished; returns it.
pub async fn wait_commit(server: &Server, app: &str, sha: &str) -> Value {
    let started = Instant::now();
    loop {
        if let Some(d) = deployments(server, app).await.first()
            && d["commit"]["sha"] == sha
        {
            return server.wait_deployment(d["id"].as_str().unwrap()).await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "no deployment of {sha} on {app}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Project `shop` (made once) and app `app` in it, listening on 8080 like the web context.
pub async fn seed(server: &Server, app: &str) {
    let _ = server.call("project_create", json!({"name": "shop"})).await;
    server
        .must("app_create", json!({"name": app, "project": "shop", "port": 8080}))
        .await;
}

pub async fn serves(server: &Server, app: &str) -> String {
    server.via_proxy(app, "/").await.map(|(_, b)| b).unwrap_or_default()
}
