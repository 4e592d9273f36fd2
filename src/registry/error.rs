//! `ToolError`: what went wrong, in words safe to show a user or a model. The underlying
//! cause (a SQLite error, an I/O error) is logged where it happens and never returned.
//! Each adapter maps `ErrorKind` once: HTTP status, CLI exit code, MCP `isError` result.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::deploy::DeployError;
use crate::docker::DockerError;
use crate::proxy::EdgeError;
use crate::proxy::acme::AcmeError;
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorKind {
    /// The input does not fit the tool's schema or rules.
    InvalidInput,
    /// No valid credentials were presented.
    Unauthenticated,
    /// The caller is known but may not do this.
    Forbidden,
    /// The named resource (or tool) does not exist.
    NotFound,
    /// The request conflicts with the current state (a duplicate name, a busy app).
    Conflict,
    /// A destructive tool was called without the confirmation it needs.
    ConfirmationRequired,
    /// The input is well-formed but cannot be processed (e.g. an archive without a Dockerfile).
    Unprocessable,
    /// A dependency (Docker, the network) is not reachable right now.
    Unavailable,
    /// A fault of sh0 itself; details are in the server log.
    Internal,
    /// Too many attempts: wait `retry_after` seconds.
    RateLimited,
    /// The password was right; a two-factor code (or a backup code) is needed too.
    SecondFactorRequired,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize, JsonSchema)]
#[error("{message}")]
pub struct ToolError {
    pub kind: ErrorKind,
    pub message: String,
    /// For `confirmation_required`: the exact value to pass as `confirm` (the resource's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    /// For `rate_limited`: seconds until another attempt may succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ToolError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            confirm: None,
            retry_after: None,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    pub fn unauthenticated() -> Self {
        Self::new(
            ErrorKind::Unauthenticated,
            "a valid API key (Authorization: Bearer sh0_...) or a session is required",
        )
    }
    /// An internal fault: the detail goes to the log, the caller gets a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(ErrorKind::Internal, "internal error; the server log has the details")
    }
    pub fn confirmation_required(target: &str, what: &str) -> Self {
        Self {
            kind: ErrorKind::ConfirmationRequired,
            message: format!("this permanently deletes {what} `{target}`: confirm by passing confirm: \"{target}\""),
            confirm: Some(target.to_owned()),
            retry_after: None,
        }
    }
    /// A quota is used up; `retry_after` says when to look again.
    pub fn quota(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Self {
            retry_after: Some(retry_after.as_secs().max(1)),
            ..Self::new(ErrorKind::RateLimited, message)
        }
    }
    /// Too many attempts; `wait` is how long until the lock ends (at least a second).
    pub fn rate_limited(what: &str, wait: std::time::Duration) -> Self {
        let secs = wait.as_secs().max(1);
        Self {
            retry_after: Some(secs),
            ..Self::new(
                ErrorKind::RateLimited,
                format!("too many failed {what}; try again in {secs} s"),
            )
        }
    }
}

impl From<StoreError> for ToolError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::not_found(format!("{what} not found")),
            StoreError::Conflict(msg) => Self::conflict(msg),
            other => Self::internal(other),
        }
    }
}

impl From<DockerError> for ToolError {
    fn from(e: DockerError) -> Self {
        match e {
            DockerError::Unreachable(_) => Self::new(ErrorKind::Unavailable, e.to_string()),
            DockerError::NotFound(m) => Self::not_found(m),
            DockerError::Rejected(_) => Self::invalid(e.to_string()),
            other => Self::new(ErrorKind::Unavailable, other.to_string()),
        }
    }
}

impl From<EdgeError> for ToolError {
    fn from(e: EdgeError) -> Self {
        match e {
            EdgeError::Store(s) => s.into(),
            // A refused certificate: the message says what is wrong with it.
            EdgeError::Cert(c) => Self::invalid(c.to_string()),
            EdgeError::Acme(AcmeError::Store(m)) => Self::internal(m),
            // The CA's answer is the user's to read: why validation failed, a rate limit.
            EdgeError::Acme(a) => Self::new(ErrorKind::Unavailable, a.to_string()),
            EdgeError::AcmeDisabled => Self::new(ErrorKind::Unprocessable, e.to_string()),
            EdgeError::NoLongerWanted(_) | EdgeError::Busy(_) | EdgeError::Cancelled => Self::conflict(e.to_string()),
            EdgeError::Secrets(s) => Self::internal(s),
        }
    }
}

impl From<crate::ai::AiError> for ToolError {
    fn from(e: crate::ai::AiError) -> Self {
        use crate::ai::AiError;
        match e {
            AiError::Unavailable | AiError::Model(_) => Self::new(ErrorKind::Unavailable, e.to_string()),
            AiError::Store(s) => s.into(),
            AiError::Sealed(m) => Self::internal(m),
        }
    }
}

impl From<crate::databases::DbError> for ToolError {
    fn from(e: crate::databases::DbError) -> Self {
        use crate::databases::DbError;
        match e {
            DbError::Store(s) => s.into(),
            DbError::Docker(d) => d.into(),
            DbError::Failed(_) => Self::new(ErrorKind::Unavailable, e.to_string()),
            DbError::Conflict(m) => Self::conflict(m),
            DbError::Invalid(m) => Self::invalid(m),
            // The database's own answer to the query: the caller's to read.
            DbError::Refused(_) => Self::new(ErrorKind::Unprocessable, e.to_string()),
            DbError::Sealed(m) => Self::internal(m),
            DbError::NoImage(m) => Self::new(ErrorKind::Unprocessable, m),
        }
    }
}

impl From<crate::backups::BackupError> for ToolError {
    fn from(e: crate::backups::BackupError) -> Self {
        use crate::backups::BackupError;
        match e {
            BackupError::Store(s) => s.into(),
            BackupError::Docker(d) => d.into(),
            BackupError::Db(d) => d.into(),
            // A destination that does not answer, refuses the credentials, or holds a
            // damaged file: the message says which.
            BackupError::Storage(crate::backups::StorageError::Config(..)) => Self::invalid(e.to_string()),
            BackupError::Storage(_) | BackupError::Failed(_) => Self::new(ErrorKind::Unavailable, e.to_string()),
            BackupError::Crypt(_) => Self::new(ErrorKind::Unprocessable, e.to_string()),
            BackupError::Job(j) => Self::conflict(j.to_string()),
            BackupError::Invalid(m) => Self::invalid(m),
            BackupError::Unusable(m) => Self::new(ErrorKind::Unprocessable, m),
            BackupError::Conflict(m) => Self::conflict(m),
            BackupError::NotFound(m) => Self::not_found(m),
            BackupError::Sealed(m) => Self::internal(m),
        }
    }
}

impl From<DeployError> for ToolError {
    fn from(e: DeployError) -> Self {
        match e {
            DeployError::Store(s) => s.into(),
            DeployError::Docker(d) => d.into(),
            DeployError::Archive(a) => Self::invalid(a.to_string()),
            DeployError::NoDockerfile(_) => Self::new(ErrorKind::Unprocessable, e.to_string()),
            DeployError::Conflict(m) => Self::conflict(m),
            DeployError::Invalid(m) => Self::invalid(m),
            DeployError::NotFound(m) => Self::not_found(m),
            DeployError::Io(m) => Self::internal(m),
        }
    }
}
