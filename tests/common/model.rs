//! A scripted model: a local server that speaks the OpenAI chat-completions wire format
//! (streaming, `tool_calls` deltas, a usage chunk) and answers each request with the next
//! scripted turn. It records every request body it receives, so a test can show what the
//! model was sent (never a secret) and which tools it was offered. This is the external
//! boundary of the assistant, faked in its real format; everything behind it is real.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One scripted answer: text, tool calls (name and arguments), or both.
#[derive(Debug, Clone, Default)]
pub struct Turn {
    pub text: Option<String>,
    pub calls: Vec<(String, Value)>,
    /// Wait this long before answering (a slow model).
    pub delay_ms: u64,
}

pub fn say(text: &str) -> Turn {
    Turn {
        text: Some(text.into()),
        ..Turn::default()
    }
}

pub fn call(tool: &str, args: Value) -> Turn {
    Turn {
        calls: vec![(tool.into(), args)],
        ..Turn::default()
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Turn>,
    requests: Vec<Value>,
    /// The `Authorization` header of each request.
    auth: Vec<String>,
    calls: u64,
}

#[derive(Clone)]
pub struct ScriptedModel {
    inner: Arc<Mutex<Inner>>,
    pub base_url: String,
}

impl ScriptedModel {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            inner,
            base_url: format!("http://{addr}/v1"),
        }
    }

    /// Queues the answers to the next requests, in order.
    pub fn script(&self, turns: Vec<Turn>) {
        self.inner.lock().unwrap().script.extend(turns);
    }

    /// Every request body received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// The `Authorization` header of the last request.
    pub fn last_auth(&self) -> Option<String> {
        self.inner.lock().unwrap().auth.last().cloned()
    }

    /// The names of the tools offered in the last request.
    pub fn offered(&self) -> Vec<String> {
        let reqs = self.requests();
        reqs.last()
            .and_then(|r| r["tools"].as_array())
            .map(|t| {
                t.iter()
                    .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn chunk(id: &str, delta: Value, finish: Option<&str>) -> String {
    let c = json!({
        "id": id, "object": "chat.completion.chunk", "created": 1, "model": "scripted",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
    });
    format!("data: {c}\n\n")
}

async fn complete(State(inner): State<Arc<Mutex<Inner>>>, headers: axum::http::HeaderMap, body: String) -> Response {
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let (turn, n) = {
        let mut i = inner.lock().unwrap();
        i.requests.push(request);
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        i.auth.push(auth);
        i.calls += 1;
        (
            i.script.pop_front().unwrap_or_else(|| say("(the script has ended)")),
            i.calls,
        )
    };
    if turn.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(turn.delay_ms)).await;
    }
    let id = format!("chatcmpl-{n}");
    let mut out = chunk(&id, json!({ "role": "assistant", "content": "" }), None);
    if let Some(text) = &turn.text {
        // In pieces, as a model writes.
        let words: Vec<&str> = text.split_inclusive(' ').collect();
        for w in words {
            out.push_str(&chunk(&id, json!({ "content": w }), None));
        }
    }
    for (i, (name, args)) in turn.calls.iter().enumerate() {
        let args = args.to_string();
        let (a, b) = args.split_at(args.len() / 2);
        out.push_str(&chunk(
            &id,
            json!({ "tool_calls": [{ "index": i, "id": format!("call_{n}_{i}"), "type": "function",
                    "function": { "name": name, "arguments": a } }] }),
            None,
        ));
        out.push_str(&chunk(
            &id,
            json!({ "tool_calls": [{ "index": i, "function": { "arguments": b } }] }),
            None,
        ));
    }
    let finish = if turn.calls.is_empty() { "stop" } else { "tool_calls" };
    out.push_str(&chunk(&id, json!({}), Some(finish)));
    let usage = json!({
        "id": id, "object": "chat.completion.chunk", "created": 1, "model": "scripted", "choices": [],
        "usage": { "prompt_tokens": 100 + n, "completion_tokens": 10, "total_tokens": 110 + n },
    });
    out.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from(out))
        .unwrap()
}

/// The tool calls of a conversation (a `chat_get` answer), as (tool, status), in order.
pub fn tool_calls(conversation: &Value) -> Vec<(String, String)> {
    conversation["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["tool_calls"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            (
                c["tool"].as_str().unwrap_or_default().to_owned(),
                c["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
