//! MCP logging (2025-11-25; deprecated from 2026-07-28, where requests carry no session to
//! remember a level in): after `logging/setLevel`, a session is told, as
//! `notifications/message`, what happens to its calls at or above that level — a call
//! starting (`debug`), a deployment's progress (`info`), a call that failed (`warning`).
//! Before it sets a level, a client is sent nothing. From 2026-07-28 a request may carry
//! its own level in `_meta` instead.
#![allow(deprecated)]

use rmcp::RoleServer;
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam, RequestMetaObject};
use rmcp::service::Peer;
use serde_json::Value;
use std::sync::Mutex;

/// The levels of RFC 5424 that MCP uses, least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

impl Level {
    pub fn from_mcp(l: LoggingLevel) -> Self {
        match l {
            LoggingLevel::Debug => Self::Debug,
            LoggingLevel::Info => Self::Info,
            LoggingLevel::Notice => Self::Notice,
            LoggingLevel::Warning => Self::Warning,
            LoggingLevel::Error => Self::Error,
            LoggingLevel::Critical => Self::Critical,
            LoggingLevel::Alert => Self::Alert,
            LoggingLevel::Emergency => Self::Emergency,
        }
    }

    fn to_mcp(self) -> LoggingLevel {
        match self {
            Self::Debug => LoggingLevel::Debug,
            Self::Info => LoggingLevel::Info,
            Self::Notice => LoggingLevel::Notice,
            Self::Warning => LoggingLevel::Warning,
            Self::Error => LoggingLevel::Error,
            Self::Critical => LoggingLevel::Critical,
            Self::Alert => LoggingLevel::Alert,
            Self::Emergency => LoggingLevel::Emergency,
        }
    }
}

/// The level a session asked for, if it asked.
#[derive(Default)]
pub struct LogLevel(Mutex<Option<Level>>);

impl LogLevel {
    /// The level for one request: the one it carries in `_meta` (2026-07-28, SEP-2575),
    /// or else its session's.
    pub fn for_request(&self, meta: &RequestMetaObject) -> LogLevel {
        let level = meta
            .log_level()
            .map(Level::from_mcp)
            .or(*self.0.lock().unwrap_or_else(|e| e.into_inner()));
        LogLevel(Mutex::new(level))
    }

    pub fn set(&self, level: Level) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(level);
    }

    pub fn allows(&self, level: Level) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|min| level >= min)
    }

    /// Sends one message when the session's level allows it. Never fails the call.
    pub async fn send(&self, peer: &Peer<RoleServer>, level: Level, data: Value) {
        if !self.allows(level) {
            return;
        }
        let mut msg = LoggingMessageNotificationParam::new(level.to_mcp(), data);
        msg.logger = Some("sh0".into());
        let _ = peer.notify_logging_message(msg).await;
    }
}
