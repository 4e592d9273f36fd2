//! The account endpoints a browser needs before it has a session: setup, login, refresh,
//! logout, accepting an invitation, and `me`. They set the session cookies: the access
//! token and the refresh token `HttpOnly`, all three `SameSite=Strict`, and over HTTPS
//! (through sh0's proxy) `Secure` with the `__Host-` prefix. Cross-site requests never
//! reach them: the listener's guard refuses a foreign `Origin` or `Sec-Fetch-Site`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{credentials, error_response};
use crate::registry::{
    ACCESS_TTL, AccountFlow, ClientAddr, ClientInfo, Dispatcher, IssuedSession, REFRESH_TTL, ToolError,
};

/// The session cookies. Over HTTPS they carry the `__Host-` prefix, which browsers accept
/// only when set `Secure`, with `Path=/` and no `Domain` by this very host: an app at a
/// sibling subdomain can then neither plant nor overwrite them (cookie tossing). Over plain
/// HTTP (a local server) the prefix cannot be used, and the names are bare.
#[derive(Debug, Clone, Copy)]
pub struct CookieNames {
    pub access: &'static str,
    pub refresh: &'static str,
    pub csrf: &'static str,
    /// Where the refresh token is sent: only the account endpoints, where the prefix allows.
    pub refresh_path: &'static str,
    pub secure: bool,
}

const HTTPS_COOKIES: CookieNames = CookieNames {
    access: "__Host-sh0_access",
    refresh: "__Host-sh0_refresh",
    csrf: "__Host-sh0_csrf",
    refresh_path: "/",
    secure: true,
};

const HTTP_COOKIES: CookieNames = CookieNames {
    access: "sh0_access",
    refresh: "sh0_refresh",
    csrf: "sh0_csrf",
    refresh_path: "/api/v1/auth",
    secure: false,
};

/// The cookie names for this request: `X-Forwarded-Proto` reaches here only from sh0's own
/// proxy (the listener's guard removes it from any other request).
pub fn cookie_names(headers: &HeaderMap) -> CookieNames {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    if https { HTTPS_COOKIES } else { HTTP_COOKIES }
}

pub fn routes() -> Router<Dispatcher> {
    Router::new()
        .route("/api/v1/auth/setup", post(setup))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/auth/invites/accept", post(accept_invite))
}

/// The value of cookie `name` in the request (the first, if a client sent it twice).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .and_then(|c| c.value_raw())
}

fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, http_only: bool, secure: bool) -> HeaderValue {
    let c = cookie::Cookie::build((name, value))
        .path(path)
        .max_age(cookie::time::Duration::seconds(max_age))
        .same_site(cookie::SameSite::Strict)
        .http_only(http_only)
        .secure(secure);
    HeaderValue::from_str(&c.to_string()).unwrap_or_else(|_| HeaderValue::from_static("sh0_invalid=; Max-Age=0"))
}

fn with_session(status: StatusCode, s: IssuedSession, headers: &HeaderMap) -> Response {
    let n = cookie_names(headers);
    let body = json!({
        "user": s.user,
        "csrf_token": s.csrf,
        "access_expires_in": ACCESS_TTL.whole_seconds(),
    });
    let mut resp = (status, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    let refresh_age = REFRESH_TTL.whole_seconds();
    let access_age = ACCESS_TTL.whole_seconds();
    h.append(
        header::SET_COOKIE,
        set_cookie(n.access, &s.access, "/", access_age, true, n.secure),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(n.refresh, &s.refresh, n.refresh_path, refresh_age, true, n.secure),
    );
    // Readable by the page's script, which echoes it in X-CSRF-Token.
    h.append(
        header::SET_COOKIE,
        set_cookie(n.csrf, &s.csrf, "/", refresh_age, false, n.secure),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn cleared(headers: &HeaderMap) -> Response {
    let n = cookie_names(headers);
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(n.access, "", "/", 0, true, n.secure));
    h.append(
        header::SET_COOKIE,
        set_cookie(n.refresh, "", n.refresh_path, 0, true, n.secure),
    );
    h.append(header::SET_COOKIE, set_cookie(n.csrf, "", "/", 0, false, n.secure));
    resp
}

fn client(addr: ClientAddr, headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        address: addr.0.to_string(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
    }
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ToolError> {
    serde_json::from_slice(body)
        .map_err(|e| ToolError::invalid(format!("the request body is not what this endpoint takes: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
    #[serde(default)]
    name: String,
    /// A TOTP or backup code, for accounts with 2FA.
    #[serde(default)]
    code: Option<String>,
}

/// Parses the body, runs the flow off the async workers (Argon2 takes tens of
/// milliseconds of CPU), and answers with the session's cookies or the error.
async fn session_flow<T: DeserializeOwned + Send + 'static>(
    d: &Dispatcher,
    flow: AccountFlow,
    body: &Bytes,
    headers: &HeaderMap,
    ok: StatusCode,
    run: impl FnOnce(T) -> Result<IssuedSession, ToolError> + Send + 'static,
) -> Response {
    let input: T = match parse(body) {
        Ok(i) => i,
        Err(e) => return error_response(&d.account_refused(flow, e)),
    };
    match tokio::task::spawn_blocking(move || run(input)).await {
        Ok(Ok(s)) => with_session(ok, s, headers),
        Ok(Err(e)) => error_response(&e),
        Err(e) => error_response(&ToolError::internal(format!("account flow failed: {e}"))),
    }
}

async fn setup(
    State(d): State<Dispatcher>,
    Extension(addr): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let creds = credentials(&headers);
    let info = client(addr, &headers);
    session_flow(
        &d.clone(),
        AccountFlow::Setup,
        &body,
        &headers,
        StatusCode::CREATED,
        move |i: Credentials| d.setup(&creds, &i.email, &i.password, &i.name, &info),
    )
    .await
}

async fn login(
    State(d): State<Dispatcher>,
    Extension(addr): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let info = client(addr, &headers);
    session_flow(
        &d.clone(),
        AccountFlow::Login,
        &body,
        &headers,
        StatusCode::OK,
        move |i: Credentials| d.login(&i.email, &i.password, i.code.as_deref(), &info),
    )
    .await
}

async fn refresh(State(d): State<Dispatcher>, headers: HeaderMap) -> Response {
    // Without the cookie the flow still runs (and is audited): no session has an empty token.
    let token = cookie(&headers, cookie_names(&headers).refresh).unwrap_or("");
    match d.refresh(token) {
        Ok(s) => with_session(StatusCode::OK, s, &headers),
        Err(e) => {
            let mut resp = error_response(&e);
            // The cookies are useless now: drop them.
            for v in cleared(&headers).headers().get_all(header::SET_COOKIE) {
                resp.headers_mut().append(header::SET_COOKIE, v.clone());
            }
            resp
        }
    }
}

async fn logout(State(d): State<Dispatcher>, headers: HeaderMap) -> Response {
    match d.logout(
        cookie(&headers, cookie_names(&headers).access),
        cookie(&headers, cookie_names(&headers).refresh),
    ) {
        Ok(()) => cleared(&headers),
        Err(e) => error_response(&e),
    }
}

async fn me(State(d): State<Dispatcher>, headers: HeaderMap) -> Response {
    match d.me(&credentials(&headers)) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error_response(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Accept {
    token: String,
    password: String,
    #[serde(default)]
    name: String,
}

async fn accept_invite(
    State(d): State<Dispatcher>,
    Extension(addr): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let info = client(addr, &headers);
    session_flow(
        &d.clone(),
        AccountFlow::AcceptInvite,
        &body,
        &headers,
        StatusCode::CREATED,
        move |i: Accept| d.accept_invite(&i.token, &i.password, &i.name, &info),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_over_https_are_host_prefixed_secure_and_site_wide() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let s = IssuedSession {
            access: "a".into(),
            refresh: "r".into(),
            csrf: "c".into(),
            user: crate::registry::UserView {
                id: "usr".into(),
                email: "a@example.com".into(),
                name: String::new(),
                role: crate::domain::Role::Owner,
                two_factor: false,
            },
        };
        let resp = with_session(StatusCode::OK, s, &h);
        let lines: Vec<&str> = resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        for l in lines {
            assert!(l.starts_with("__Host-sh0_"), "{l}");
            assert!(
                l.contains("; Path=/;") && l.contains("; Secure") && !l.contains("Domain"),
                "{l}"
            );
        }
        // A bare cookie (planted by a sibling over HTTP) is not read over HTTPS.
        h.insert(header::COOKIE, HeaderValue::from_static("sh0_access=planted"));
        assert_eq!(cookie(&h, cookie_names(&h).access), None);
    }
}
