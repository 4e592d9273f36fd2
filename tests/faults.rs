//! Faults done for real, with what users see: the Docker daemon restarts under a serving
//! app (its container comes back through its restart policy on a new host port) and sh0
//! follows it without a restart of its own; a container removed by hand shows in the
//! app's state within seconds. This file restarts the daemon, so it holds one test: cargo
//! runs test files one after another, and no other test shares the daemon meanwhile.

mod common;

use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;
use common::docker::{require_docker, targz, web_context};

/// Restarts the Docker daemon: through systemd when it runs it, else (CI, where `.ci/test`
/// started it) by stopping the process and starting it again with the same arguments.
fn restart_docker_daemon() {
    let pid = String::from_utf8_lossy(&Command::new("pgrep").args(["-x", "dockerd"]).output().unwrap().stdout)
        .trim()
        .to_owned();
    assert!(!pid.is_empty(), "this test restarts dockerd, and none runs");
    let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap_or("0")
        .to_owned();
    if ppid == "1"
        && Command::new("systemctl")
            .args(["is-active", "--quiet", "docker"])
            .status()
            .is_ok_and(|s| s.success())
    {
        assert!(
            Command::new("systemctl")
                .args(["restart", "docker"])
                .status()
                .unwrap()
                .success()
        );
    } else {
        let argv: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
            .unwrap()
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let started = Instant::now();
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(started.elapsed() < Duration::from_secs(60), "dockerd did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::remove_file("/var/run/docker.pid");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open("/var/log/sh0-ci-dockerd.log")
            .unwrap();
        // `setsid --fork` returns at once and leaves the daemon in its own session.
        let started = Command::new("setsid")
            .arg("--fork")
            .args(&argv)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .status()
            .expect("start dockerd again");
        assert!(started.success());
    }
    let started = Instant::now();
    while !Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(started.elapsed() < Duration::from_secs(90), "dockerd did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The loopback port Docker publishes the container's 8080 on.
fn host_port(id: &str) -> String {
    let out = Command::new("docker").args(["port", id, "8080/tcp"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn container_running(id: &str) -> bool {
    Command::new("docker")
        .args(["inspect", "-f", "{{.State.Running}}", id])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
}

async fn app_runtime(server: &Server) -> Value {
    let (status, app) = server.call("app_get", json!({"app": "web"})).await;
    assert_eq!(status, 200, "{app}");
    app["runtime"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_docker_restart_and_a_removed_container_are_followed() {
    require_docker();
    let server = Server::start();
    let (status, resp) = server.upload(None, "web", targz(&web_context("v1"))).await;
    assert_eq!(status, 201, "{resp}");
    let dep = server.wait_deployment(resp["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "running", "{dep}");
    let (status, body) = server.via_proxy("web", "/").await.unwrap();
    assert_eq!((status, body.trim()), (200, "v1"));
    let container = common::docker::managed_containers(resp["app_id"].as_str().unwrap())
        .into_iter()
        .next()
        .expect("the serving container");

    // The daemon restarts (as on every Docker upgrade). sh0 keeps running.
    let port_before = host_port(&container);
    restart_docker_daemon();
    let back = Instant::now();
    while !container_running(&container) {
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "the restart policy did not bring the container back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let container_back = Instant::now();
    let port_after = host_port(&container);
    println!("host port before the restart: {port_before}, after: {port_after}");
    loop {
        if let Ok((200, body)) = server.via_proxy("web", "/").await {
            assert_eq!(body.trim(), "v1");
            break;
        }
        assert!(
            container_back.elapsed() < Duration::from_secs(60),
            "the app did not answer again after its container came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "the app answered {:.1} s after its container was back",
        container_back.elapsed().as_secs_f64()
    );
    let runtime = app_runtime(&server).await;
    assert_eq!(runtime["state"], "running", "{runtime}");

    // Someone removes the container by hand: the app's state says so, and it answers 503.
    assert!(
        Command::new("docker")
            .args(["rm", "-f", &container])
            .status()
            .unwrap()
            .success()
    );
    let removed = Instant::now();
    loop {
        let runtime = app_runtime(&server).await;
        if runtime["state"] == "removed" {
            assert!(runtime["detail"].as_str().unwrap().contains("outside sh0"), "{runtime}");
            break;
        }
        assert!(removed.elapsed() < Duration::from_secs(30), "{runtime}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = server.via_proxy("web", "/").await.unwrap();
    assert_eq!(status, 503);
}
