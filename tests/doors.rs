//! The doors around dispatch (a security review's findings 2-6 and 9): staging uploads,
//! the build-log WebSocket, the client address behind the panel domain, the API listener's
//! limits, and the host and origin rules every route passes. Each attack is made for real
//! against a `sh0 serve` process and shown refused, with nothing written and nobody else
//! locked out.

mod common;

use reqwest::header::COOKIE;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::Duration;

use common::Server;
use common::accounts::{Session, invite_and_join, key_for, login, post, setup_owner};

fn archive() -> Vec<u8> {
    common::docker::targz(&[("index.html".into(), b"<h1>hi</h1>".to_vec(), 0o644)])
}

async fn stage(server: &Server, query: &str, auth: Auth<'_>) -> (u16, Value) {
    let form =
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(archive()).file_name("a.tar.gz"));
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/v1/uploads{query}", server.url))
        .multipart(form);
    req = match auth {
        Auth::Key(k) => req.bearer_auth(k),
        Auth::Cookie(s, csrf) => {
            let r = req.header(COOKIE, s.header());
            if csrf { r.header("x-csrf-token", &s.csrf) } else { r }
        }
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

enum Auth<'a> {
    Key(&'a str),
    Cookie(&'a Session, bool),
}

fn staged_files(server: &Server) -> usize {
    std::fs::read_dir(server.data_dir().join("uploads"))
        .map(|d| d.count())
        .unwrap_or(0)
}

async fn audit_of(server: &Server, tool: &str) -> Vec<Value> {
    let (status, body) = server.call("audit_list", json!({ "tool": tool, "limit": 100 })).await;
    assert_eq!(status, 200, "{body}");
    body["records"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staging_an_upload_is_admitted_like_the_tool_that_consumes_it() {
    let server = Server::start();
    let owner = setup_owner(&server, "owner@example.com").await;
    owner.must(&server, "project_create", json!({"name": "p"})).await;
    let read_key = key_for(&server, &owner, "reader", "read", None).await;
    let dev = invite_and_join(&server, &owner, "dev@example.com", "developer", &["p"]).await;
    let dev_key = key_for(&server, &dev, "dev", "write", None).await;

    // A read-only key may not stage an archive for a deployment: refused before the body,
    // nothing written, and the refusal is in the audit log.
    let (status, body) = stage(&server, "", Auth::Key(&read_key)).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = stage(&server, "?for=app_deploy", Auth::Key(&read_key)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(staged_files(&server), 0);
    let refused = audit_of(&server, "upload").await;
    assert!(
        refused
            .iter()
            .any(|r| r["outcome"] == "error" && r["args"]["for"] == "app_deploy"),
        "{refused:?}"
    );
    // Nor for a tool that takes no upload.
    let (status, _) = stage(&server, "?for=app_delete", Auth::Key(&read_key)).await;
    assert_eq!(status, 400);

    // It may for project_check (a read tool), within the per-user quota of five waiting.
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (status, body) = stage(&server, "?for=project_check", Auth::Key(&read_key)).await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["upload"].as_str().unwrap().to_owned());
    }
    let (status, body) = stage(&server, "?for=project_check", Auth::Key(&read_key)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(staged_files(&server), 5);
    // The quota is the user's: the owner's bootstrap key is somebody else.
    let (status, _) = stage(&server, "?for=project_check", Auth::Key(&server.token)).await;
    assert_eq!(status, 201);

    // An upload is its uploader's and its tool's: another user, or another tool, is told
    // it does not exist — and it stays usable by its owner.
    let call = |key: String, tool: &'static str, args: Value| {
        let url = format!("{}/api/v1/tools/{tool}", server.url);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&args)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = call(dev_key.clone(), "project_check", json!({"upload": ids[0]})).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = call(read_key.clone(), "project_check", json!({"upload": ids[0]})).await;
    assert_eq!(status, 200);
    let (status, _) = call(read_key.clone(), "project_check", json!({"upload": ids[0]})).await;
    assert_eq!(status, 404, "used once");
    let (status, body) = call(
        server.token.clone(),
        "app_create",
        json!({"name": "web", "project": "p", "port": 8080}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(dev_key.clone(), "app_deploy", json!({"app": "web", "upload": ids[1]})).await;
    assert_eq!(
        status, 404,
        "an upload staged for project_check is not a deployment's: {body}"
    );

    // A browser session needs its CSRF token to stage (a same-site page cannot fill the disk).
    let (status, body) = stage(&server, "?for=project_check", Auth::Cookie(&dev, false)).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = stage(&server, "?for=app_deploy&app=web", Auth::Cookie(&dev, true)).await;
    assert_eq!(status, 201, "{body}");
    // A developer outside a project cannot stage for its app (answered as not found).
    let outsider = invite_and_join(&server, &owner, "out@example.com", "developer", &[]).await;
    let (status, body) = stage(&server, "?for=app_deploy&app=web", Auth::Cookie(&outsider, true)).await;
    assert_eq!(status, 404, "{body}");
    // The same admission guards the upload-and-deploy endpoints: a read key gets 403
    // before its archive is read.
    let (status, body) = {
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(archive()).file_name("a.tar.gz"))
            .text("name", "x");
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/apps/web/upload", server.url))
            .bearer_auth(&read_key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 403, "{body}");
    let granted = audit_of(&server, "upload").await;
    assert!(granted.iter().any(|r| r["outcome"] == "ok"), "{granted:?}");
}

/// Cross-site WebSocket hijacking: a page on another origin (or no origin at all) cannot
/// open the build-log stream with the victim's cookie; the server's own page can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_websocket_refuses_other_origins_for_cookie_sessions() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = Server::start();
    let owner = setup_owner(&server, "owner@example.com").await;
    owner.must(&server, "project_create", json!({"name": "p"})).await;
    owner
        .must(&server, "app_create", json!({"name": "web", "project": "p"}))
        .await;
    // A deployment of an image that does not exist fails fast, and has a log.
    let (status, dep) = owner
        .call(
            &server,
            "app_deploy",
            json!({"app": "web", "image": "sh0-test/absent:1"}),
            true,
        )
        .await;
    assert_eq!(status, 200, "{dep}");
    let id = dep["deployment_id"].as_str().unwrap().to_owned();
    let host = server.url.trim_start_matches("http://").to_owned();
    let url = format!("ws://{host}/api/v1/deployments/{id}/logs/ws");
    let open = |origin: Option<&str>, cookie: bool| {
        let mut req = url.clone().into_client_request().unwrap();
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        if cookie {
            req.headers_mut().insert("cookie", owner.header().parse().unwrap());
        } else {
            req.headers_mut()
                .insert("authorization", format!("Bearer {}", server.token).parse().unwrap());
        }
        tokio_tungstenite::connect_async(req)
    };
    for (origin, what) in [
        (Some("https://evil.example"), "another site"),
        (Some("http://web.localhost"), "an app of this server"),
        (None, "no origin"),
    ] {
        match open(origin, true).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status().as_u16(), 403, "{what}");
            }
            Err(e) => panic!("{what}: {e}"),
            Ok(_) => panic!("{what}: the upgrade was accepted"),
        }
    }
    let own = format!("http://{host}");
    let (mut ws, _) = open(Some(&own), true).await.expect("own origin");
    use futures::StreamExt;
    let first = tokio::time::timeout(Duration::from_secs(30), ws.next()).await.unwrap();
    assert!(
        first.is_some_and(|m| m.is_ok()),
        "the log streams to the server's own page"
    );
    let (_ws, _) = open(None, false).await.expect("a bearer key needs no origin");
}

/// Twenty bad logins from one client through the panel domain lock that client, not
/// everybody: the proxy passes the real address (and a spoofed one is ignored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_lock_everyone_out_through_the_panel() {
    let server = Server::start_with(&["--panel-domain", "panel.example.test", "--no-acme"]);
    setup_owner(&server, "owner@example.com").await;
    let via_panel = |from: &str| {
        reqwest::Client::builder()
            .local_address(from.parse::<IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let panel = format!("http://127.0.0.1:{}/api/v1/auth/login", server.http_port);
    let attacker = via_panel("127.0.0.2");
    let mut last = 0;
    for i in 0..21 {
        let r = attacker
            .post(&panel)
            .header("host", "panel.example.test")
            .header("x-forwarded-for", format!("10.9.9.{i}"))
            .header("x-sh0-client-addr", format!("10.8.8.{i}"))
            .json(&json!({"email": format!("nobody{i}@example.com"), "password": "wrong password!"}))
            .send()
            .await
            .unwrap();
        last = r.status().as_u16();
    }
    assert_eq!(last, 429, "the attacker's address is locked");
    let r = via_panel("127.0.0.3")
        .post(&panel)
        .header("host", "panel.example.test")
        .json(&json!({"email": "owner@example.com", "password": common::accounts::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "the owner, from elsewhere, signs in");
    // Straight to the API, a claimed client address without the proxy's secret is ignored:
    // the socket peer (127.0.0.2, locked) is used.
    let r = attacker
        .post(format!("{}/api/v1/auth/login", server.url))
        .header("x-sh0-client-addr", "10.7.7.7")
        .json(&json!({"email": "someone@example.com", "password": "wrong password!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
}

/// Every route checks Host (DNS rebinding) and Origin; changes marked cross-site by the
/// browser are refused; login CSRF is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_and_origins_are_checked_on_every_route() {
    let server = Server::start();
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", server.url);
    let r = http
        .get(api("/api/v1/apps"))
        .header("host", "rebound.evil.example")
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        400,
        "DNS rebinding: a name that is not the server's"
    );
    let r = http
        .get(api("/healthz"))
        .header("host", "rebound.evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400, "unauthenticated endpoints too");
    let r = http
        .post(api("/mcp"))
        .header("origin", "https://evil.example")
        .bearer_auth(&server.token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "/mcp validates Origin");
    // Login CSRF: a cross-site form cannot sign the victim into an account, nor out.
    for path in ["/api/v1/auth/login", "/api/v1/auth/logout", "/api/v1/auth/refresh"] {
        let (status, ..) = {
            let r = http
                .post(api(path))
                .header("origin", "https://evil.example")
                .json(&json!({"email": "a@example.com", "password": "x"}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(),)
        };
        assert_eq!(status, 403, "{path} with a foreign Origin");
        let r = http
            .post(api(path))
            .header("sec-fetch-site", "same-site")
            .json(&json!({"email": "a@example.com", "password": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "{path} from a sibling site");
    }
    // The server's own origin and non-browser clients pass.
    let own = server.url.clone();
    let r = http
        .get(api("/api/v1/apps"))
        .header("origin", own)
        .header("sec-fetch-site", "same-origin")
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (status, _, _) = post(
        &server,
        "/api/v1/auth/login",
        None,
        None,
        json!({"email": "a@example.com", "password": "wrong password"}),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = login(&server, "a@example.com", "wrong password", None).await;
    assert_eq!(status, 401);
}

/// Slowloris: a client that never finishes its request head is dropped; the server keeps
/// serving everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_dropped() {
    let server = Server::start();
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 512];
    // The server closes the connection (maybe after a 408) well before the read timeout.
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(30) {
        match slow.read(&mut buf) {
            Ok(0) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(closed, "the half-sent request was still open after 30 s");
    let r = reqwest::get(format!("{}/healthz", server.url)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// The listener's limits in isolation, with small numbers: a body that stops arriving
/// fails, and connections past the limit wait until one is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_fail_and_connections_are_limited() {
    use sh0::server::listener::{ListenerLimits, serve};
    use std::sync::Arc;
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let gate = release.clone();
    let app = axum::Router::new()
        .route(
            "/block",
            axum::routing::get(move || {
                let gate = gate.clone();
                async move {
                    let _ = gate.acquire().await.map(|p| p.forget());
                    "released"
                }
            }),
        )
        .route(
            "/echo",
            axum::routing::post(|body: bytes::Bytes| async move { body.len().to_string() }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = ListenerLimits {
        header_timeout: Duration::from_secs(2),
        body_pause: Duration::from_secs(1),
        max_connections: 2,
    };
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(serve(listener, app, limits, stop.clone()));

    // A body that stops after 10 of 100 bytes: the server answers an error and closes.
    let stalled = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
    .await
    .unwrap();
    assert!(!stalled.contains(" 200 "), "{stalled}");

    // Two connections busy: a third is not served until one of them is done.
    let busy: Vec<_> = (0..2)
        .map(|_| tokio::spawn(reqwest::Client::new().get(format!("http://{addr}/block")).send()))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let third = tokio::spawn(
        reqwest::Client::new()
            .post(format!("http://{addr}/echo"))
            .body("abc")
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "a third connection was served past the limit");
    release.add_permits(2);
    for b in busy {
        assert_eq!(b.await.unwrap().unwrap().status().as_u16(), 200);
    }
    let r = third.await.unwrap().unwrap();
    assert_eq!(r.text().await.unwrap(), "3");
    stop.cancel();
}

/// `domain_verify` makes requests from the server: only for names attached to the
/// caller's apps, never to internal addresses (unit-tested in the tool), a few a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_verify_is_not_a_probe() {
    let server = Server::start_with(&["--no-acme"]);
    let owner = setup_owner(&server, "owner@example.com").await;
    for p in ["a", "b"] {
        owner.must(&server, "project_create", json!({"name": p})).await;
    }
    owner
        .must(&server, "app_create", json!({"name": "web", "project": "a"}))
        .await;
    owner
        .must(
            &server,
            "domain_add",
            json!({"app": "web", "domain": "web.unresolvable.test"}),
        )
        .await;
    let other = invite_and_join(&server, &owner, "b@example.com", "developer", &["b"]).await;
    for (who, domain, expect) in [
        (&owner, "metadata.internal.test", 404),
        (&other, "web.unresolvable.test", 404),
        (&owner, "web.unresolvable.test", 200),
    ] {
        let (status, body) = who
            .call(&server, "domain_verify", json!({"domain": domain}), false)
            .await;
        assert_eq!(status, expect, "{domain}: {body}");
        if status == 200 {
            assert!(body["detail"].as_str().unwrap().contains("does not resolve"), "{body}");
        }
    }
    let mut last = 0;
    for _ in 0..10 {
        last = owner
            .call(
                &server,
                "domain_verify",
                json!({"domain": "web.unresolvable.test"}),
                false,
            )
            .await
            .0;
    }
    assert_eq!(last, 429, "ten checks a minute per user");
}

/// Finding 10: second-factor codes stay out of the audit log, and every file sh0 keeps in
/// its data directory is its owner's alone (the database and its WAL included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_not_audited_and_the_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start();
    let owner = setup_owner(&server, "owner@example.com").await;
    let (status, enrol) = owner.call(&server, "totp_enroll", json!({}), true).await;
    assert_eq!(status, 200, "{enrol}");
    let secret = totp_rs::Secret::try_from_base32(enrol["secret"].as_str().unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = sh0::auth::totp::code_at(secret.as_bytes(), now).unwrap();
    let (status, body) = owner.call(&server, "totp_confirm", json!({"code": code}), true).await;
    assert_eq!(status, 200, "{body}");
    let backup = body["backup_codes"][0].as_str().unwrap().to_owned();
    let (status, body) = owner.call(&server, "totp_disable", json!({"code": backup}), true).await;
    assert_eq!(status, 200, "{body}");
    for tool in ["totp_confirm", "totp_disable"] {
        let records = audit_of(&server, tool).await;
        assert!(!records.is_empty());
        for r in records {
            assert_eq!(r["args"]["code"], "[redacted]", "{r}");
        }
    }
    let (status, _) = stage(&server, "?for=project_check", Auth::Key(&server.token)).await;
    assert_eq!(status, 201);
    let mut seen = 0;
    let mut stack = vec![server.data_dir()];
    while let Some(dir) = stack.pop() {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {:o}", dir.display(), mode & 0o777);
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                stack.push(e.path());
                continue;
            }
            seen += 1;
            let mode = meta.permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is {:o}", e.path().display(), mode & 0o777);
        }
    }
    assert!(
        seen >= 5,
        "the database, its WAL and SHM, the master key and the staged upload"
    );
    assert!(server.data_dir().join("sh0.db-wal").exists());
}

/// Finding 11: names that are global (app names are host names; domains, projects and
/// emails are server-wide) answer a conflict the same way whether or not the caller can
/// see the holder; finding 12: an app has at most 20 domains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_names_reveal_nothing_more_and_domains_are_limited() {
    let server = Server::start_with(&["--no-acme"]);
    let owner = setup_owner(&server, "owner@example.com").await;
    for p in ["a", "b"] {
        owner.must(&server, "project_create", json!({"name": p})).await;
    }
    for (app, p) in [("hidden", "a"), ("mine", "b")] {
        owner
            .must(&server, "app_create", json!({"name": app, "project": p}))
            .await;
    }
    let dev = invite_and_join(&server, &owner, "dev@example.com", "developer", &["b"]).await;
    let (s1, hidden) = dev
        .call(&server, "app_create", json!({"name": "hidden", "project": "b"}), true)
        .await;
    let (s2, mine) = dev
        .call(&server, "app_create", json!({"name": "mine", "project": "b"}), true)
        .await;
    assert_eq!((s1, s2), (409, 409));
    assert_eq!(
        hidden["error"]["message"].as_str().unwrap().replace("hidden", "X"),
        mine["error"]["message"].as_str().unwrap().replace("mine", "X"),
        "the same answer for an app you cannot see as for one you can"
    );
    let (s1, hidden) = dev.call(&server, "project_create", json!({"name": "a"}), true).await;
    let (s2, mine) = dev.call(&server, "project_create", json!({"name": "b"}), true).await;
    assert_eq!((s1, s2), (409, 409));
    assert_eq!(
        hidden["error"]["message"].as_str().unwrap().replace("`a`", "X"),
        mine["error"]["message"].as_str().unwrap().replace("`b`", "X")
    );
    // Everything that is not a global name answers like a missing resource.
    let (status, body) = dev.call(&server, "app_get", json!({"app": "hidden"}), false).await;
    let (status2, body2) = dev.call(&server, "app_get", json!({"app": "absent"}), false).await;
    assert_eq!((status, status2), (404, 404));
    assert_eq!(
        body["error"]["message"].as_str().unwrap().replace("hidden", "X"),
        body2["error"]["message"].as_str().unwrap().replace("absent", "X")
    );

    for i in 0..20 {
        let (status, body) = dev
            .call(
                &server,
                "domain_add",
                json!({"app": "mine", "domain": format!("d{i}.example.test")}),
                true,
            )
            .await;
        assert_eq!(status, 200, "{i}: {body}");
    }
    let (status, body) = dev
        .call(
            &server,
            "domain_add",
            json!({"app": "mine", "domain": "d20.example.test"}),
            true,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("at most 20"),
        "{body}"
    );
    let (_, list) = dev.call(&server, "domain_list", json!({"app": "mine"}), false).await;
    assert_eq!(
        list["domains"].as_array().unwrap().len(),
        20,
        "nothing stored by the refusal"
    );
}

/// The account endpoints leave audit records like tool calls: sign-in, who-am-I, renewal
/// and sign-out, each with its principal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_flows_are_audited() {
    let server = Server::start();
    let owner = setup_owner(&server, "owner@example.com").await;
    let (status, _, _) = post(&server, "/api/v1/auth/refresh", None, Some(&owner.header()), json!({})).await;
    assert_eq!(status, 200);
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/auth/me", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (status, _, _) = post(&server, "/api/v1/auth/logout", None, Some(&owner.header()), json!({})).await;
    assert_eq!(status, 204);
    let user = owner.body["user"]["id"].as_str().unwrap().to_owned();
    for (flow, principal) in [
        ("auth_setup", format!("user:{user}")),
        ("auth_refresh", format!("user:{user}")),
        ("auth_me", "key:".to_owned()),
        ("auth_logout", format!("user:{user}/")),
    ] {
        let records = audit_of(&server, flow).await;
        assert!(
            records
                .iter()
                .any(|r| r["outcome"] == "ok" && r["principal"].as_str().unwrap().starts_with(&principal)),
            "{flow}: {records:?}"
        );
    }
}
