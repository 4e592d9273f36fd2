//! Accounts end to end over REST and the CLI: setup with the bootstrap token, cookie
//! flags, CSRF, refresh rotation and reuse detection, session revocation, TOTP with replay
//! refused and backup codes, required 2FA, invitations used once, lockout with 429 and
//! Retry-After, no user enumeration, password reset on the host, and no secret at rest.

mod common;

use serde_json::{Value, json};
use std::io::Write;

use common::Server;
use common::accounts::{PASSWORD, Session, invite_and_join, login, post, setup_owner};

fn totp_code(secret_b32: &str, at: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_b32).unwrap();
    sh0::auth::totp::code_at(secret.as_bytes(), at).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn me(server: &Server, s: &Session) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/auth/me", server.url))
        .header(reqwest::header::COOKIE, s.header())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn cli_with_stdin(server: &Server, args: &[&str], stdin: &str) -> (i32, String) {
    let mut child = std::process::Command::new(common::BIN)
        .args(args)
        .env("SH0_API_URL", &server.url)
        .env("HOME", server.dir.path())
        .env("XDG_CONFIG_HOME", server.dir.path().join("config"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_sessions_csrf_refresh_and_revocation() {
    let server = Server::start_with(&["--no-acme"]);
    let data_dir = server.data_dir();
    let dir = data_dir.to_str().unwrap();

    // `sh0 admin setup` creates the owner with the bootstrap token from the data directory.
    let (code, out) = cli_with_stdin(
        &server,
        &[
            "admin",
            "setup",
            "--email",
            "Owner@Example.com",
            "--data-dir",
            dir,
            "--url",
            &server.url,
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(code, 0, "{out}");
    // Only once; and the bootstrap key stays an owner key.
    let (status, _, body) = post(
        &server,
        "/api/v1/auth/setup",
        Some(&server.token),
        None,
        json!({"email": "x@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(server.call("project_list", json!({})).await.0, 200);

    // Login sets three SameSite=Strict cookies; access and refresh are HttpOnly; Secure only over HTTPS.
    let (status, owner, body) = login(&server, "owner@example.com", PASSWORD, None).await;
    assert_eq!(status, 200, "{body}");
    let owner = owner.unwrap();
    for line in &owner.set_cookie {
        assert!(line.contains("SameSite=Strict"), "{line}");
        assert!(!line.contains("Secure"), "plain HTTP: {line}");
        let http_only = line.contains("HttpOnly");
        assert_eq!(http_only, !line.starts_with("sh0_csrf="), "{line}");
    }
    assert!(
        owner
            .set_cookie
            .iter()
            .any(|l| l.starts_with("sh0_refresh=") && l.contains("Path=/api/v1/auth"))
    );
    // Only sh0's proxy may say the request came over HTTPS (which names the cookies
    // `__Host-...` and makes them Secure; unit-tested in the REST adapter): a client
    // claiming it directly changes nothing.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", server.url))
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": "owner@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let spoofed = Session::from_response(resp.headers(), Value::Null);
    assert!(
        spoofed
            .set_cookie
            .iter()
            .all(|l| !l.contains("; Secure") && l.starts_with("sh0_")),
        "{:?}",
        spoofed.set_cookie
    );
    let (status, who) = me(&server, &owner).await;
    assert_eq!(status, 200);
    assert_eq!(who["user"]["email"], "owner@example.com");
    assert_eq!(who["role"], "owner");

    // CSRF: a cookie-authenticated change needs the header; reads and bearer calls do not.
    let (status, body) = owner
        .call(&server, "project_create", json!({"name": "web"}), false)
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("CSRF"));
    let mut wrong = owner.clone();
    wrong.csrf = "forged".into();
    assert_eq!(
        wrong
            .call(&server, "project_create", json!({"name": "web"}), true)
            .await
            .0,
        403
    );
    assert_eq!(owner.call(&server, "project_list", json!({}), false).await.0, 200);
    assert_eq!(
        owner
            .call(&server, "project_create", json!({"name": "web"}), true)
            .await
            .0,
        200
    );
    assert_eq!(server.call("project_create", json!({"name": "api"})).await.0, 200);

    // Refresh rotates; presenting the old refresh token again ends the session.
    let refresh_cookie = format!("sh0_refresh={}", owner.cookie("sh0_refresh").unwrap());
    let (status, headers, body) = post(&server, "/api/v1/auth/refresh", None, Some(&refresh_cookie), json!({})).await;
    assert_eq!(status, 200, "{body}");
    let rotated = Session::from_response(&headers, body);
    assert_ne!(rotated.cookie("sh0_refresh"), owner.cookie("sh0_refresh"));
    assert_eq!(me(&server, &rotated).await.0, 200);
    let (status, _, body) = post(&server, "/api/v1/auth/refresh", None, Some(&refresh_cookie), json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("used twice"));
    assert_eq!(me(&server, &rotated).await.0, 401, "the whole session is revoked");

    // Sessions are listed per user and revocable; revocation is immediate.
    let (_, a, _) = login(&server, "owner@example.com", PASSWORD, None).await;
    let (_, b, _) = login(&server, "owner@example.com", PASSWORD, None).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    let (status, list) = a.call(&server, "session_list", json!({}), false).await;
    assert_eq!(status, 200, "{list}");
    let sessions = list["sessions"].as_array().unwrap();
    assert!(sessions.iter().filter(|s| s["current"] == true).count() == 1);
    let other = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].clone();
    assert_eq!(
        a.call(&server, "session_revoke", json!({"session": other}), true)
            .await
            .0,
        200
    );
    let survivors = [me(&server, &a).await.0, me(&server, &b).await.0];
    assert!(survivors.contains(&200) && survivors.contains(&401), "{survivors:?}");

    // Logout ends the session and clears the cookies.
    let (status, headers, _) = post(&server, "/api/v1/auth/logout", None, Some(&a.header()), json!({})).await;
    assert_eq!(status, 204);
    assert!(
        headers
            .get_all("set-cookie")
            .iter()
            .all(|v| v.to_str().unwrap().contains("Max-Age=0"))
    );
    assert_eq!(me(&server, &a).await.0, 401);

    // Nothing secret at rest: no password, refresh token, CSRF token or access token.
    let mut at_rest = std::fs::read(data_dir.join("sh0.db")).unwrap();
    at_rest.extend(std::fs::read(data_dir.join("sh0.db-wal")).unwrap_or_default());
    at_rest.extend(server.log().into_bytes());
    let at_rest = String::from_utf8_lossy(&at_rest);
    for secret in [
        PASSWORD,
        rotated.cookie("sh0_refresh").unwrap(),
        &rotated.csrf,
        rotated.cookie("sh0_access").unwrap(),
    ] {
        assert!(!at_rest.contains(secret), "a secret is stored in the clear");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn totp_backup_codes_required_2fa_invites_lockout_and_reset() {
    let server = Server::start_with(&["--no-acme"]);
    let owner = setup_owner(&server, "owner@example.com").await;

    // Enrol: an otpauth URI and a QR code; confirmed by a first code; ten backup codes.
    let (status, enrol) = owner.call(&server, "totp_enroll", json!({}), true).await;
    assert_eq!(status, 200, "{enrol}");
    let secret = enrol["secret"].as_str().unwrap().to_owned();
    assert!(
        enrol["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/sh0:owner%40example.com?")
    );
    assert!(enrol["qr_svg"].as_str().unwrap().contains("<svg"));
    let t = now();
    let (status, body) = owner
        .call(&server, "totp_confirm", json!({"code": "000000"}), true)
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, confirmed) = owner
        .call(&server, "totp_confirm", json!({"code": totp_code(&secret, t)}), true)
        .await;
    assert_eq!(status, 200, "{confirmed}");
    let backups: Vec<String> = confirmed["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(backups.len(), 10);

    // Login now needs a code; the confirming code cannot be replayed; the next one works once.
    let (status, _, body) = login(&server, "owner@example.com", PASSWORD, None).await;
    assert_eq!(
        (status, body["error"]["kind"].as_str()),
        (401, Some("second_factor_required")),
        "{body}"
    );
    let (status, _, body) = login(&server, "owner@example.com", PASSWORD, Some(&totp_code(&secret, t))).await;
    assert_eq!(status, 401, "replayed code: {body}");
    let next = totp_code(&secret, t + 30);
    let (status, _, body) = login(&server, "owner@example.com", PASSWORD, Some(&next)).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = login(&server, "owner@example.com", PASSWORD, Some(&next)).await;
    assert_eq!(status, 401, "a code works once");
    // A backup code works once, in any case and spacing.
    let spaced = backups[0].to_uppercase().replace('-', " ");
    let (status, owner2, body) = login(&server, "owner@example.com", PASSWORD, Some(&spaced)).await;
    assert_eq!(status, 200, "{body}");
    let owner2 = owner2.unwrap();
    let (status, _, _) = login(&server, "owner@example.com", PASSWORD, Some(&backups[0])).await;
    assert_eq!(status, 401, "a backup code works once");

    // Invitations: one-time; a used link reads like an unknown one.
    let (status, invite) = owner2
        .call(
            &server,
            "user_invite",
            json!({"email": "dev@example.com", "role": "developer"}),
            true,
        )
        .await;
    assert_eq!(status, 200, "{invite}");
    let accept = json!({"token": invite["token"], "password": PASSWORD});
    let (status, _, body) = post(&server, "/api/v1/auth/invites/accept", None, None, accept.clone()).await;
    assert_eq!(status, 201, "{body}");
    let (status, _, reused) = post(&server, "/api/v1/auth/invites/accept", None, None, accept).await;
    let (status2, _, unknown) = post(
        &server,
        "/api/v1/auth/invites/accept",
        None,
        None,
        json!({"token": "nope", "password": PASSWORD}),
    )
    .await;
    assert_eq!((status, status2), (404, 404));
    assert_eq!(reused, unknown);
    // An admin cannot invite an owner.
    let admin = invite_and_join(&server, &owner2, "admin@example.com", "admin", &[]).await;
    let (status, body) = admin
        .call(
            &server,
            "user_invite",
            json!({"email": "boss@example.com", "role": "owner"}),
            true,
        )
        .await;
    assert_eq!(status, 403, "{body}");

    // The owner requires 2FA: a user without it can only set it up.
    assert_eq!(
        owner2
            .call(&server, "security_policy_set", json!({"require_2fa": true}), true)
            .await
            .0,
        200
    );
    let (status, dev, _) = login(&server, "dev@example.com", PASSWORD, None).await;
    assert_eq!(status, 200);
    let dev = dev.unwrap();
    let (status, body) = dev.call(&server, "project_list", json!({}), false).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("two-factor"));
    assert_eq!(dev.call(&server, "totp_enroll", json!({}), true).await.0, 200);
    assert_eq!(
        owner2.call(&server, "security_policy_set", json!({}), true).await.0,
        200
    );

    // Lockout: five wrong passwords, then 429 with Retry-After even for the right one; an
    // unknown account answers exactly like a wrong password, and locks the same way.
    let wrong = login(&server, "admin@example.com", "wrong password!", None).await.2;
    let unknown = login(&server, "ghost@example.com", "wrong password!", None).await.2;
    assert_eq!(wrong, unknown, "no user enumeration");
    for _ in 0..4 {
        assert_eq!(
            login(&server, "admin@example.com", "wrong password!", None).await.0,
            401
        );
        assert_eq!(
            login(&server, "ghost@example.com", "wrong password!", None).await.0,
            401
        );
    }
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", server.url))
        .json(&json!({"email": "admin@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    assert_eq!(login(&server, "ghost@example.com", PASSWORD, None).await.0, 429);

    // Second-factor guesses are limited too.
    for _ in 0..5 {
        login(&server, "owner@example.com", PASSWORD, Some("999999")).await;
    }
    assert_eq!(
        login(&server, "owner@example.com", PASSWORD, Some(&backups[1])).await.0,
        429
    );

    // A locked-out owner resets the password on the host; their sessions end.
    let (_, who) = me(&server, &owner2).await;
    assert_eq!(who["role"], "owner");
    let dir = server.data_dir();
    let (code, out) = cli_with_stdin(
        &server,
        &[
            "admin",
            "reset-password",
            "--email",
            "owner@example.com",
            "--data-dir",
            dir.to_str().unwrap(),
            "--disable-2fa",
        ],
        "a brand new passphrase\n",
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(me(&server, &owner2).await.0, 401);
    let (code, _) = cli_with_stdin(
        &server,
        &[
            "admin",
            "reset-password",
            "--email",
            "nobody@example.com",
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        "a brand new passphrase\n",
    );
    assert_eq!(code, 5);

    // No TOTP secret, backup code or invitation token in the clear.
    let mut at_rest = std::fs::read(dir.join("sh0.db")).unwrap();
    at_rest.extend(std::fs::read(dir.join("sh0.db-wal")).unwrap_or_default());
    at_rest.extend(server.log().into_bytes());
    let at_rest = String::from_utf8_lossy(&at_rest);
    for secret in [
        secret.as_str(),
        &backups[5],
        invite["token"].as_str().unwrap(),
        "a brand new passphrase",
    ] {
        assert!(!at_rest.contains(secret), "a secret is stored in the clear");
    }
    let (_, audit) = server.call("audit_list", json!({"limit": 200})).await;
    let audit = audit.to_string();
    for secret in [PASSWORD, &backups[1], &next] {
        assert!(!audit.contains(secret), "the audit log holds a secret");
    }
}
