//! The dashboard, embedded: the Svelte app's build (`dashboard/build`, committed, so
//! `cargo build` needs no Node) is compiled into the binary and served by the API listener
//! — and so by the panel domain, which the proxy forwards here — for every path that is not
//! an API route. Assets with a content hash in their name are cached for a year; the page
//! itself is never cached, so a new binary's dashboard is seen on the next load.
//!
//! Every page carries a Content-Security-Policy with no `unsafe-inline` for scripts: the
//! page's two inline scripts (SvelteKit's bootstrap and the theme set before the first
//! paint) are allowed by their SHA-256, computed here from the embedded page, so a rebuilt
//! dashboard can never drift from its policy. No third-party origin is allowed anywhere,
//! and no page may be framed (`frame-ancestors 'none'`).

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

/// The digest of the embedded build (build.rs), sent with the page: which dashboard a
/// server serves, and the tie that recompiles this file when the build changes.
pub const DIGEST: &str = env!("SH0_DASHBOARD_DIGEST");

#[cfg(feature = "dashboard")]
static BUILD: include_dir::Dir<'static> = include_dir::include_dir!("$CARGO_MANIFEST_DIR/dashboard/build");

/// Paths the dashboard never answers: they belong to the API, MCP, OAuth and git routes,
/// whose own handlers (or their JSON 404) answer them.
const NOT_PAGES: &[&str] = &["/api/", "/mcp", "/oauth/", "/.well-known/", "/git/", "/healthz"];

/// One embedded file, ready to send.
struct Asset {
    body: Bytes,
    /// The same, gzip-compressed, when that is smaller.
    gzip: Option<Bytes>,
    content_type: &'static str,
    immutable: bool,
}

/// The embedded files by URL path, and the page's security policy.
struct Site {
    assets: HashMap<String, Asset>,
    csp: HeaderValue,
}

/// The dashboard's router: a fallback that serves assets and, for any other page path,
/// the app's `index.html` (client-side routing).
pub fn router() -> Router {
    let site = Arc::new(Site::load());
    Router::new().fallback(move |req: Request| {
        let site = site.clone();
        async move { site.serve(req.method(), req.uri().path(), req.headers()) }
    })
}

impl Site {
    #[cfg(feature = "dashboard")]
    fn files() -> Vec<(String, &'static [u8])> {
        fn walk(dir: &'static include_dir::Dir<'static>, out: &mut Vec<(String, &'static [u8])>) {
            for f in dir.files() {
                out.push((format!("/{}", f.path().to_string_lossy()), f.contents()));
            }
            for d in dir.dirs() {
                walk(d, out);
            }
        }
        let mut out = Vec::new();
        walk(&BUILD, &mut out);
        out
    }

    /// Without the `dashboard` feature, a page that says how to get one.
    #[cfg(not(feature = "dashboard"))]
    fn files() -> Vec<(String, &'static [u8])> {
        vec![(
            "/index.html".to_owned(),
            b"<!doctype html><title>sh0</title><p>This sh0 was built without its dashboard (cargo feature `dashboard`). The API is at <a href=\"/api/v1/docs\">/api/v1/docs</a>.</p>".as_slice(),
        )]
    }

    fn load() -> Self {
        let mut assets = HashMap::new();
        for (path, contents) in Self::files() {
            let content_type = content_type(&path);
            let gzip = gzip(contents).filter(|g| g.len() + 64 < contents.len());
            let immutable = path.starts_with("/_app/immutable/");
            assets.insert(
                path,
                Asset {
                    body: Bytes::from_static(contents),
                    gzip,
                    content_type,
                    immutable,
                },
            );
        }
        let index = assets.get("/index.html").map(|a| a.body.clone()).unwrap_or_default();
        let csp = HeaderValue::from_str(&content_security_policy(&String::from_utf8_lossy(&index)))
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
        Self { assets, csp }
    }

    fn serve(&self, method: &Method, path: &str, headers: &HeaderMap) -> Response {
        if NOT_PAGES
            .iter()
            .any(|p| path.starts_with(p) || path == p.trim_end_matches('/'))
        {
            return json_error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route; the API is described at /api/v1/openapi.json",
            );
        }
        if method != Method::GET && method != Method::HEAD {
            return json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_input",
                "the dashboard's pages only answer GET",
            );
        }
        // A file of the build, or else the app's page (it routes in the browser). A missing
        // hashed asset is a real 404: answering it with the page would hide a stale tab.
        let (asset, page) = match self.assets.get(path) {
            Some(a) if path != "/index.html" => (a, false),
            _ if path.starts_with("/_app/") => {
                return json_error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such dashboard asset; reload the page",
                );
            }
            _ => match self.assets.get("/index.html") {
                Some(a) => (a, true),
                None => return json_error(StatusCode::NOT_FOUND, "not_found", "the dashboard is not built"),
            },
        };
        let wants_gzip = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        let (body, gzipped) = match (&asset.gzip, wants_gzip) {
            (Some(g), true) => (g.clone(), true),
            _ => (asset.body.clone(), false),
        };
        let mut resp = if method == Method::HEAD {
            Response::new(Body::empty())
        } else {
            Response::new(Body::from(body))
        };
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        if gzipped {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if asset.immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-store"
            }),
        );
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        if page {
            h.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
            h.insert("x-sh0-dashboard", HeaderValue::from_static(DIGEST));
        }
        resp
    }
}

fn json_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": { "kind": kind, "message": message } })),
    )
        .into_response()
}

fn gzip(data: &[u8]) -> Option<Bytes> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).ok()?;
    enc.finish().ok().map(Bytes::from)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// The inline scripts of `page`: the text between each `<script>` without a `src` and its
/// closing tag, exactly as the browser hashes it.
pub fn inline_scripts(page: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else { break };
        let tag = &after[..open_end];
        let body_start = &after[open_end + 1..];
        let Some(close) = body_start.find("</script>") else {
            break;
        };
        if !tag.contains("src=") {
            out.push(&body_start[..close]);
        }
        rest = &body_start[close + "</script>".len()..];
    }
    out
}

/// The policy of the dashboard's page: its own origin only, its inline scripts by hash.
/// Styles allow inline attributes (Svelte sets some, e.g. a bar's width); scripts never.
pub fn content_security_policy(page: &str) -> String {
    let hashes: Vec<String> = inline_scripts(page)
        .into_iter()
        .map(|s| {
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()))
            )
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self' {}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'",
        hashes.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_hashed_and_external_ones_are_not() {
        let page = "<script>a()</script><script type=\"module\" src=\"/x.js\"></script>\n<script>\n b() \n</script>";
        assert_eq!(inline_scripts(page), vec!["a()", "\n b() \n"]);
        let csp = content_security_policy(page);
        let a = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"a()"));
        assert!(csp.contains(&format!("'sha256-{a}'")), "{csp}");
        assert_eq!(csp.matches("'sha256-").count(), 2);
        let scripts = csp.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
        assert!(!scripts.contains("unsafe"), "{scripts}");
        assert!(csp.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn the_embedded_page_has_a_policy_for_each_inline_script() {
        let site = Site::load();
        let page = site.assets.get("/index.html").expect("the dashboard build is embedded");
        let text = String::from_utf8_lossy(&page.body);
        let n = inline_scripts(&text).len();
        assert!(n >= 1, "SvelteKit's bootstrap is inline");
        assert_eq!(site.csp.to_str().unwrap().matches("'sha256-").count(), n);
    }
}
