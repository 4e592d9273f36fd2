//! `GET /api/v1/deployments/{deployment}/logs/ws?offset=N`: the build log of a deployment,
//! live, over a WebSocket. Access is decided by admitting it as a stream of `deployment_get`
//! (same permission, same audit; a browser session only from the server's own origin)
//! before the upgrade. Messages are JSON:
//! `{"pos": n, "line": "..."}` for each line, then `{"end": true, "status": "..."}`.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

use super::{adapter, credentials, error_response};
use crate::deploy::LogEvent;
use crate::domain::DeploymentId;
use crate::registry::{Dispatcher, ToolError};

#[derive(Deserialize)]
pub struct StreamQuery {
    #[serde(default)]
    offset: i64,
}

pub async fn deployment_log_ws(
    State(d): State<Dispatcher>,
    Path(id): Path<String>,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let args = json!({ "deployment": id, "log_offset": q.offset.max(0), "log_limit": 1 });
    if let Err(e) = d
        .admit_stream(&credentials(&headers), adapter(&headers), "deployment_get", args)
        .await
    {
        return error_response(&e);
    }
    let Ok(id) = DeploymentId::try_from(id) else {
        return error_response(&ToolError::invalid("not a deployment id"));
    };
    ws.on_upgrade(move |socket| stream(d, id, q.offset.max(0), socket))
        .into_response()
}

async fn stream(d: Dispatcher, id: DeploymentId, mut next: i64, mut socket: WebSocket) {
    let services = d.services().clone();
    let mut live = services.deployer.logs().subscribe(&id);
    loop {
        // Everything stored from `next` on, then wait for more.
        let Ok(lines) = services.store.deployment_log_read(&id, next, 1000) else {
            return;
        };
        for l in lines {
            next = l.pos + 1;
            if socket
                .send(Message::Text(
                    json!({ "pos": l.pos, "line": l.line }).to_string().into(),
                ))
                .await
                .is_err()
            {
                return;
            }
        }
        let Ok(row) = services.store.deployment_get(&id) else {
            return;
        };
        if !row.deployment.status.is_active() {
            // Lines written between the read and the status check.
            if let Ok(rest) = services.store.deployment_log_read(&id, next, 100_000) {
                for l in rest {
                    let _ = socket
                        .send(Message::Text(
                            json!({ "pos": l.pos, "line": l.line }).to_string().into(),
                        ))
                        .await;
                }
            }
            let end = json!({ "end": true, "status": row.deployment.status.as_str(), "error": row.deployment.error });
            let _ = socket.send(Message::Text(end.to_string().into())).await;
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        // Wake on a new line, the end, or after a second (the store is the source of truth).
        match tokio::time::timeout(Duration::from_secs(1), live.recv()).await {
            Ok(Ok(LogEvent::Line { .. })) | Ok(Ok(LogEvent::End)) | Ok(Err(RecvError::Lagged(_))) | Err(_) => {}
            Ok(Err(RecvError::Closed)) => live = services.deployer.logs().subscribe(&id),
        }
    }
}
