//! Log streams: `GET <path>?offset=N` for every log stream a tool declares (e.g.
//! `/api/v1/deployments/{deployment}/logs/ws` of `deployment_get`, `/api/v1/jobs/{job}/logs/ws`
//! of `job_get`): the log of a job, live, over a WebSocket. Access is decided before the
//! upgrade by admitting it as a call of the declaring tool with the path's parameters (same
//! permission, same audit; a browser session only from the server's own origin). Messages
//! are JSON: `{"pos": n, "line": "..."}` for each line, then
//! `{"end": true, "job": "...", "status": "...", "error": ...}` with the job's final status.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

use super::{adapter, credentials, error_response};
use crate::registry::{Dispatcher, LogFollow};

#[derive(Deserialize)]
pub struct StreamQuery {
    #[serde(default)]
    offset: i64,
}

/// The handler of `tool`'s log stream.
pub async fn route(
    tool: &'static str,
    State(d): State<Dispatcher>,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let mut args: Map<String, Value> = params.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let from = q.offset.max(0);
    args.insert("log_offset".into(), from.into());
    let admitted = d
        .admit_log_stream(
            &credentials(&headers),
            adapter(&headers),
            tool,
            Value::Object(args),
            from,
        )
        .await;
    match admitted {
        Ok(follow) => ws.on_upgrade(move |socket| stream(d, follow, socket)).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn stream(d: Dispatcher, follow: LogFollow, mut socket: WebSocket) {
    let mut messages = d.job_log_stream(follow);
    while let Some(m) = messages.recv().await {
        if socket.send(Message::Text(m.to_string().into())).await.is_err() {
            return;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
