//! Malicious uploads are refused with a clear 4xx, and nothing is left behind: no app, no
//! staged upload, no unpacked file, nothing written outside the work area.

mod common;

use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

use common::Server;

/// A tar.gz with entries written raw (the tar crate refuses `..` through its safe API).
fn raw_targz(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(enc);
    for (name, kind, link, data) in entries {
        let mut h = tar::Header::new_gnu();
        {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn zip_of(entries: &[(&str, &[u8])], symlinks: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    for (name, target) in symlinks {
        w.add_symlink(*name, *target, opts).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A gzip bomb: one file of `mb` MiB of zeros.
fn bomb(mb: usize) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(enc);
    let mut h = tar::Header::new_gnu();
    h.set_size((mb * 1024 * 1024) as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "zeros.bin", std::io::repeat(0).take_exact(mb * 1024 * 1024))
        .unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

trait TakeExact: std::io::Read + Sized {
    fn take_exact(self, n: usize) -> std::io::Take<Self> {
        self.take(n as u64)
    }
}
impl<R: std::io::Read> TakeExact for R {}

fn many_files(n: usize) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(enc);
    for i in 0..n {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("f/{i}"), std::io::empty()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn dir_is_empty(p: &Path) -> bool {
    std::fs::read_dir(p).map(|mut d| d.next().is_none()).unwrap_or(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_archives_are_refused_and_leave_nothing() {
    let server = Server::start();
    let outside = server.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    // From <data>/builds/<upload>/src, five levels up is the test's temp dir.
    let escape = "../../../../outside/escaped.txt";
    let df: &[u8] = b"FROM scratch\n";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "tar path traversal",
            raw_targz(&[
                ("Dockerfile", tar::EntryType::Regular, "", df),
                (escape, tar::EntryType::Regular, "", b"x"),
            ]),
            "outside",
        ),
        (
            "tar absolute path",
            raw_targz(&[("/tmp/sh0-absolute-evil.txt", tar::EntryType::Regular, "", b"x")]),
            "outside",
        ),
        (
            "symlink to an absolute path",
            raw_targz(&[("etc", tar::EntryType::Symlink, "/etc", b"")]),
            "link",
        ),
        (
            "symlink climbing out",
            raw_targz(&[("up", tar::EntryType::Symlink, "../../../../outside", b"")]),
            "link",
        ),
        (
            "write through a planted symlink",
            raw_targz(&[
                ("d", tar::EntryType::Symlink, ".", b""),
                ("d/../../../../../outside/x", tar::EntryType::Regular, "", b"x"),
            ]),
            "outside",
        ),
        (
            "hard link out of the tree",
            raw_targz(&[("pw", tar::EntryType::Link, "/etc/passwd", b"")]),
            "link",
        ),
        (
            "hard link climbing out",
            raw_targz(&[("pw", tar::EntryType::Link, "../../../../outside/escaped.txt", b"")]),
            "link",
        ),
        (
            "zip slip",
            zip_of(&[("Dockerfile", df), ("../../../../outside/zip.txt", b"x")], &[]),
            "outside",
        ),
        (
            "zip symlink out",
            zip_of(&[("Dockerfile", df)], &[("l", "/etc/passwd")]),
            "link",
        ),
        ("gzip bomb", bomb(200), "bomb"),
        ("too many files", many_files(50_001), "more than 50000 files"),
        ("empty archive", raw_targz(&[]), "no files"),
        (
            "not an archive",
            b"just some text, not an archive at all".to_vec(),
            "neither a zip",
        ),
    ];
    for (what, archive, expect) in cases {
        let (status, body) = server.upload(None, "evil", archive).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["error"]["kind"], "invalid_input", "{what}: {body}");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(expect), "{what}: {msg}");
        assert!(dir_is_empty(&outside), "{what}: something was written outside");
        assert!(!Path::new("/tmp/sh0-absolute-evil.txt").exists());
        let data = server.data_dir();
        assert!(dir_is_empty(&data.join("uploads")), "{what}: a staged upload was left");
        assert!(dir_is_empty(&data.join("builds")), "{what}: an unpacked tree was left");
        let (_, apps) = server.call("app_list", json!({})).await;
        assert_eq!(
            apps["apps"],
            json!([]),
            "{what}: the app created for the upload was removed"
        );
    }

    // A clean archive sh0 cannot make a Dockerfile for: 422 with a helpful message, nothing left.
    let plain = raw_targz(&[("notes.txt", tar::EntryType::Regular, "", b"hi")]);
    let (status, body) = server.upload(None, "plain", plain).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("Dockerfile"),
        "{body}"
    );
    let (_, apps) = server.call("app_list", json!({})).await;
    assert_eq!(apps["apps"], json!([]));

    // Uploads need a key, and refuse a missing file or an unknown field.
    let form = reqwest::multipart::Form::new().text("name", "x");
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/apps/upload", server.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let form = reqwest::multipart::Form::new().text("name", "x");
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/apps/upload", server.url))
        .bearer_auth(&server.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("file"), "{v}");
}

/// The reported attack (an adversarial review): `s -> .`, a link that climbs out through
/// `s/s/s/...` and enough `..`, a link to that link, and `Dockerfile` a link to the chain, so
/// that writing a generated Dockerfile would create a host file. Every way an archive or a
/// directory reaches sh0 refuses it, and nothing is created outside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reported_link_chain_is_refused_on_every_path() {
    let server = Server::start();
    let outside = server.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let climb = format!(
        "../s/s/s/s/s/s/{}{}/created",
        "../".repeat(16),
        outside.display().to_string().trim_start_matches('/')
    );
    let package = br#"{"name":"x","main":"$(touch /tmp/sh0-pwned).js"}"#;
    let archive = raw_targz(&[
        ("package.json", tar::EntryType::Regular, "", package),
        ("s", tar::EntryType::Symlink, ".", b""),
        ("d/X", tar::EntryType::Symlink, &climb, b""),
        ("d/Y", tar::EntryType::Symlink, "X", b""),
        ("Dockerfile", tar::EntryType::Symlink, "d/Y", b""),
    ]);

    // The upload endpoint that creates and deploys an app.
    let (status, body) = server.upload(None, "evil", archive.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("link"), "{body}");
    // A staged upload checked by project_check (a read tool).
    let form =
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(archive).file_name("src.tar.gz"));
    let staged: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/uploads?for=project_check", server.url))
        .bearer_auth(&server.token)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, body) = server
        .call("project_check", json!({ "upload": staged["upload"] }))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("link"), "{body}");
    assert!(dir_is_empty(&outside));

    // The same tree on the user's disk: `sh0 check` and `sh0 push` read it beneath its root
    // (push sends no links at all), and the server cannot build it.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // No start command: the server answers 422 before any build, so no Docker is needed.
    std::fs::write(root.join("package.json"), br#"{"name":"x"}"#).unwrap();
    std::os::unix::fs::symlink(".", root.join("s")).unwrap();
    std::fs::create_dir(root.join("d")).unwrap();
    std::os::unix::fs::symlink(&climb, root.join("d/X")).unwrap();
    std::os::unix::fs::symlink("X", root.join("d/Y")).unwrap();
    std::os::unix::fs::symlink("d/Y", root.join("Dockerfile")).unwrap();
    let (code, out, _) = server.cli_in(root, &["check", "--json"]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = server.cli_in(root, &["push", "--name", "evil2"]);
    assert_eq!(code, 9, "{err}");
    assert!(dir_is_empty(&outside), "something was created outside");
    assert!(!Path::new("/tmp/sh0-pwned").exists());
    let data = server.data_dir();
    assert!(dir_is_empty(&data.join("builds")), "an unpacked tree was left");
}
