//! Git deploys with real git: bare repositories served over smart HTTP by `git
//! http-backend`, deployed from, updated, pushed to; webhook deliveries in each forge's
//! payload shape and signature scheme (the forge is the one fake: its requests); preview
//! apps of pull requests; `git push` to sh0; and hostile repositories and inputs.

mod common;

use std::process::Command;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use common::Server;
use common::accounts::{key_for, setup_owner};
use common::docker::{managed_containers, require_docker};
use common::git::{GitHost, TOKEN, commit_web, deployments, git, seed, serves, wait_commit};

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Delivers `body` to the webhook with `headers`.
async fn deliver(url: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn github_push(secret: &str, delivery: &str, branch: &str, sha: &str) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let body = json!({"ref": format!("refs/heads/{branch}"), "before": "0".repeat(40), "after": sha,
                      "repository": {"full_name": "ada/web"}, "pusher": {"name": "ada"}})
    .to_string()
    .into_bytes();
    let headers = vec![
        ("x-github-event", "push".to_string()),
        ("x-github-delivery", delivery.to_string()),
        ("x-hub-signature-256", format!("sha256={}", hmac_hex(secret, &body))),
    ];
    (headers, body)
}

async fn delivery_log(server: &Server, app: &str) -> Vec<Value> {
    server.must("webhook_deliveries", json!({"app": app})).await["deliveries"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_from_git_by_webhook_with_previews_and_refuses_what_is_not_signed() {
    require_docker();
    let host = GitHost::start();
    let server = Server::start();
    let owner = setup_owner(&server, "owner@example.com").await;
    let key = key_for(&server, &owner, "admin", "admin", None).await;
    let work = host.repo("web");
    let v1 = commit_web(&work, "main", "v1");

    seed(&server, "web").await;
    let set = server
        .must_as(&key, "app_git_set", json!({"app": "web", "url": host.url("web")}))
        .await;
    assert_eq!(set["source"]["branch"], "main", "{set}");
    let out = server.must_as(&key, "app_deploy", json!({"app": "web"})).await;
    let dep = server.wait_deployment(out["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "running", "{dep}");
    assert_eq!(dep["source"], "git", "{dep}");
    assert_eq!(dep["commit"]["sha"], v1.as_str(), "{dep}");
    assert_eq!(dep["commit"]["message"], "serve v1", "{dep}");
    assert!(
        dep["commit"]["author"].as_str().unwrap().contains("ada@example.com"),
        "{dep}"
    );
    assert_eq!(serves(&server, "web").await, "v1");

    // The webhook: the secret is shown once.
    let hook = server.must_as(&key, "webhook_rotate", json!({"app": "web"})).await;
    let url = hook["url"].as_str().unwrap().to_owned();
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let again = server.must_as(&key, "webhook_get", json!({"app": "web"})).await;
    assert_eq!(
        (again["url"].as_str(), again["configured"].as_bool()),
        (Some(url.as_str()), Some(true)),
        "{again}"
    );
    assert!(!again.to_string().contains(&secret), "{again}");

    // GitHub: a signed push to main deploys that commit, as the webhook's hook.
    let v2 = commit_web(&work, "main", "v2");
    let (headers, body) = github_push(&secret, "gh-1", "main", &v2);
    let (status, answer) = deliver(&url, &headers, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "accepted", "{answer}");
    let dep = wait_commit(&server, "web", &v2).await;
    assert_eq!(dep["status"], "running", "{dep}");
    assert_eq!(dep["triggered_by"], "hook", "{dep}");
    assert_eq!(serves(&server, "web").await, "v2");
    let count = deployments(&server, "web").await.len();

    // The same delivery again, a replay under another id, a wrong signature, no signature,
    // an oversized body: nothing deploys, and each is recorded.
    let (status, answer) = deliver(&url, &headers, &body).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("replayed")), "{answer}");
    let mut other_id = headers.clone();
    other_id[1].1 = "gh-replay".into();
    let (_, answer) = deliver(&url, &other_id, &body).await;
    assert_eq!(answer["status"], "replayed", "{answer}");
    let mut forged = headers.clone();
    forged[2].1 = format!("sha256={}", hmac_hex("not-the-secret", &body));
    forged[1].1 = "gh-2".into();
    assert_eq!(deliver(&url, &forged, &body).await.0, 401);
    let unsigned: Vec<(&str, String)> = headers[..2].to_vec();
    assert_eq!(deliver(&url, &unsigned, &body).await.0, 401);
    let big = vec![b' '; 3 * 1024 * 1024];
    let (status, _) = deliver(&url, &headers, &big).await;
    assert_eq!(status, 400);
    let log = delivery_log(&server, "web").await;
    let verdicts: Vec<&str> = log.iter().map(|d| d["verdict"].as_str().unwrap()).collect();
    assert_eq!(
        verdicts[..6],
        [
            "too_large",
            "unsigned",
            "bad_signature",
            "replayed",
            "replayed",
            "accepted"
        ],
        "{log:?}"
    );
    assert_eq!(log[5]["forge"], "github");
    assert!(log[5]["deployment_id"].is_string(), "{}", log[5]);
    assert_eq!(deployments(&server, "web").await.len(), count, "nothing deployed");

    // Gitea/Forgejo (signature without prefix): a push to another branch is acknowledged
    // and ignored.
    let other = commit_web(&work, "feature", "feature");
    let body = json!({"ref": "refs/heads/feature", "after": other})
        .to_string()
        .into_bytes();
    let gitea = vec![
        ("x-gitea-event", "push".to_string()),
        ("x-github-event", "push".to_string()),
        ("x-gitea-delivery", "gt-1".to_string()),
        ("x-gitea-signature", hmac_hex(&secret, &body)),
    ];
    let (status, answer) = deliver(&url, &gitea, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["outcome"].as_str().unwrap().contains("ignored"), "{answer}");

    // A burst: GitLab (token header), then Bitbucket and the generic scheme while the first
    // deploys — the first and the latest deploy, the middle one never.
    git(&work, &["checkout", "-q", "main"]);
    let v3 = commit_web(&work, "main", "v3");
    let v4 = commit_web(&work, "main", "v4");
    let v5 = commit_web(&work, "main", "v5");
    let body = json!({"object_kind": "push", "ref": "refs/heads/main", "after": v3})
        .to_string()
        .into_bytes();
    let gitlab = vec![
        ("x-gitlab-event", "Push Hook".to_string()),
        ("x-gitlab-event-uuid", "gl-1".to_string()),
        ("x-gitlab-token", secret.clone()),
    ];
    assert_eq!(deliver(&url, &gitlab, &body).await.0, 200);
    let body = json!({"push": {"changes": [{"new": {"type": "branch", "name": "main", "target": {"hash": v4}}}]}})
        .to_string()
        .into_bytes();
    let bitbucket = vec![
        ("x-event-key", "repo:push".to_string()),
        ("x-request-uuid", "bb-1".to_string()),
        ("x-hook-uuid", "hook-1".to_string()),
        ("x-hub-signature", format!("sha256={}", hmac_hex(&secret, &body))),
    ];
    let (_, answer) = deliver(&url, &bitbucket, &body).await;
    assert!(answer["outcome"].as_str().unwrap().starts_with("queued"), "{answer}");
    let body = json!({"ref": "refs/heads/main", "after": v5}).to_string().into_bytes();
    let generic = vec![
        ("x-sh0-event", "push".to_string()),
        ("x-sh0-delivery", "g-1".to_string()),
        ("x-sh0-signature", format!("sha256={}", hmac_hex(&secret, &body))),
    ];
    let (_, answer) = deliver(&url, &generic, &body).await;
    assert!(answer["outcome"].as_str().unwrap().starts_with("queued"), "{answer}");
    let dep = wait_commit(&server, "web", &v5).await;
    assert_eq!(dep["status"], "running", "{dep}");
    assert_eq!(serves(&server, "web").await, "v5");
    let shas: Vec<String> = deployments(&server, "web")
        .await
        .iter()
        .map(|d| d["commit"]["sha"].to_string())
        .collect();
    assert!(shas.iter().any(|s| s.contains(&v3)), "{shas:?}");
    assert!(
        !shas.iter().any(|s| s.contains(&v4)),
        "the middle push never deploys: {shas:?}"
    );
    let log = delivery_log(&server, "web").await;
    let bb = log.iter().find(|d| d["forge"] == "bitbucket").unwrap();
    assert!(bb["outcome"].as_str().unwrap().contains("superseded"), "{bb}");

    // The audit log names the webhook's hook, through the hook adapter.
    let conn = rusqlite::Connection::open(server.data_dir().join("sh0.db")).unwrap();
    let (principal, adapter): (String, String) = conn
        .query_row(
            "SELECT principal, adapter FROM audit WHERE tool = 'app_deploy' AND outcome = 'ok' ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(principal.starts_with("hook:"), "{principal}");
    assert_eq!(adapter, "hook");
    let audit: String = conn
        .query_row("SELECT group_concat(args, ' ') FROM audit", [], |r| r.get(0))
        .unwrap();
    assert!(!audit.contains(&secret), "the webhook secret is never audited");

    // A pull request: opened → a preview at its own URL; updated → redeployed; closed →
    // gone with its containers and route.
    let feat = commit_web(&work, "feat", "preview one");
    let pr_from = |repo: &str, number: u32, action: &str, sha: &str, id: &str| {
        let body = json!({"action": action, "number": number,
                          "pull_request": {"number": number,
                                           "head": {"ref": "feat", "sha": sha, "repo": {"full_name": repo}},
                                           "base": {"ref": "main", "repo": {"full_name": "ada/web"}}}})
        .to_string()
        .into_bytes();
        let headers = vec![
            ("x-github-event", "pull_request".to_string()),
            ("x-github-delivery", id.to_string()),
            ("x-hub-signature-256", format!("sha256={}", hmac_hex(&secret, &body))),
        ];
        (headers, body)
    };
    let pr = |action: &str, sha: &str, id: &str| pr_from("ada/web", 7, action, sha, id);
    // From a fork: its code is anyone's, so no preview gets the app's environment.
    let (h, b) = pr_from("mallory/web", 8, "opened", &feat, "pr-fork");
    let (status, answer) = deliver(&url, &h, &b).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["outcome"].as_str().unwrap().contains("another repository"),
        "{answer}"
    );
    let (h, b) = pr("opened", &feat, "pr-1");
    let (status, answer) = deliver(&url, &h, &b).await;
    assert_eq!(status, 200, "{answer}");
    let dep = wait_commit(&server, "pr-7-web", &feat).await;
    assert_eq!(dep["status"], "running", "{dep}");
    assert_eq!(serves(&server, "pr-7-web").await, "preview one");
    assert_eq!(serves(&server, "web").await, "v5", "the parent is untouched");
    let previews = server.must("preview_list", json!({"app": "web"})).await;
    assert_eq!(previews["previews"][0]["app"], "pr-7-web", "{previews}");
    let feat2 = commit_web(&work, "feat", "preview two");
    let (h, b) = pr("synchronize", &feat2, "pr-2");
    assert_eq!(deliver(&url, &h, &b).await.0, 200);
    wait_commit(&server, "pr-7-web", &feat2).await;
    assert_eq!(serves(&server, "pr-7-web").await, "preview two");
    let preview_id = server.must("app_get", json!({"app": "pr-7-web"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (h, b) = pr("closed", &feat2, "pr-3");
    let (status, answer) = deliver(&url, &h, &b).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["outcome"].as_str().unwrap().contains("removed preview"),
        "{answer}"
    );
    assert_eq!(server.call("app_get", json!({"app": "pr-7-web"})).await.0, 404);
    assert!(
        managed_containers(&preview_id).is_empty(),
        "the preview's containers are gone"
    );
    assert_ne!(serves(&server, "pr-7-web").await, "preview two", "its route is gone");
    assert_eq!(
        server.must("preview_list", json!({"app": "web"})).await["previews"],
        json!([])
    );

    // An event sh0 does not act on is acknowledged and ignored.
    let body = br#"{"action":"opened","issue":{"number":1}}"#.to_vec();
    let issues = vec![
        ("x-github-event", "issues".to_string()),
        ("x-github-delivery", "gh-issue".to_string()),
        ("x-hub-signature-256", format!("sha256={}", hmac_hex(&secret, &body))),
    ];
    let (status, answer) = deliver(&url, &issues, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["outcome"].as_str().unwrap().starts_with("ignored"), "{answer}");

    // A git deployment rolls back like any other: to the image of the one before.
    let out = server.must("app_rollback", json!({"app": "web"})).await;
    let dep = server.wait_deployment(out["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "running", "{dep}");
    assert_eq!(serves(&server, "web").await, "v3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_push_deploys_and_streams_the_build_and_private_repositories_need_their_token() {
    require_docker();
    let host = GitHost::start();
    let server = Server::start();
    let owner = setup_owner(&server, "owner@example.com").await;
    let writer = key_for(&server, &owner, "pusher", "write", None).await;
    let reader = key_for(&server, &owner, "reader", "read", None).await;
    seed(&server, "pushed").await;

    // `git push sh0 main` from a real git client.
    let work = host.repo("pushed");
    commit_web(&work, "main", "pushed one");
    let api = server.url.trim_start_matches("http://");
    let remote = format!("http://me:{writer}@{api}/git/pushed.git");
    git(&work, &["remote", "add", "sh0", &remote]);
    let out = Command::new("git")
        .current_dir(&work)
        .args(["push", "sh0", "main"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(said.contains("remote: sh0: deploying"), "{said}");
    assert!(
        said.contains("remote: ==> building"),
        "the build log streams back: {said}"
    );
    assert!(said.contains("remote: sh0: deployed:"), "{said}");
    assert_eq!(serves(&server, "pushed").await, "pushed one");
    let dep = deployments(&server, "pushed").await[0].clone();
    assert_eq!(dep["triggered_by"], "git-push", "{dep}");

    // A read-only key is refused with a message the git client prints.
    commit_web(&work, "main", "pushed two");
    let remote = format!("http://me:{reader}@{api}/git/pushed.git");
    let out = Command::new("git")
        .current_dir(&work)
        .args(["push", &remote, "main"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success());
    assert!(said.contains("may not deploy app `pushed`"), "{said}");
    assert_eq!(serves(&server, "pushed").await, "pushed one");
    // No key at all: asked for credentials, which a script without a prompt does not give.
    let out = Command::new("git")
        .current_dir(&work)
        .args(["push", &format!("http://{api}/git/pushed.git"), "main"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());

    // A private repository: without the token a clear error, and the app keeps serving;
    // with it, deployed. The token is never shown.
    let private = host.repo("private/secret");
    let sha = commit_web(&private, "main", "private");
    let url = host.url("private/secret");
    server
        .must_as(&writer, "app_git_set", json!({"app": "pushed", "url": url}))
        .await;
    let out = server.must_as(&writer, "app_deploy", json!({"app": "pushed"})).await;
    let dep = server.wait_deployment(out["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "failed", "{dep}");
    let error = dep["error"].as_str().unwrap();
    assert!(error.contains("git fetch failed"), "{error}");
    assert_eq!(serves(&server, "pushed").await, "pushed one", "the app keeps serving");
    let set = server
        .must_as(
            &writer,
            "app_git_set",
            json!({"app": "pushed", "url": url, "token": TOKEN}),
        )
        .await;
    assert_eq!(set["source"]["has_token"], true, "{set}");
    assert!(!set.to_string().contains(TOKEN), "{set}");
    let out = server
        .must_as(&writer, "app_deploy", json!({"app": "pushed", "commit": sha}))
        .await;
    let dep = server.wait_deployment(out["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "running", "{dep}");
    assert_eq!(serves(&server, "pushed").await, "private");
    let got = server.must_as(&writer, "app_git_get", json!({"app": "pushed"})).await;
    assert!(!got.to_string().contains(TOKEN), "{got}");
    assert!(!server.log().contains(TOKEN), "the token is not logged");
    let conn = rusqlite::Connection::open(server.data_dir().join("sh0.db")).unwrap();
    let audit: String = conn
        .query_row("SELECT group_concat(args, ' ') FROM audit", [], |r| r.get(0))
        .unwrap();
    assert!(!audit.contains(TOKEN), "the token is not audited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_branches_urls_submodules_and_links_run_nothing_and_read_nothing_outside() {
    require_docker();
    let host = GitHost::start();
    let server = Server::start();
    let pwned = std::env::temp_dir().join(format!("sh0-pwned-{}", std::process::id()));
    seed(&server, "safe").await;
    let work = host.repo("safe");
    commit_web(&work, "main", "safe");
    server
        .must("app_git_set", json!({"app": "safe", "url": host.url("safe")}))
        .await;
    let out = server.must("app_deploy", json!({"app": "safe"})).await;
    server.wait_deployment(out["deployment_id"].as_str().unwrap()).await;
    assert_eq!(serves(&server, "safe").await, "safe");

    let p = pwned.to_str().unwrap();
    for (field, value) in [
        ("branch", format!("--upload-pack=touch {p}")),
        ("branch", "-b".to_string()),
        ("url", format!("-u{p}")),
        ("url", format!("ext::sh -c touch% {p}")),
        ("url", format!("file://{}", host.dir.path().display())),
        ("url", "--config=core.sshCommand=touch /tmp/x".to_string()),
    ] {
        let mut args = json!({"app": "safe", "url": host.url("safe")});
        args[field] = json!(value);
        let (status, body) = server.call("app_git_set", args).await;
        assert_eq!(status, 400, "{field}={value}: {body}");
    }
    let (status, _) = server
        .call("app_deploy", json!({"app": "safe", "commit": "--upload-pack=x"}))
        .await;
    assert_eq!(status, 400);
    assert!(!pwned.exists(), "nothing ran");

    // A submodule pointing at a local path: git refuses the transport, the deployment
    // fails saying so, the app keeps serving.
    let secret_repo = host.dir.path().join("outside");
    std::fs::create_dir_all(&secret_repo).unwrap();
    git(&secret_repo, &["init", "-q", "--initial-branch=main"]);
    std::fs::write(secret_repo.join("secret.txt"), "do not read").unwrap();
    git(&secret_repo, &["add", "-A"]);
    git(&secret_repo, &["commit", "-q", "-m", "secret"]);
    let file_url = format!("file://{}", secret_repo.display());
    git(
        &work,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            &file_url,
            "vendor/secret",
        ],
    );
    git(&work, &["commit", "-q", "-m", "add a submodule"]);
    git(&work, &["push", "-q", "origin", "main"]);
    server
        .must(
            "app_git_set",
            json!({"app": "safe", "url": host.url("safe"), "submodules": true}),
        )
        .await;
    let out = server.must("app_deploy", json!({"app": "safe"})).await;
    let dep = server.wait_deployment(out["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "failed", "{dep}");
    assert!(
        dep["error"].as_str().unwrap().contains("transport 'file' not allowed"),
        "{dep}"
    );
    assert_eq!(serves(&server, "safe").await, "safe");

    // A link to a file outside the checkout, copied by the Dockerfile: refused when the
    // commit is unpacked, before any build.
    std::os::unix::fs::symlink("/etc/passwd", work.join("leak")).unwrap();
    std::fs::write(
        work.join("Dockerfile"),
        format!(
            "FROM {}\nCOPY leak /www/index.html\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n",
            common::docker::BASE_IMAGE
        ),
    )
    .unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "leak"]);
    git(&work, &["push", "-q", "origin", "main"]);
    server
        .must("app_git_set", json!({"app": "safe", "url": host.url("safe")}))
        .await;
    let out = server.must("app_deploy", json!({"app": "safe"})).await;
    let dep = server.wait_deployment(out["deployment_id"].as_str().unwrap()).await;
    assert_eq!(dep["status"], "failed", "{dep}");
    assert!(
        dep["error"].as_str().unwrap().contains("link pointing outside"),
        "{dep}"
    );
    assert_eq!(serves(&server, "safe").await, "safe");
    assert!(!pwned.exists());
}
