//! `sh0 push` and its companions, as a developer uses them: a real server, real Docker,
//! the real binary in a project directory.

mod common;

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

use common::Server;
use common::docker::{BASE_IMAGE, require_docker, targz, web_context};

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (p, t) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, t).unwrap();
    }
}

fn project(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    (root, dir)
}

fn static_server() -> Server {
    Server::start_with(&["--base-image", &format!("static={BASE_IMAGE}")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_a_static_site_and_a_dockerfile_project() {
    require_docker();
    let server = static_server();
    let (_root, site) = project("My Site");
    write(
        &site,
        &[
            ("index.html", "hello from push"),
            (".env.staging", "SECRET=do-not-ship"),
            (".env", "X=1"),
        ],
    );

    let (code, out, err) = server.cli_in(&site, &["push"]);
    assert_eq!(code, 0, "{out}\n{err}");
    for expected in [
        "Pushing my-site",
        "Detected static --",
        "files (",
        "Uploading OK",
        "Building OK",
        "[ok] Live in",
        "-> http://my-site.localhost:",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in:\n{out}");
    }
    assert_eq!(
        server.via_proxy("my-site", "/").await.unwrap(),
        (200, "hello from push".into())
    );
    assert_eq!(server.via_proxy("my-site", "/.env.staging").await.unwrap().0, 404);
    let link: Value = serde_json::from_str(&std::fs::read_to_string(site.join(".sh0/link.json")).unwrap()).unwrap();
    assert_eq!(link["app_name"], "my-site");

    // The stored build context holds no .env file.
    for entry in std::fs::read_dir(server.data_dir().join("archives")).unwrap() {
        let mut ar = tar::Archive::new(std::fs::File::open(entry.unwrap().path()).unwrap());
        for e in ar.entries().unwrap() {
            let path = e.unwrap().path().unwrap().to_string_lossy().into_owned();
            assert!(!path.contains(".env"), "{path} was uploaded");
        }
    }

    // A second push redeploys the same app.
    write(&site, &[("index.html", "second version")]);
    let (code, out, err) = server.cli_in(&site, &["push", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let result: Value = serde_json::from_str(out.trim()).expect("--json prints one JSON result");
    assert_eq!(
        (result["ok"].as_bool(), result["app_id"].as_str()),
        (Some(true), link["app_id"].as_str())
    );
    assert_eq!(result["stack"], "static");
    assert_eq!(server.via_proxy("my-site", "/").await.unwrap().1, "second version");
    let (_, deps) = server.call("deployment_list", json!({"app": "my-site"})).await;
    assert_eq!(deps["deployments"].as_array().unwrap().len(), 2);
    let triggered: Vec<&str> = deps["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["triggered_by"].as_str().unwrap())
        .collect();
    assert_eq!(triggered, vec!["cli-push", "cli-push"]);

    // A project with its own Dockerfile.
    let (_root2, svc) = project("svc");
    for (path, data, _) in web_context("from dockerfile") {
        write(&svc, &[(&path, std::str::from_utf8(&data).unwrap())]);
    }
    let (code, out, err) = server.cli_in(&svc, &["push", "--name", "api", "--port", "8080"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Detected dockerfile"), "{out}");
    assert_eq!(server.via_proxy("api", "/").await.unwrap().1, "from dockerfile");

    // Companions: open prints the URL; logs read the linked app.
    let (code, out, _) = server.cli_in(&svc, &["logs", "--tail", "5"]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_while_a_deployment_runs_is_a_conflict() {
    require_docker();
    let server = static_server();
    let (_root, dir) = project("busy");
    write(&dir, &[("index.html", "one")]);
    let (code, out, err) = server.cli_in(&dir, &["push"]);
    assert_eq!(code, 0, "{out}{err}");
    let mut slow = web_context("slow");
    slow[0].1 = format!("FROM {BASE_IMAGE}\nRUN [\"sleep\", \"60\"]\n").into_bytes();
    let (status, first) = server.upload(Some("busy"), "busy", targz(&slow)).await;
    assert_eq!(status, 201, "{first}");
    let (code, out, err) = server.cli_in(&dir, &["push"]);
    assert_eq!(code, 6, "{out}{err}");
    assert!(
        err.contains(first["deployment_id"].as_str().unwrap()),
        "names what is running: {err}"
    );
    server
        .call("deployment_cancel", json!({"deployment": first["deployment_id"]}))
        .await;
}

#[tokio::test]
async fn guards_stop_a_push_before_anything_is_uploaded() {
    let server = Server::start();
    // Too many files.
    let (_r1, many) = project("many");
    for i in 0..50_001 {
        let sub = many.join(format!("d{}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(sub.join(i.to_string()), "").unwrap();
    }
    let (code, _, err) = server.cli_in(&many, &["push"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("more than 50000 files"), "{err}");
    // Too large (a sparse file: no disk is used).
    let (_r2, big) = project("big");
    std::fs::File::create(big.join("data.bin"))
        .unwrap()
        .set_len(501 * 1024 * 1024)
        .unwrap();
    let (code, _, err) = server.cli_in(&big, &["push"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("500 MB"), "{err}");
    // Nothing to upload: only secrets, which never leave.
    let (_r3, empty) = project("empty");
    write(&empty, &[(".env", "A=1"), (".env.ci", "B=2")]);
    let (code, _, err) = server.cli_in(&empty, &["push"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no files"), "{err}");
    // A directory name with no ASCII letters: a clear request for --name.
    for name in ["应用", "تطبيق"] {
        let (_r, dir) = project(name);
        write(&dir, &[("index.html", "x")]);
        let (code, _, err) = server.cli_in(&dir, &["push"]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("--name"), "{err}");
    }
    let (_, apps) = server.call("app_list", json!({})).await;
    assert_eq!(apps["apps"], json!([]), "nothing reached the server");
}

#[tokio::test]
async fn a_broken_connection_mid_upload_fails_cleanly() {
    // A server that reads the start of the request, then drops the connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            use std::io::Read;
            let mut s = stream;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            drop(s);
        }
    });
    let (_root, dir) = project("flaky");
    std::fs::write(dir.join("index.html"), "x".repeat(2_000_000)).unwrap();
    let out = Command::new(common::BIN)
        .current_dir(&dir)
        .args(["push", "--name", "flaky"])
        .env("SH0_API_URL", format!("http://127.0.0.1:{port}"))
        .env("SH0_API_TOKEN", "sh0_test")
        .env("XDG_CONFIG_HOME", dir.join("cfg"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{err}");
    assert!(err.contains("error:") && !err.contains("panicked"), "{err}");
    assert!(!dir.join(".sh0/link.json").exists());
}

#[tokio::test]
async fn check_login_config_and_project_check_tool() {
    let server = Server::start();
    let (_root, dir) = project("checked");
    write(
        &dir,
        &[
            ("requirements.txt", "flask\n"),
            (
                "app.py",
                "app = Flask(__name__)\napp.run(host='127.0.0.1', debug=True)\n",
            ),
        ],
    );
    // Offline check.
    let (code, out, _) = server.cli_in(&dir, &["check", "--json"]);
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (report["stack"].as_str(), report["framework"].as_str()),
        (Some("python"), Some("Flask"))
    );
    assert!(report["score"].as_u64().unwrap() < 100);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "net/localhost-bind" && f["line"] == 2)
    );
    // The same check as a tool, on an uploaded archive.
    let archive = targz(&[("app.py".into(), b"app.run(host='127.0.0.1')\n".to_vec(), 0o644)]);
    let form =
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(archive).file_name("a.tar.gz"));
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/uploads?for=project_check", server.url))
        .bearer_auth(&server.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let upload: Value = r.json().await.unwrap();
    let (status, rep) = server.call("project_check", json!({"upload": upload["upload"]})).await;
    assert_eq!(status, 200, "{rep}");
    assert!(
        rep["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "net/localhost-bind")
    );
    // init writes a .sh0ignore with the always-excluded patterns.
    let (code, out, _) = server.cli_in(&dir, &["init"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        std::fs::read_to_string(dir.join(".sh0ignore"))
            .unwrap()
            .contains(".env*")
    );

    // login stores URL and key (0600); whoami then works from the file alone.
    let cfg = server.dir.path().join("logincfg");
    let run = |args: &[&str]| {
        Command::new(common::BIN)
            .args(args)
            .env_remove("SH0_API_URL")
            .env_remove("SH0_API_TOKEN")
            .env("XDG_CONFIG_HOME", &cfg)
            .output()
            .unwrap()
    };
    let out = run(&["login", "--url", &server.url, "--token", &server.token]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(cfg.join("sh0/config.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let out = run(&["whoami", "--json"]);
    assert!(out.status.success());
    let who: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(who["server"], server.url.as_str());
    let out = run(&["config", "list"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(&server.token),
        "the key is redacted"
    );
    let out = run(&["login", "--url", &server.url, "--token", "sh0_wrong"]);
    assert_eq!(out.status.code(), Some(3));
}
