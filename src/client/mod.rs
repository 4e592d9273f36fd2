//! The HTTP client of a sh0 server, used by the CLI and the stdio MCP bridge. It speaks the
//! REST adapter's generic endpoints and turns the error envelope back into a `ToolError`,
//! so remote calls fail exactly like local ones.

mod config;
mod upload;

pub use config::{ClientConfig, DEFAULT_URL, config_path};

use serde_json::Value;
use std::time::Duration;

use crate::registry::{Catalog, ErrorKind, ToolError};

#[derive(Clone)]
pub struct ApiClient {
    base: String,
    token: Option<String>,
    /// Audit label (`cli`, `mcp`) sent as `X-Sh0-Adapter`.
    adapter: &'static str,
    http: reqwest::Client,
}

impl ApiClient {
    pub fn new(base: &str, token: Option<String>, adapter: &'static str) -> Result<Self, ToolError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("sh0/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ToolError::new(ErrorKind::Internal, format!("could not build the HTTP client: {e}")))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            adapter,
            http,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-sh0-adapter", self.adapter);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, ToolError> {
        let resp = req.send().await.map_err(|e| {
            ToolError::new(
                ErrorKind::Unavailable,
                format!("cannot reach the sh0 server at {}: {}", self.base, root_cause(&e)),
            )
        })?;
        self.send_response(resp).await
    }

    async fn send_response(&self, resp: reqwest::Response) -> Result<Value, ToolError> {
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| {
            ToolError::new(
                ErrorKind::Unavailable,
                format!("the server at {} sent an unreadable answer: {e}", self.base),
            )
        })?;
        if status.is_success() {
            return Ok(body);
        }
        match serde_json::from_value::<ToolError>(body["error"].clone()) {
            Ok(e) => Err(e),
            Err(_) => Err(ToolError::new(
                ErrorKind::Internal,
                format!("the server answered {status}"),
            )),
        }
    }

    /// POSTs a JSON body to an endpoint that is not a tool (the account endpoints).
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<Value, ToolError> {
        self.send(self.request(reqwest::Method::POST, path).json(body)).await
    }

    /// Calls a tool by name.
    pub async fn call_tool(&self, name: &str, args: Value) -> Result<Value, ToolError> {
        self.send(
            self.request(reqwest::Method::POST, &format!("/api/v1/tools/{name}"))
                .json(&args),
        )
        .await
    }

    /// The tools this client's key may call.
    pub async fn catalog(&self) -> Result<Catalog, ToolError> {
        let v = self.send(self.request(reqwest::Method::GET, "/api/v1/tools")).await?;
        serde_json::from_value(v).map_err(|e| ToolError::internal(format!("catalog: {e}")))
    }
}

/// One Server-Sent Event: its name and its JSON data.
pub type StreamEvent = (String, Value);

impl ApiClient {
    /// POSTs `body` to a tool route that streams (`Accept: text/event-stream`) and hands
    /// each event to `on_event` as it arrives; returns the `done` event's result, or the
    /// `error` event's error.
    pub async fn post_stream(
        &self,
        path: &str,
        body: &Value,
        mut on_event: impl FnMut(&StreamEvent),
    ) -> Result<Value, ToolError> {
        use eventsource_stream::Eventsource;
        use futures::StreamExt;
        let unreachable = |e: &dyn std::error::Error| {
            ToolError::new(
                ErrorKind::Unavailable,
                format!("cannot reach the sh0 server at {}: {}", self.base, root_cause(e)),
            )
        };
        // A turn may take minutes: no overall timeout on the stream.
        let resp = self
            .request(reqwest::Method::POST, path)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .timeout(Duration::from_secs(3600))
            .json(body)
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        if !resp.status().is_success() {
            return self.send_response(resp).await;
        }
        let mut events = resp.bytes_stream().eventsource();
        while let Some(ev) = events.next().await {
            let ev = ev.map_err(|e| unreachable(&e))?;
            let data: Value = serde_json::from_str(&ev.data).unwrap_or(Value::String(ev.data.clone()));
            match ev.event.as_str() {
                "done" => return Ok(data),
                "error" => {
                    return Err(serde_json::from_value(data["error"].clone())
                        .unwrap_or_else(|_| ToolError::internal("the stream ended with an unreadable error")));
                }
                _ => on_event(&(ev.event, data)),
            }
        }
        Err(ToolError::new(
            ErrorKind::Unavailable,
            "the server closed the stream before the answer ended",
        ))
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
