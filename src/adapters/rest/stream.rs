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

use super::{adapter, credentials, error_response};
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

async fn stream(d: Dispatcher, id: DeploymentId, from: i64, mut socket: WebSocket) {
    let mut messages = d.deployment_log_stream(id, from);
    while let Some(m) = messages.recv().await {
        if socket.send(Message::Text(m.to_string().into())).await.is_err() {
            return;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
