//! The REST adapter: `/api/v1` routes generated from each tool's `meta.http`, plus the
//! generic `GET /api/v1/tools` (the caller's catalog) and `POST /api/v1/tools/{name}` (call
//! any tool by name, which sh0's own CLI and stdio MCP bridge use). Every route gathers
//! path, query and body into one argument object and hands it to dispatch; errors leave in
//! one envelope: `{ "error": { "kind", "message" } }`.

mod auth;
mod git;
mod oauth;
mod openapi;
mod openapi_auth;
mod sse;
mod stream;
mod upload;

pub use openapi::openapi_document;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, get, on, post};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

use crate::registry::{
    Adapter, Catalog, Credentials, Dispatcher, ErrorKind, HttpMethod, ToolDescriptor, ToolError, Transport, same_origin,
};

/// The header sh0's own clients use to name themselves in the audit log.
pub const ADAPTER_HEADER: &str = "x-sh0-adapter";

/// HTTP status for each error kind: the one mapping of this adapter.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::ConfirmationRequired => StatusCode::PRECONDITION_REQUIRED,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::SecondFactorRequired => StatusCode::UNAUTHORIZED,
    }
}

/// The error envelope as a response.
pub fn error_response(e: &ToolError) -> Response {
    let mut resp = (status_of(e.kind), axum::Json(json!({ "error": e }))).into_response();
    if e.kind == ErrorKind::Unauthenticated {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"sh0\""),
        );
    }
    if let Some(secs) = e.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    resp
}

/// A bearer key when the request has one; else the session cookie, with the CSRF header.
fn credentials(headers: &HeaderMap) -> Credentials {
    let bearer = Credentials::from_authorization(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    if !matches!(bearer, Credentials::None) {
        return bearer;
    }
    match auth::cookie(headers, auth::cookie_names(headers).access).filter(|v| !v.is_empty()) {
        Some(access) => Credentials::Session {
            access: access.to_owned(),
            csrf: header_str(headers, "x-csrf-token").map(str::to_owned),
            same_origin: same_origin(header_str(headers, "origin"), header_str(headers, "host")),
        },
        None => Credentials::None,
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn adapter(headers: &HeaderMap) -> Adapter {
    headers
        .get(ADAPTER_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(Adapter::from_hint)
        .unwrap_or(Adapter::Rest)
}

/// The `/api/v1` router.
pub use oauth::www_authenticate;

pub fn router(dispatcher: Dispatcher) -> Router {
    let mut by_path: BTreeMap<&'static str, MethodRouter<Dispatcher>> = BTreeMap::new();
    for desc in dispatcher.registry().iter() {
        let Some(route) = desc.meta().http else {
            continue;
        };
        let name = desc.meta().name;
        let filter = match route.method {
            HttpMethod::Get => MethodFilter::GET,
            HttpMethod::Post => MethodFilter::POST,
            HttpMethod::Put => MethodFilter::PUT,
            HttpMethod::Patch => MethodFilter::PATCH,
            HttpMethod::Delete => MethodFilter::DELETE,
        };
        let handler =
            move |State(d): State<Dispatcher>,
                  Path(params): Path<HashMap<String, String>>,
                  method: Method,
                  uri: Uri,
                  headers: HeaderMap,
                  body: Bytes| async move { route_call(&d, name, params, &method, &uri, &headers, &body).await };
        let entry = by_path.remove(route.path).unwrap_or_default();
        by_path.insert(route.path, entry.merge(on(filter, handler)));
    }
    let mut router = auth::routes()
        .merge(oauth::routes())
        .route("/api/v1/openapi.json", get(serve_openapi))
        .route("/api/v1/docs", get(|| async { Html(include_str!("docs.html")) }))
        .route("/api/v1/tools", get(list_tools))
        .route("/api/v1/tools/{name}", post(call_by_name))
        .route(
            "/api/v1/uploads",
            post(upload::stage).layer(DefaultBodyLimit::max(
                crate::registry::MAX_UPLOAD_BYTES as usize + 1024 * 1024,
            )),
        )
        .route(
            "/api/v1/apps/upload",
            post(upload::upload_new).layer(DefaultBodyLimit::max(
                crate::registry::MAX_UPLOAD_BYTES as usize + 1024 * 1024,
            )),
        )
        .route(
            "/api/v1/apps/{app}/upload",
            post(upload::upload_existing).layer(DefaultBodyLimit::max(
                crate::registry::MAX_UPLOAD_BYTES as usize + 1024 * 1024,
            )),
        );
    for (path, mr) in by_path {
        router = router.route(path, mr);
    }
    // Log streams and hook deliveries, as their tools declare them (uploads have their own
    // handlers above; the endpoint walk in the tests calls every declared path).
    for desc in dispatcher.registry().iter() {
        let name = desc.meta().name;
        for t in desc.transports() {
            match t {
                Transport::LogStream { path, .. } => {
                    router = router.route(path, get(move |s, p, q, h, ws| stream::route(name, s, p, q, h, ws)));
                }
                Transport::Hook { path } => {
                    router = router.route(path, post(hook_delivery).layer(DefaultBodyLimit::max(64 * 1024)));
                }
                // Read up to the limit by the handler itself: a too-large delivery is recorded.
                Transport::Webhook { path } => {
                    router = router.route(path, post(git::webhook).layer(DefaultBodyLimit::disable()));
                }
                // git checks the pack's size itself (`receive.maxInputSize`).
                Transport::GitPush { path } => {
                    router = router
                        .route(path, post(git::receive_pack).layer(DefaultBodyLimit::disable()))
                        .route(&path.replace("git-receive-pack", "info/refs"), get(git::info_refs));
                }
                // Served by the tool's own route, on request (see `sse`).
                Transport::Upload { .. } | Transport::EventStream { .. } => {}
            }
        }
    }
    // Unknown API paths answer in the API's envelope; every other path is the dashboard's
    // (the composition root adds it).
    router
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .with_state(dispatcher)
}

async fn api_not_found() -> Response {
    error_response(&ToolError::not_found(
        "no such route; the API is described at /api/v1/openapi.json",
    ))
}

/// `POST /api/v1/hooks/{hook}`: a deploy hook's delivery. The body is not read (a forge's
/// payload may come along, within 64 KiB); the token header is the credential.
async fn hook_delivery(State(d): State<Dispatcher>, Path(hook): Path<String>, headers: HeaderMap) -> Response {
    let token = headers
        .get(crate::registry::HOOK_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok());
    respond(d.fire_hook(&hook, token).await, StatusCode::ACCEPTED)
}

async fn serve_openapi(State(d): State<Dispatcher>) -> Response {
    axum::Json(openapi_document(d.registry())).into_response()
}

async fn list_tools(State(d): State<Dispatcher>, headers: HeaderMap) -> Response {
    match d.visible_tools(&credentials(&headers)) {
        Ok(names) => axum::Json(Catalog::of(d.registry(), |n| names.contains(&n))).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn call_by_name(
    State(d): State<Dispatcher>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let args = match parse_body(&body) {
        Ok(args) => Value::Object(args),
        Err(e) => return error_response(&e),
    };
    respond(
        d.dispatch(&credentials(&headers), adapter(&headers), &name, args).await,
        StatusCode::OK,
    )
}

async fn route_call(
    d: &Dispatcher,
    name: &'static str,
    params: HashMap<String, String>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let Some(desc) = d.registry().get(name) else {
        return error_response(&ToolError::internal("route to a missing tool"));
    };
    let mut args = if method == Method::GET || method == Method::DELETE {
        Map::new()
    } else {
        match parse_body(body) {
            Ok(m) => m,
            Err(e) => return error_response(&e),
        }
    };
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        let value = coerce(desc, &k, &v);
        args.insert(k.into_owned(), value);
    }
    for (k, v) in params {
        if let Some(existing) = args.get(&k)
            && existing.as_str() != Some(v.as_str())
        {
            return error_response(&ToolError::invalid(format!(
                "{k}: the body says {existing}, the path says `{v}`"
            )));
        }
        args.insert(k, Value::String(v));
    }
    if sse::wanted(headers)
        && desc
            .transports()
            .contains(&Transport::EventStream { path: desc_path(desc) })
    {
        return sse::respond(
            d.clone(),
            credentials(headers),
            adapter(headers),
            name,
            Value::Object(args),
        );
    }
    let ok = if method == Method::POST && !desc.meta().idempotent {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    respond(
        d.dispatch(&credentials(headers), adapter(headers), name, Value::Object(args))
            .await,
        ok,
    )
}

/// The path of a tool's own route.
fn desc_path(desc: &ToolDescriptor) -> &'static str {
    desc.meta().http.map(|r| r.path).unwrap_or_default()
}

fn respond(result: Result<Value, ToolError>, ok: StatusCode) -> Response {
    match result {
        Ok(v) => (ok, axum::Json(v)).into_response(),
        Err(e) => error_response(&e),
    }
}

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, ToolError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(ToolError::invalid("the request body must be a JSON object")),
        Err(e) => Err(ToolError::invalid(format!("the request body is not valid JSON: {e}"))),
    }
}

/// Query strings carry only text: turn `true`/`42` into the JSON type the input schema
/// declares for that property, so `?reveal=true` means the boolean. Anything that does
/// not parse stays a string and validation reports it.
fn coerce(desc: &ToolDescriptor, key: &str, raw: &str) -> Value {
    let types: Vec<&str> = desc
        .input_properties()
        .into_iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, s)| s.get("type"))
        .map(|t| match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        })
        .unwrap_or_default();
    if types.contains(&"boolean") && (raw == "true" || raw == "false") {
        return Value::Bool(raw == "true");
    }
    if types.contains(&"integer")
        && let Ok(n) = raw.parse::<i64>()
    {
        return json!(n);
    }
    if types.contains(&"number")
        && let Ok(n) = raw.parse::<f64>()
    {
        return json!(n);
    }
    Value::String(raw.to_owned())
}
