//! The records sh0 keeps, as tools return them. The store reads and writes these; tools
//! hand them out unchanged, so their schemas are the API's.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{AppId, ProjectId, ResourceName};

/// A project groups the services of one stack (apps now; databases and cron jobs later).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Project {
    pub id: ProjectId,
    pub name: ResourceName,
    pub description: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

/// An app: one long-running service of a project, reachable at `<name>.<base-domain>`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct App {
    pub id: AppId,
    pub name: ResourceName,
    pub project_id: ProjectId,
    /// The port the app listens on inside its container.
    pub port: Option<u16>,
    /// The image to run, when the app is deployed from an image reference.
    pub image: Option<String>,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
}

/// Current time as RFC 3339 UTC with second precision, the format of every stored timestamp.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
