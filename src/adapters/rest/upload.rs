//! Upload endpoints, the transport for source archives (they cannot travel in a JSON tool
//! call): `POST /api/v1/uploads` stages one for a later tool call, `POST /api/v1/apps/upload`
//! creates an app and deploys the archive, `POST /api/v1/apps/{app}/upload` deploys a new
//! version of an existing app. Multipart fields: `file` (zip or tar.gz), `name`, `port`,
//! optional `project`. Each request is admitted by dispatch for the tool that will consume
//! the archive (permission, CSRF for browser sessions, project access, the per-user quota,
//! an audit record) before its body is read; then the archive is streamed to the staging
//! file under a size limit, and everything else — creating the app, unpacking with its
//! guards, deploying — is a tool call through dispatch.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::{adapter, credentials, error_response};
use crate::registry::{Adapter, AdmittedUpload, Credentials, Dispatcher, ErrorKind, MAX_UPLOAD_BYTES, ToolError};

struct Form {
    /// The received archive; dropped without `keep`, it is discarded.
    upload: Option<AdmittedUpload>,
    name: Option<String>,
    port: Option<String>,
    project: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct StageQuery {
    /// The tool that will consume the upload: `app_deploy` (default) or `project_check`.
    #[serde(rename = "for")]
    for_tool: Option<String>,
    /// The app it will be deployed to, so access is checked before the transfer.
    app: Option<String>,
}

/// `POST /api/v1/uploads?for=app_deploy|project_check[&app=APP]`: stages an archive
/// (field `file`) for a later call of that tool by the same user, who must be allowed to
/// call it. Unused uploads expire after an hour.
pub async fn stage(
    State(d): State<Dispatcher>,
    Query(q): Query<StageQuery>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let tool = q.for_tool.as_deref().unwrap_or("app_deploy");
    let args = match &q.app {
        Some(app) => json!({ "app": app }),
        None => json!({}),
    };
    let admitted = match d
        .admit_upload(&credentials(&headers), adapter(&headers), tool, args)
        .await
    {
        Ok(a) => a,
        Err(e) => return error_response(&e),
    };
    match read_form(multipart, admitted).await {
        Ok(Form { upload: Some(u), .. }) => {
            (StatusCode::CREATED, axum::Json(json!({ "upload": u.keep() }))).into_response()
        }
        Ok(Form { .. }) => error_response(&ToolError::invalid(
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
    // Admitted as an upload for app_deploy (on that app, when it exists) before a single
    // byte of a large body is accepted.
    let args = match &app {
        Some(app) => json!({ "app": app }),
        None => json!({}),
    };
    let admitted = match d.admit_upload(&creds, adapter(&headers), "app_deploy", args).await {
        Ok(a) => a,
        Err(e) => return error_response(&e),
    };
    let form = match read_form(multipart, admitted).await {
        Ok(f) => f,
        Err(e) => return error_response(&e),
    };
    // The upload lives as long as the call (a client that goes away drops it, and it is
    // discarded); app_deploy takes it over.
    let result = deploy(&d, &creds, adapter(&headers), form, app).await;
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
    let trigger = match via {
        Adapter::Cli => "cli-push",
        Adapter::Dashboard => "dashboard",
        _ => "api",
    };
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
            json!({ "app": app_id, "upload": upload.id.as_str(), "triggered_by": trigger }),
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

/// Reads the form, streaming `file` into the admitted upload; without a file, or on any
/// error, the upload is dropped and so discarded.
async fn read_form(multipart: Multipart, admitted: AdmittedUpload) -> Result<Form, ToolError> {
    let mut form = Form {
        upload: None,
        name: None,
        port: None,
        project: None,
    };
    read_fields(multipart, admitted, &mut form).await.map(|()| form)
}

async fn read_fields(mut multipart: Multipart, admitted: AdmittedUpload, form: &mut Form) -> Result<(), ToolError> {
    let mut admitted = Some(admitted);
    let bad = |e: axum::extract::multipart::MultipartError| ToolError::invalid(format!("bad multipart body: {e}"));
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" if form.upload.is_none() => {
                let Some(upload) = admitted.take() else {
                    continue;
                };
                let mut out = tokio::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&upload.path)
                    .await
                    .map_err(ToolError::internal)?;
                let mut size: u64 = 0;
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    size += chunk.len() as u64;
                    if size > MAX_UPLOAD_BYTES {
                        return Err(ToolError::invalid(format!(
                            "the archive is larger than {} MB",
                            MAX_UPLOAD_BYTES / 1024 / 1024
                        )));
                    }
                    out.write_all(&chunk).await.map_err(ToolError::internal)?;
                }
                out.flush().await.map_err(ToolError::internal)?;
                form.upload = Some(upload);
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
