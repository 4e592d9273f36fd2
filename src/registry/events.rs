//! Progress of a call, as it happens: a tool that works for a while (the assistant's turn,
//! later long deployments) sends named events through its context's sink; an adapter that
//! can stream (Server-Sent Events over REST) passes a sink and forwards them. A call
//! without a sink runs the same, silently.

use serde_json::Value;
use tokio::sync::mpsc;

/// One event: its name (`text`, `tool_started`, ...) and its JSON data.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    pub name: &'static str,
    pub data: Value,
}

/// Where a call's events go. Sending never blocks the call: when the receiver is gone
/// (the client left) or behind by more than the buffer, events are dropped.
#[derive(Debug, Clone)]
pub struct EventSink(mpsc::Sender<CallEvent>);

impl EventSink {
    /// A sink and its receiving end, buffering `capacity` events.
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<CallEvent>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Self(tx), rx)
    }

    pub fn send(&self, name: &'static str, data: Value) {
        let _ = self.0.try_send(CallEvent { name, data });
    }

    /// Whether the receiving end is gone: the client left.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}
