//! Docker for tests: a real daemon is required. Missing Docker is a failure with the
//! reason, never a skip (CI installs and starts it; see `.ci/run`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The base image app contexts build `FROM`: `scratch` plus the distribution's static
/// busybox, with its applets installed (so `/bin/sh`, `httpd`, `sleep` exist).
pub const BASE_IMAGE: &str = "sh0-test/busybox:latest";

/// Panics with instructions if Docker is unusable; builds the base image once.
pub fn require_docker() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let ok = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output();
        match ok {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "this test needs a running Docker daemon (CI=true runs never skip it): {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!("this test needs the docker CLI and a running daemon: {e}"),
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(busybox(), dir.path().join("busybox")).unwrap();
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
        )
        .unwrap();
        let out = Command::new("docker")
            .args(["build", "-q", "-t", BASE_IMAGE])
            .arg(dir.path())
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "building the test base image failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// The static busybox of the distribution (package busybox-static).
fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("the tests need a static busybox (apt-get install busybox-static)");
}

/// A build context serving `body` at `/` with busybox httpd on port 8080, plus a CGI
/// script at `/cgi-bin/headers` that prints the X-Forwarded-* headers it received.
pub fn web_context(body: &str) -> Vec<(String, Vec<u8>, u32)> {
    vec![
        (
            "Dockerfile".into(),
            format!("FROM {BASE_IMAGE}\nCOPY www /www\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n").into_bytes(),
            0o644,
        ),
        ("www/index.html".into(), body.as_bytes().to_vec(), 0o644),
        (
            "www/cgi-bin/headers".into(),
            b"#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"xff=$HTTP_X_FORWARDED_FOR proto=$HTTP_X_FORWARDED_PROTO host=$HTTP_X_FORWARDED_HOST\"\n".to_vec(),
            0o755,
        ),
    ]
}

/// A tar.gz of the given files.
pub fn targz(files: &[(String, Vec<u8>, u32)]) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(enc);
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_cksum();
        b.append_data(&mut h, path, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// Containers labelled as sh0's for an app id (running or not).
pub fn managed_containers(app_id: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "-q",
            "--filter",
            "label=sh0.managed=true",
            "--filter",
            &format!("label=sh0.app={app_id}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
