//! Git over SSH with the app's deploy key, against the distribution's `sshd` on a loopback
//! port: the key sh0 made is the only way in, the server's host key is pinned on first
//! use and shown, a wrong key or a changed host key is a clear error, and the app keeps
//! serving through every failure.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use common::docker::require_docker;
use common::git::{GitHost, commit_web, seed, serves};
use common::{Server, free_port};

/// `sshd` on 127.0.0.1:`port`, letting in the keys of `authorized_keys` only.
struct Sshd {
    child: Child,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    fn start(dir: &Path, port: u16, host_key: &Path) -> Self {
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("the ssh tests need the distribution's sshd (apt-get install openssh-server)");
        // sshd's privilege separation wants this folder.
        let _ = std::fs::create_dir_all("/run/sshd");
        let config = dir.join(format!("sshd_config_{port}"));
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}/sshd-{port}.pid\n\
                 AuthorizedKeysFile {}/authorized_keys\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n",
                host_key.display(),
                dir.display(),
                dir.display()
            ),
        )
        .unwrap();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("sshd-{port}.log"))).unwrap())
            .spawn()
            .expect("sshd starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "sshd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child }
    }
}

fn host_key(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_over_ssh_with_its_deploy_key_and_pins_the_host_key() {
    require_docker();
    let host = GitHost::start();
    let server = Server::start();
    let dir = host.dir.path().join("ssh");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let first_key = host_key(&dir, "host_a");
    let sshd = Sshd::start(&dir, port, &first_key);

    seed(&server, "sshapp").await;
    let work = host.repo("sshapp");
    commit_web(&work, "main", "over ssh");
    let bare = host.dir.path().join("repos/sshapp.git");
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let url = format!("ssh://{}@127.0.0.1:{port}{}", user.trim(), bare.display());
    let set = server.must("app_git_set", json!({"app": "sshapp", "url": url})).await;
    let public = set["deploy_key"]
        .as_str()
        .expect("an ssh source gets a deploy key")
        .to_owned();
    assert!(public.starts_with("ssh-ed25519 "), "{set}");
    assert!(public.ends_with("sh0 deploy key for sshapp"), "{set}");
    assert!(!set.to_string().contains("PRIVATE KEY"), "{set}");

    // Before the key is added to the server: refused, with what to do.
    let out = server.must("app_deploy", json!({"app": "sshapp"})).await;
    let dep = server.wait_deployment(out["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "failed", "{dep}");
    assert!(dep["error"].as_str().unwrap().contains("deploy_key_get"), "{dep}");

    // With the deploy key: cloned, built, serving; the host key is pinned and shown.
    std::fs::write(dir.join("authorized_keys"), format!("{public}\n")).unwrap();
    let out = server.must("app_deploy", json!({"app": "sshapp"})).await;
    let dep = server.wait_deployment(out["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "running", "{dep}");
    assert_eq!(serves(&server, "sshapp").await, "over ssh");
    let got = server.must("app_git_get", json!({"app": "sshapp"})).await;
    let pinned = got["pinned_host_keys"].to_string();
    let host_public = std::fs::read_to_string(first_key.with_extension("pub")).unwrap();
    let host_b64 = host_public.split_whitespace().nth(1).unwrap();
    assert!(pinned.contains(host_b64), "the server's key is pinned: {got}");

    // A new commit, redeployed over the pinned connection.
    let sha = commit_web(&work, "main", "over ssh again");
    let out = server.must("app_deploy", json!({"app": "sshapp", "commit": sha})).await;
    let dep = server.wait_deployment(out["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "running", "{dep}");
    assert_eq!(serves(&server, "sshapp").await, "over ssh again");

    // A wrong key (rotated, not yet on the server): a clear error; the app keeps serving.
    let got = server.must("deploy_key_get", json!({"app": "sshapp"})).await;
    assert_eq!(got["public_key"], public.as_str(), "{got}");
    let rotated = server.must("deploy_key_rotate", json!({"app": "sshapp"})).await;
    assert_ne!(rotated["public_key"].as_str().unwrap(), public);
    let out = server.must("app_deploy", json!({"app": "sshapp"})).await;
    let dep = server.wait_deployment(out["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "failed", "{dep}");
    assert!(
        dep["error"].as_str().unwrap().contains("Permission denied (publickey"),
        "{dep}"
    );
    assert_eq!(serves(&server, "sshapp").await, "over ssh again");

    // The server now presents another host key: refused as a changed key, still serving.
    std::fs::write(
        dir.join("authorized_keys"),
        format!("{}\n", rotated["public_key"].as_str().unwrap()),
    )
    .unwrap();
    drop(sshd);
    let _sshd = Sshd::start(&dir, port, &host_key(&dir, "host_b"));
    let out = server.must("app_deploy", json!({"app": "sshapp"})).await;
    let dep = server.wait_deployment(out["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "failed", "{dep}");
    assert!(dep["error"].as_str().unwrap().contains("host key"), "{dep}");
    assert_eq!(serves(&server, "sshapp").await, "over ssh again");
}
