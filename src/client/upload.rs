//! Uploading source archives and following a deployment's build log, for `sh0 push`.

use futures::StreamExt;
use serde_json::Value;
use std::time::Duration;

use super::ApiClient;
use crate::registry::{ErrorKind, ToolError};

/// Uploads can be large and slow: their own client, with a 300 s timeout.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);

impl ApiClient {
    /// Uploads `archive`: a new app (`app: None`, created as `name`) or a new version of
    /// an existing one. Returns the server's answer (deployment id, app id, url).
    pub async fn upload(
        &self,
        app: Option<&str>,
        name: &str,
        port: Option<u16>,
        archive: Vec<u8>,
    ) -> Result<Value, ToolError> {
        let http = reqwest::Client::builder()
            .timeout(UPLOAD_TIMEOUT)
            .user_agent(concat!("sh0/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ToolError::new(ErrorKind::Internal, format!("could not build the upload client: {e}")))?;
        let part = reqwest::multipart::Part::bytes(archive)
            .file_name("source.zip")
            .mime_str("application/zip")
            .map_err(|e| ToolError::new(ErrorKind::Internal, e.to_string()))?;
        let mut form = reqwest::multipart::Form::new()
            .part("file", part)
            .text("name", name.to_owned());
        if let Some(p) = port {
            form = form.text("port", p.to_string());
        }
        let path = match app {
            Some(id) => format!("/api/v1/apps/{id}/upload"),
            None => "/api/v1/apps/upload".to_string(),
        };
        let mut req = http
            .post(format!("{}{path}", self.base))
            .header("x-sh0-adapter", self.adapter)
            .multipart(form);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    /// Follows a deployment until it ends, passing each log line to `on_line`; returns the
    /// final deployment record. Streams over the WebSocket, and falls back to polling
    /// `deployment_get` every 1.5 s when the WebSocket is not available.
    pub async fn follow(&self, deployment: &str, mut on_line: impl FnMut(&str)) -> Result<Value, ToolError> {
        let mut next = 0i64;
        if let Ok(mut ws) = self.log_socket(deployment).await {
            while let Some(Ok(msg)) = ws.next().await {
                let tokio_tungstenite::tungstenite::Message::Text(text) = msg else {
                    continue;
                };
                let v: Value = serde_json::from_str(&text).unwrap_or_default();
                if v["end"] == true {
                    break;
                }
                if let (Some(pos), Some(line)) = (v["pos"].as_i64(), v["line"].as_str()) {
                    next = pos + 1;
                    on_line(line);
                }
            }
        }
        loop {
            let args = serde_json::json!({ "deployment": deployment, "log_offset": next });
            let v = self.call_tool("deployment_get", args).await?;
            for line in v["log"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                on_line(line);
            }
            next = v["next_offset"].as_i64().unwrap_or(next);
            if v["active"] == false {
                return Ok(v["deployment"].clone());
            }
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
    }

    async fn log_socket(
        &self,
        deployment: &str,
    ) -> Result<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>, String>
    {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}/api/v1/deployments/{deployment}/logs/ws", self.base)
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        let mut req = url.into_client_request().map_err(|e| e.to_string())?;
        if let Some(t) = &self.token {
            req.headers_mut().insert(
                "authorization",
                format!("Bearer {t}").parse().map_err(|_| "token".to_string())?,
            );
        }
        req.headers_mut().insert(
            "x-sh0-adapter",
            self.adapter.parse().map_err(|_| "adapter".to_string())?,
        );
        let (ws, _) = tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(req))
            .await
            .map_err(|_| "timeout".to_string())?
            .map_err(|e| e.to_string())?;
        Ok(ws)
    }
}
