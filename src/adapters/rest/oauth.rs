//! The OAuth 2.1 endpoints for remote MCP clients: discovery (RFC 9728 protected resource
//! metadata, RFC 8414 authorization server metadata), registration (RFC 7591), the
//! authorization endpoint with its consent page, and the token endpoint. The flows are the
//! registry's (`registry::oauth`); consent is the `oauth_consent` tool, which the page calls
//! as the signed-in user. URLs are built from the request's `Host` (which the listener's
//! guard accepts only when it is one of the server's names) and, behind sh0's own proxy,
//! `X-Forwarded-Proto`.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::registry::Dispatcher;
use crate::registry::oauth::{
    AuthorizeError, AuthorizeParams, OAuthError, PendingAuthorization, RegistrationRequest, ServerUrls, TokenForm,
};

pub fn routes() -> Router<Dispatcher> {
    Router::new()
        .route("/.well-known/oauth-protected-resource", get(protected_resource))
        .route("/.well-known/oauth-protected-resource/mcp", get(protected_resource))
        .route("/.well-known/oauth-authorization-server", get(authorization_server))
        .route("/oauth/register", post(register))
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
}

/// This server's URLs as the request reached it.
pub fn urls(headers: &HeaderMap) -> ServerUrls {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    ServerUrls::of_request(get("x-forwarded-proto"), get("host"))
}

/// The `WWW-Authenticate` of a 401 from `/mcp`: where a client discovers how to sign in,
/// and, when it presented a token, that the token is no good (RFC 6750 §3.1).
pub fn www_authenticate(headers: &HeaderMap) -> HeaderValue {
    let u = urls(headers);
    let presented = headers.contains_key(header::AUTHORIZATION);
    HeaderValue::from_str(&format!(
        "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"{}",
        u.issuer,
        if presented { ", error=\"invalid_token\"" } else { "" }
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn protected_resource(headers: HeaderMap) -> Response {
    let u = urls(&headers);
    Json(json!({
        "resource": u.resource(),
        "authorization_servers": [u.issuer],
        "scopes_supported": ["read", "write", "admin"],
        "bearer_methods_supported": ["header"],
        "resource_name": "sh0",
    }))
    .into_response()
}

async fn authorization_server(headers: HeaderMap) -> Response {
    let u = urls(&headers);
    let i = &u.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/oauth/authorize"),
        "token_endpoint": format!("{i}/oauth/token"),
        "registration_endpoint": format!("{i}/oauth/register"),
        "scopes_supported": ["read", "write", "admin"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "code_challenge_methods_supported": ["S256"],
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

fn oauth_error(e: &OAuthError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    no_store((status, Json(e)).into_response())
}

async fn register(State(d): State<Dispatcher>, body: axum::body::Bytes) -> Response {
    let req: RegistrationRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return oauth_error(&OAuthError {
                status: 400,
                error: "invalid_client_metadata",
                error_description: format!("the body is not a registration request: {e}"),
            });
        }
    };
    match d.oauth_register(req) {
        Ok(v) => no_store((StatusCode::CREATED, Json(v)).into_response()),
        Err(e) => oauth_error(&e),
    }
}

async fn token(
    State(d): State<Dispatcher>,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return oauth_error(&OAuthError {
            status: 400,
            error: "invalid_request",
            error_description: "send the token request as application/x-www-form-urlencoded".into(),
        });
    };
    match d.oauth_token(form) {
        Ok(t) => no_store(Json(t).into_response()),
        Err(e) => oauth_error(&e),
    }
}

async fn authorize(State(d): State<Dispatcher>, headers: HeaderMap, Query(p): Query<AuthorizeParams>) -> Response {
    match d.oauth_authorize(p, &urls(&headers)).await {
        Ok(pending) => page(&consent_page(&pending)),
        Err(AuthorizeError::Show(why)) => {
            let mut r = page(&error_page(&why));
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r
        }
    }
}

/// A page of sh0's own: never framed (the consent must be the user's own click), never
/// cached, and running only its own inline script.
fn page(html: &str) -> Response {
    let mut r = Html(html.to_owned()).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; \
             form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    r
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
        // The page is a template: a name may not carry a placeholder into it.
        .replace('{', "&#123;")
        .replace('}', "&#125;")
}

fn error_page(why: &str) -> String {
    format!(
        "<!doctype html><html lang=en><meta charset=utf-8><title>sh0 · authorization refused</title>\
         <meta name=viewport content='width=device-width'><body style='font:16px system-ui;max-width:36em;margin:3em auto'>\
         <h1>This authorization request was refused</h1><p>{}</p><p>Nothing was granted. Start again from the \
         application that sent you here.</p></body></html>",
        escape(why)
    )
}

fn consent_page(p: &PendingAuthorization) -> String {
    use crate::domain::Scope;
    let what = |s: Scope| match s {
        Scope::Read => "read: see projects, apps, deployments and logs, change nothing",
        Scope::Write => "write: also deploy, restart, roll back and edit settings",
        Scope::Admin => "admin: everything your role allows, deleting included",
    };
    // The person may grant less than was asked, never more.
    let options: String = [Scope::Read, Scope::Write, Scope::Admin]
        .into_iter()
        .filter(|s| *s <= p.scope.scope)
        .map(|s| {
            let selected = if s == p.scope.scope { " selected" } else { "" };
            format!("<option value=\"{}\"{selected}>{}</option>", s.as_str(), what(s))
        })
        .collect();
    let project = match &p.scope.project {
        Some(name) => format!("only in project <b>{}</b>", escape(name)),
        None => "in every project you can reach".into(),
    };
    let redirect_host = url::Url::parse(&p.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| p.redirect_uri.clone());
    include_str!("consent.html")
        .replace("{{request}}", &escape(p.id.as_str()))
        .replace("{{client}}", &escape(&p.client_name))
        .replace("{{client_id}}", &escape(&p.client_id))
        .replace("{{scope}}", p.scope.scope.as_str())
        .replace("{{options}}", &options)
        .replace("{{project}}", &project)
        .replace("{{redirect_host}}", &escape(&redirect_host))
        .replace("{{resource}}", &escape(&p.resource))
}
