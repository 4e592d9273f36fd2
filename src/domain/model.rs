//! The records sh0 keeps, as tools return them. The store reads and writes these; tools
//! hand them out unchanged, so their schemas are the API's.

use super::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{AppId, DeploymentId, HealthCheck, ProjectId, ResourceName};

/// A project groups the services of one stack (apps now; databases and cron jobs later).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Project {
    pub id: ProjectId,
    pub name: ResourceName,
    pub description: String,
    /// RFC 3339, UTC.
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
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
    /// The HTTP check a new container must pass before it receives traffic.
    pub health: HealthCheck,
    /// Memory limit in MiB; none when absent.
    pub memory_mb: Option<u32>,
    /// CPU limit in cores (e.g. 0.5); none when absent.
    pub cpus: Option<f64>,
    pub restart_policy: RestartPolicy,
    /// Stopped by a user (`app_stop`); a stopped app answers 503 until started.
    pub stopped: bool,
    /// The deployment serving traffic, if any.
    pub current_deployment: Option<DeploymentId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What Docker does when an app's process exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "kebab-case")]
pub enum RestartPolicy {
    No,
    Always,
    UnlessStopped,
    OnFailure,
}

/// Current time in the text form of every stored timestamp (see [`super::Timestamp`]),
/// for SQL parameters.
pub fn now_rfc3339() -> String {
    super::Timestamp::now().to_string()
}

/// The time `d` from now, in the same form.
pub fn rfc3339_after(d: time::Duration) -> String {
    super::Timestamp::after(d).to_string()
}

/// `at` in the same form.
pub fn rfc3339(at: time::OffsetDateTime) -> String {
    super::Timestamp::from(at).to_string()
}

text_enum!(RestartPolicy);
