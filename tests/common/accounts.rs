//! Accounts for tests: the owner created with the bootstrap token, users invited and
//! logged in through the account endpoints, and their cookies.

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

use super::Server;

pub const PASSWORD: &str = "correct horse battery";

/// A browser session: the cookies the server set, and the CSRF token to echo.
#[derive(Clone, Debug)]
pub struct Session {
    pub cookies: Vec<(String, String)>,
    /// The raw `Set-Cookie` lines, for checking their attributes.
    pub set_cookie: Vec<String>,
    pub csrf: String,
    pub body: Value,
}

impl Session {
    pub fn from_response(headers: &reqwest::header::HeaderMap, body: Value) -> Self {
        let set_cookie: Vec<String> = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let cookies = set_cookie
            .iter()
            .filter_map(|l| l.split(';').next()?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self {
            csrf: body["csrf_token"].as_str().unwrap_or_default().to_owned(),
            cookies,
            set_cookie,
            body,
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Calls a tool with the session cookie, with or without the CSRF header.
    pub async fn call(&self, server: &Server, tool: &str, args: Value, with_csrf: bool) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(format!("{}/api/v1/tools/{tool}", server.url))
            .header(COOKIE, self.header())
            .json(&args);
        if with_csrf {
            req = req.header("x-csrf-token", &self.csrf);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

impl Session {
    /// Calls a tool that must succeed (with the CSRF token); returns its result.
    pub async fn must(&self, server: &Server, tool: &str, args: Value) -> Value {
        let (status, body) = self.call(server, tool, args.clone(), true).await;
        assert_eq!(status, 200, "{tool} {args}: {body}");
        body
    }
}

/// POSTs JSON to an account endpoint; returns status, headers and body.
pub async fn post(
    server: &Server,
    path: &str,
    bearer: Option<&str>,
    cookie: Option<&str>,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new().post(format!("{}{path}", server.url)).json(&body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

/// Creates the owner with the bootstrap token and returns their session.
pub async fn setup_owner(server: &Server, email: &str) -> Session {
    let (status, headers, body) = post(
        server,
        "/api/v1/auth/setup",
        Some(&server.token),
        None,
        json!({"email": email, "password": PASSWORD, "name": "Owner"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    Session::from_response(&headers, body)
}

pub async fn login(server: &Server, email: &str, password: &str, code: Option<&str>) -> (u16, Option<Session>, Value) {
    let (status, headers, body) = post(
        server,
        "/api/v1/auth/login",
        None,
        None,
        json!({"email": email, "password": password, "code": code}),
    )
    .await;
    let session = (status == 200).then(|| Session::from_response(&headers, body.clone()));
    (status, session, body)
}

/// Invites `email` with `role` and `projects` as `inviter`, accepts, and logs in.
pub async fn invite_and_join(
    server: &Server,
    inviter: &Session,
    email: &str,
    role: &str,
    projects: &[&str],
) -> Session {
    let (status, invite) = inviter
        .call(
            server,
            "user_invite",
            json!({"email": email, "role": role, "projects": projects}),
            true,
        )
        .await;
    assert_eq!(status, 200, "{invite}");
    let (status, headers, body) = post(
        server,
        "/api/v1/auth/invites/accept",
        None,
        None,
        json!({"token": invite["token"], "password": PASSWORD, "name": email}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    Session::from_response(&headers, body)
}

/// An API key for the session's user.
pub async fn key_for(server: &Server, session: &Session, name: &str, scope: &str, project: Option<&str>) -> String {
    let mut args = json!({"name": name, "scope": scope});
    if let Some(p) = project {
        args["project"] = json!(p);
    }
    let (status, body) = session.call(server, "key_create", args, true).await;
    assert_eq!(status, 200, "{body}");
    body["key"].as_str().unwrap().to_owned()
}
