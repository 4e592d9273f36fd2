//! Server-Sent Events for tools that declare an event stream (the assistant's turns):
//! their route, asked with `Accept: text/event-stream`, answers with the call's progress
//! as it happens — one SSE event per progress event, named as the tool names it — then
//! `done` with the tool's result, or `error` with the error. A client that goes away drops
//! the call (the assistant's turn stops where it was; work it started, such as a
//! deployment, goes on).

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};
use serde_json::{Value, json};
use std::convert::Infallible;

use crate::registry::{Adapter, CallEvent, Credentials, Dispatcher, EventSink};

/// Whether the request asks for an event stream.
pub fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"))
}

fn event(e: CallEvent) -> Event {
    Event::default().event(e.name).data(e.data.to_string())
}

/// The call as an SSE response.
pub fn respond(d: Dispatcher, creds: Credentials, adapter: Adapter, tool: &'static str, args: Value) -> Response {
    let (sink, rx) = EventSink::channel(1024);
    let call = Box::pin(async move { d.dispatch_streaming(&creds, adapter, tool, args, Some(sink)).await });
    // A keep-alive comment every 2 s: proxies keep the stream open, and a client that went
    // away is noticed by the failed write within seconds, which drops the call.
    Sse::new(events(call, rx))
        .keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(2)))
        .into_response()
}

type Call = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, crate::registry::ToolError>> + Send>>;

/// The progress events while the call runs, then the rest of them, then its end.
fn events(call: Call, rx: tokio::sync::mpsc::Receiver<CallEvent>) -> impl Stream<Item = Result<Event, Infallible>> {
    struct State {
        call: Option<Call>,
        rx: tokio::sync::mpsc::Receiver<CallEvent>,
        end: Option<CallEvent>,
        over: bool,
    }
    let state = State {
        call: Some(call),
        rx,
        end: None,
        over: false,
    };
    stream::unfold(state, |mut s| async move {
        if s.over {
            return None;
        }
        if let Some(call) = s.call.as_mut() {
            tokio::select! {
                biased;
                Some(e) = s.rx.recv() => return Some((Ok(event(e)), s)),
                result = call => {
                    s.call = None;
                    s.end = Some(match result {
                        Ok(v) => CallEvent { name: "done", data: v },
                        Err(e) => CallEvent { name: "error", data: json!({ "error": e }) },
                    });
                }
            }
        }
        // The call is over: what it sent before ending, then its end.
        if let Ok(e) = s.rx.try_recv() {
            return Some((Ok(event(e)), s));
        }
        s.over = true;
        s.end.take().map(|e| (Ok(event(e)), s))
    })
}
