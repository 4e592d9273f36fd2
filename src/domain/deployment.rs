//! Deployments: statuses and the rules between them (DESIGN.md §3).

use super::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{AppId, DeploymentId};

/// `queued uploading pulling building pushing starting` are active;
/// `running failed cancelled superseded` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum DeploymentStatus {
    Queued,
    Uploading,
    Pulling,
    Building,
    Pushing,
    Starting,
    Running,
    Failed,
    Cancelled,
    Superseded,
}

impl DeploymentStatus {
    pub const ACTIVE: [Self; 6] = [
        Self::Queued,
        Self::Uploading,
        Self::Pulling,
        Self::Building,
        Self::Pushing,
        Self::Starting,
    ];

    pub fn is_active(self) -> bool {
        Self::ACTIVE.contains(&self)
    }
}

/// Where a deployment's code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum SourceKind {
    /// An uploaded archive with a Dockerfile, built here.
    Archive,
    /// An image reference, run as is.
    Image,
    /// The image of an earlier deployment (rollback, restart).
    Previous,
    /// A commit of the app's repository (or one pushed to sh0), built here.
    Git,
}

/// What started a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "kebab-case")]
pub enum Trigger {
    CliPush,
    Cli,
    Api,
    Mcp,
    Chat,
    Rollback,
    Restart,
    Schedule,
    /// sh0's own maintenance.
    System,
    /// A deploy hook, or a forge's webhook.
    Hook,
    /// `git push` to sh0.
    GitPush,
    /// The dashboard.
    Dashboard,
}

/// A deployment as tools return it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Deployment {
    pub id: DeploymentId,
    pub app_id: AppId,
    pub status: DeploymentStatus,
    pub source: SourceKind,
    /// The image this deployment runs (built, pulled or reused).
    pub image: Option<String>,
    pub triggered_by: Trigger,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// The job that runs (or ran) it; its log is the build log.
    pub job: Option<crate::domain::JobId>,
    /// The commit a git deployment built: id, author and message.
    pub commit: Option<crate::domain::GitCommit>,
}

/// An app's health check: an HTTP GET that must answer below 500.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthCheck {
    /// Path requested, e.g. `/healthz`.
    pub path: String,
    pub interval_ms: u32,
    pub timeout_ms: u32,
    /// Attempts before the deployment is failed.
    pub retries: u32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            path: "/".into(),
            interval_ms: 500,
            timeout_ms: 2000,
            retries: 60,
        }
    }
}

text_enum!(DeploymentStatus);
text_enum!(SourceKind);
text_enum!(Trigger);
