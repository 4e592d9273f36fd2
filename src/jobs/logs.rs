//! Job logs: every line is stored as it arrives (so `job_get` and `deployment_get` can page
//! through it with an offset) and broadcast to live watchers (the log streams).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

use crate::domain::JobId;
use crate::store::Store;

/// A live log event.
#[derive(Debug, Clone)]
pub enum LogEvent {
    Line {
        pos: i64,
        line: String,
    },
    /// The job reached a final status; no more lines will come.
    End,
}

#[derive(Clone)]
pub struct LogHub {
    store: Arc<Store>,
    channels: Arc<Mutex<HashMap<JobId, broadcast::Sender<LogEvent>>>>,
}

impl LogHub {
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            channels: Arc::default(),
        }
    }

    /// The channel of a job someone follows; lines of a job nobody follows are only stored.
    fn sender(&self, id: &JobId) -> Option<broadcast::Sender<LogEvent>> {
        let map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).cloned()
    }

    /// Stores and broadcasts lines. Storage errors are logged, not fatal: a job does not
    /// fail because its log could not be written.
    pub fn push(&self, id: &JobId, lines: Vec<String>) {
        if lines.is_empty() {
            return;
        }
        match self.store.job_log_append(id, &lines) {
            Ok(end) => {
                let Some(tx) = self.sender(id) else {
                    return;
                };
                let start = end - lines.len() as i64;
                for (i, line) in lines.into_iter().enumerate() {
                    let _ = tx.send(LogEvent::Line {
                        pos: start + i as i64,
                        line,
                    });
                }
            }
            Err(e) => tracing::warn!(job = %id, error = %e, "could not store a job log line"),
        }
    }

    pub fn line(&self, id: &JobId, line: impl Into<String>) {
        self.push(id, vec![line.into()]);
    }

    /// Tells watchers the job is over and forgets its channel.
    pub fn finish(&self, id: &JobId) {
        let tx = self.channels.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        if let Some(tx) = tx {
            let _ = tx.send(LogEvent::End);
        }
    }

    /// Subscribes to live lines. Subscribe before reading the stored lines, then skip
    /// live lines already read, and nothing is missed. Only for a running job: its end
    /// (`finish`) drops the channel.
    pub fn subscribe(&self, id: &JobId) -> broadcast::Receiver<LogEvent> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.clone())
            .or_insert_with(|| broadcast::channel(1024).0)
            .subscribe()
    }
}
