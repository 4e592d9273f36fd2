//! The git endpoints, as `app_deploy` declares them: a forge's webhook delivery (its raw
//! body, read up to the limit, is what the signature covers) and `git push` over smart
//! HTTP (`info/refs` and `git-receive-pack`), authenticated by an API key as the HTTP Basic
//! password. Errors for the git client are plain text: git prints them as `remote:` lines.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http_body_util::BodyExt;

use crate::registry::{Credentials, Dispatcher, ErrorKind, MAX_WEBHOOK_BODY, ToolError, WebhookBody};

/// `POST /api/v1/apps/{app}/webhook`.
pub(super) async fn webhook(
    State(d): State<Dispatcher>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match http_body_util::Limited::new(body, MAX_WEBHOOK_BODY).collect().await {
        Ok(b) => WebhookBody::Bytes(b.to_bytes()),
        Err(_) => WebhookBody::TooLarge,
    };
    let headers: HashMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    super::respond(d.git_webhook(&app, &headers, body).await, StatusCode::OK)
}

#[derive(serde::Deserialize)]
pub(super) struct ServiceQuery {
    service: Option<String>,
}

/// `GET /git/{app}.git/info/refs?service=git-receive-pack`.
pub(super) async fn info_refs(
    State(d): State<Dispatcher>,
    Path(repo): Path<String>,
    Query(q): Query<ServiceQuery>,
    headers: HeaderMap,
) -> Response {
    if q.service.as_deref() != Some("git-receive-pack") {
        return text_error(&ToolError::forbidden(
            "sh0 takes pushes only: `git push` to this URL deploys the app (fetching is not offered)",
        ));
    }
    match d.git_advertise(&basic(&headers), &repo).await {
        Ok(body) => git_response("application/x-git-receive-pack-advertisement", Body::from(body)),
        Err(e) => text_error(&e),
    }
}

/// `POST /git/{app}.git/git-receive-pack`.
pub(super) async fn receive_pack(
    State(d): State<Dispatcher>,
    Path(repo): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if headers.get(header::CONTENT_ENCODING).is_some_and(|v| v != "identity") {
        return text_error(&ToolError::invalid("send the push uncompressed"));
    }
    match d.git_receive(&basic(&headers), &repo, body.into_data_stream()).await {
        Ok(stream) => git_response("application/x-git-receive-pack-result", Body::from_stream(stream)),
        Err(e) => text_error(&e),
    }
}

/// The API key in `Authorization: Basic` (any user name, the key as password), or a
/// bearer header.
fn basic(headers: &HeaderMap) -> Credentials {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let password = value
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| pair.split_once(':').map(|(_, p)| p.to_owned()))
        .filter(|p| !p.is_empty());
    match password {
        Some(p) => Credentials::Bearer(p),
        None => Credentials::from_authorization(value),
    }
}

fn git_response(content_type: &'static str, body: Body) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The error as text for the git client; a missing or wrong key asks for Basic credentials.
fn text_error(e: &ToolError) -> Response {
    let status = super::status_of(e.kind);
    let mut resp = (status, format!("sh0: {}\n", e.message)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if e.kind == ErrorKind::Unauthenticated {
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sh0 (user: anything, password: an API key)\""),
        );
    }
    resp
}
