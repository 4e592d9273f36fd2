//! What the benches share: a real `sh0 serve` on free loopback ports with its own data
//! directory, stopped when dropped. (A directory without `main.rs`: not a bench itself.)

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub url: String,
    pub token: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a server and waits until it answers with its bootstrap key.
pub fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (api, http, https) = (free_port(), free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_sh0"))
        .args(["serve", "--listen", &format!("127.0.0.1:{api}")])
        .args(["--http-port", &http.to_string(), "--https-port", &https.to_string()])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("SH0_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sh0 serve");
    let token_path = dir.path().join("data/bootstrap-token");
    let started = Instant::now();
    let token = loop {
        if let Ok(t) = std::fs::read_to_string(&token_path)
            && !t.trim().is_empty()
            && std::net::TcpStream::connect(("127.0.0.1", api)).is_ok()
        {
            break t.trim().to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "sh0 serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    Server {
        child,
        url: format!("http://127.0.0.1:{api}"),
        token,
        _dir: dir,
    }
}
