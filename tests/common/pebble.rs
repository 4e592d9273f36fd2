//! Pebble, Let's Encrypt's test CA (Debian's `pebble` package), with `pebble-challtestsrv` as
//! its DNS server so every name resolves to 127.0.0.1. It validates HTTP-01 for real: it
//! connects to the proxy's plain HTTP port and fetches the challenge answer.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::certs::TestCa;
use super::free_port;

pub struct Pebble {
    /// The ACME directory URL.
    pub directory: String,
    /// The CA that signed Pebble's own HTTPS certificate: pass it as `--acme-ca-root`.
    pub https_root: PathBuf,
    management: String,
    ca: TestCa,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

fn require(bin: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{bin} is not installed: the ACME tests run against Pebble (`apt-get install pebble`; .ci/run does it)"
    );
}

fn wait_tcp(port: u16, what: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Pebble {
    /// Starts Pebble with its directory on `acme_port`, validating HTTP-01 challenges on
    /// `http_port` (the proxy's plain port).
    pub fn start_on(http_port: u16, acme_port: u16) -> Self {
        require("pebble");
        require("pebble-challtestsrv");
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("sh0 test root for Pebble's HTTPS");
        let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
        let https_root = dir.path().join("ca.pem");
        std::fs::write(&https_root, &ca.pem).unwrap();
        std::fs::write(dir.path().join("cert.pem"), &leaf.cert_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), &leaf.key_pem).unwrap();

        let acme = acme_port;
        let (dns, challtest_mgmt, mgmt) = (free_port(), free_port(), free_port());
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let challtest = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{challtest_mgmt}")])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(log("challtestsrv.log"))
            .stderr(log("challtestsrv.err"))
            .spawn()
            .expect("start pebble-challtestsrv");
        wait_tcp(challtest_mgmt, "pebble-challtestsrv");

        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": dir.path().join("cert.pem"),
            "privateKey": dir.path().join("key.pem"),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false
        }});
        let config_path = dir.path().join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(&config_path)
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            // No random sleeps before validation, no spurious badNonce, fresh authorizations.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .spawn()
            .expect("start pebble");
        wait_tcp(acme, "pebble");
        Self {
            directory: format!("https://127.0.0.1:{acme}/dir"),
            https_root,
            management: format!("https://127.0.0.1:{mgmt}"),
            ca,
            children: vec![pebble, challtest],
            _dir: dir,
        }
    }

    /// The root that Pebble's certificates chain to (generated at its start).
    pub async fn issuing_root(&self) -> String {
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.ca.pem.as_bytes()).unwrap()])
            .build()
            .unwrap();
        let resp = client
            .get(format!("{}/roots/0", self.management))
            .send()
            .await
            .expect("pebble management API");
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap()
    }

    /// What Pebble logged, for failure messages.
    pub fn log(&self) -> String {
        ["pebble.log", "pebble.err"]
            .iter()
            .map(|f| std::fs::read_to_string(self._dir.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn stop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}
