//! Backups of managed databases and the places they are stored. A backup is the engine's
//! own logical dump, compressed, encrypted and written to a destination, then proven by
//! restoring it into a throw-away server: until that passes, it is not `verified`, and
//! every view of it says so.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{BackupId, DatabaseId, Engine, ProjectId, ResourceName, Timestamp};

/// Where a backup is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum BackupStatus {
    /// Dumping and writing.
    Running,
    /// Written; being restored into a throw-away server.
    Verifying,
    /// Restored and checked: the same tables (or keys) with the same row counts.
    Verified,
    /// Written, but its verification failed (the reason says how): do not rely on it.
    Unverified,
    /// Nothing usable was stored (the dump, the upload or sh0 itself failed).
    Failed,
}

text_enum!(BackupStatus);

impl BackupStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Running | Self::Verifying)
    }
}

/// A kind of storage destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum DestinationKind {
    /// A directory of the server.
    Local,
    /// An S3-compatible bucket.
    S3,
}

text_enum!(DestinationKind);

/// Where backups are written. The S3 secret key is sealed in the store, not part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Destination {
    pub name: ResourceName,
    pub kind: DestinationKind,
    /// Local: the directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// S3: the endpoint URL (e.g. `https://s3.eu-west-1.amazonaws.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// A folder inside the bucket or directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// The name of the destination every server has: `<data-dir>/backups`.
pub const LOCAL_DESTINATION: &str = "local";

/// Tables (or collections, or Redis's key count) and their row counts.
pub type Counts = BTreeMap<String, u64>;

/// A backup as sh0 records it.
#[derive(Debug, Clone)]
pub struct Backup {
    pub id: BackupId,
    pub database_id: DatabaseId,
    pub database_name: ResourceName,
    pub project_id: ProjectId,
    pub engine: Engine,
    pub version: String,
    pub image: String,
    pub destination: String,
    /// Its object's path in the destination.
    pub path: String,
    pub status: BackupStatus,
    /// Why it failed or is unverified.
    pub reason: Option<String>,
    /// Bytes stored (compressed and encrypted).
    pub size_bytes: Option<u64>,
    /// What the source held at dump time.
    pub counts: Option<Counts>,
    pub job_id: Option<super::JobId>,
    /// `manual` or `schedule`.
    pub trigger: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}
