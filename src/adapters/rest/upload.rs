//! Upload endpoints, the transport for source archives (they cannot travel in a JSON tool
//! call): `POST /api/v1/apps/upload` creates an app and deploys the archive,
//! `POST /api/v1/apps/{app}/upload` deploys a new version of an existing app. Multipart
//! fields: `file` (zip or tar.gz), `name`, `port`, optional `project`. The archive is
//! streamed to a staging file under a size limit; everything else — creating the app,
//! unpacking with its guards, deploying — is a tool call through dispatch, so the same
//! permissions, validation and audit apply. Bearer-authenticated, these are not subject to
//! cookie CSRF checks (by construction: they read no cookie).

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::{adapter, credentials, error_response};
use crate::deploy::archive::MAX_UNPACKED;
use crate::domain::UploadId;
use crate::registry::{Adapter, Credentials, Dispatcher, ErrorKind, ToolError};

/// Largest archive accepted (its unpacked size has its own, equal, limit).
pub const MAX_UPLOAD: u64 = MAX_UNPACKED;

struct Form {
    upload: Option<UploadId>,
    name: Option<String>,
    port: Option<String>,
    project: Option<String>,
}

/// `POST /api/v1/uploads`: stages an archive (field `file`) for a later tool call
/// (`project_check`, `app_deploy`), which consumes it. Unused uploads are removed when
/// the server restarts.
pub async fn stage(State(d): State<Dispatcher>, headers: HeaderMap, multipart: Multipart) -> Response {
    if let Err(e) = d.authenticate(&credentials(&headers)) {
        return error_response(&e);
    }
    match read_form(multipart, &d.services().deployer.uploads_dir()).await {
        Ok(Form { upload: Some(id), .. }) => (StatusCode::CREATED, axum::Json(json!({ "upload": id }))).into_response(),
        Ok(_) => error_response(&ToolError::invalid(
            "the multipart field `file` (the archive) is missing",
        )),
        Err(e) => error_response(&e),
    }
}

pub async fn upload_new(State(d): State<Dispatcher>, headers: HeaderMap, multipart: Multipart) -> Response {
    handle(d, headers, multipart, None).await
}

pub async fn upload_existing(
    State(d): State<Dispatcher>,
    Path(app): Path<String>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    handle(d, headers, multipart, Some(app)).await
}

async fn handle(d: Dispatcher, headers: HeaderMap, multipart: Multipart, app: Option<String>) -> Response {
    let creds = credentials(&headers);
    // Authenticate before accepting a single byte of a large body.
    if let Err(e) = d.authenticate(&creds) {
        return error_response(&e);
    }
    let uploads = d.services().deployer.uploads_dir();
    let form = match read_form(multipart, &uploads).await {
        Ok(f) => f,
        Err(e) => return error_response(&e),
    };
    let staged = form.upload.as_ref().map(|u| uploads.join(u.as_str()));
    let result = deploy(&d, &creds, adapter(&headers), form, app).await;
    if let Some(path) = staged {
        let _ = tokio::fs::remove_file(path).await;
    }
    match result {
        Ok(v) => (StatusCode::CREATED, axum::Json(v)).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn deploy(
    d: &Dispatcher,
    creds: &Credentials,
    via: Adapter,
    form: Form,
    existing: Option<String>,
) -> Result<Value, ToolError> {
    let upload = form
        .upload
        .ok_or_else(|| ToolError::invalid("the multipart field `file` (the archive) is missing"))?;
    let port = match form.port.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| ToolError::invalid(format!("port: `{p}` is not a port number")))?,
        ),
        None => None,
    };
    let trigger = if via == Adapter::Cli { "cli-push" } else { "api" };
    let (app_id, created) = match existing {
        Some(app) => {
            if let Some(port) = port {
                d.dispatch(creds, via, "app_update", json!({ "app": app, "port": port }))
                    .await?;
            }
            (app, false)
        }
        None => {
            let name = form
                .name
                .ok_or_else(|| ToolError::invalid("the multipart field `name` is missing"))?;
            let project = form.project.unwrap_or_else(|| "default".into());
            if project == "default" {
                ensure_default_project(d, creds, via).await?;
            }
            let mut args = json!({ "name": name, "project": project });
            if let Some(port) = port {
                args["port"] = json!(port);
            }
            let app = d.dispatch(creds, via, "app_create", args).await?;
            (app["id"].as_str().unwrap_or_default().to_owned(), true)
        }
    };
    let deployed = d
        .dispatch(
            creds,
            via,
            "app_deploy",
            json!({ "app": app_id, "upload": upload.as_str(), "triggered_by": trigger }),
        )
        .await;
    match deployed {
        Ok(v) => Ok(v),
        Err(e) => {
            // An app created by this request and never deployed goes again: nothing is left behind.
            if created {
                let name = d
                    .dispatch(creds, via, "app_get", json!({ "app": app_id }))
                    .await
                    .ok()
                    .and_then(|a| a["name"].as_str().map(str::to_owned));
                if let Some(name) = name {
                    let _ = d
                        .dispatch(creds, via, "app_delete", json!({ "app": app_id, "confirm": name }))
                        .await;
                }
            }
            Err(e)
        }
    }
}

async fn ensure_default_project(d: &Dispatcher, creds: &Credentials, via: Adapter) -> Result<(), ToolError> {
    match d
        .dispatch(creds, via, "project_get", json!({ "project": "default" }))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind == ErrorKind::NotFound => {
            match d
                .dispatch(creds, via, "project_create", json!({ "name": "default" }))
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.kind == ErrorKind::Conflict => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Reads the form, streaming `file` to a staging file, which is removed on any error.
async fn read_form(multipart: Multipart, uploads: &std::path::Path) -> Result<Form, ToolError> {
    let mut form = Form {
        upload: None,
        name: None,
        port: None,
        project: None,
    };
    match read_fields(multipart, uploads, &mut form).await {
        Ok(()) => Ok(form),
        Err(e) => {
            if let Some(id) = &form.upload {
                let _ = tokio::fs::remove_file(uploads.join(id.as_str())).await;
            }
            Err(e)
        }
    }
}

async fn read_fields(mut multipart: Multipart, uploads: &std::path::Path, form: &mut Form) -> Result<(), ToolError> {
    let bad = |e: axum::extract::multipart::MultipartError| ToolError::invalid(format!("bad multipart body: {e}"));
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" if form.upload.is_none() => {
                tokio::fs::create_dir_all(uploads).await.map_err(ToolError::internal)?;
                let id = UploadId::generate();
                let path = uploads.join(id.as_str());
                let mut out = tokio::fs::File::create(&path).await.map_err(ToolError::internal)?;
                let mut size: u64 = 0;
                let copied: Result<(), ToolError> = async {
                    while let Some(chunk) = field.chunk().await.map_err(bad)? {
                        size += chunk.len() as u64;
                        if size > MAX_UPLOAD {
                            return Err(ToolError::invalid(format!(
                                "the archive is larger than {} MB",
                                MAX_UPLOAD / 1024 / 1024
                            )));
                        }
                        out.write_all(&chunk).await.map_err(ToolError::internal)?;
                    }
                    out.flush().await.map_err(ToolError::internal)
                }
                .await;
                if let Err(e) = copied {
                    let _ = tokio::fs::remove_file(&path).await;
                    return Err(e);
                }
                form.upload = Some(id);
            }
            "name" | "port" | "project" => {
                let text = field.text().await.map_err(bad)?;
                if text.len() > 255 {
                    return Err(ToolError::invalid(format!("{name}: longer than 255 bytes")));
                }
                match name.as_str() {
                    "name" => form.name = Some(text),
                    "port" => form.port = Some(text),
                    _ => form.project = Some(text),
                }
            }
            other => {
                return Err(ToolError::invalid(format!(
                    "unknown multipart field `{}` (expected file, name, port, project)",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    Ok(())
}
