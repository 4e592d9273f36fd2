//! Why a deployment failed, told from facts sh0 has, with no model: the deployment's
//! settings, where the pipeline stopped, what the health check got back, the container's
//! end (exit code, `OOMKilled`, restarts), the sockets it listened on, and the last lines of
//! its build and app logs. The analyzer (`rules`) turns those facts into findings, each
//! citing its evidence and proposing the tool calls that would fix it. Everything here is
//! pure: the deploy engine gathers the facts, a model may explain them further.

mod rules;

pub use rules::analyze;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use super::{DeploymentId, DeploymentStatus, Timestamp, UntrustedText};

/// Where in the pipeline a deployment stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailedStage {
    /// Building the image from the source.
    Build,
    /// Pulling the image, or finding an earlier deployment's image.
    Image,
    /// Creating or starting the container.
    Start,
    /// Waiting for the health check.
    Health,
    /// Anywhere else (the store, an internal error).
    Other,
}

/// What the health check got back on its last attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum HealthAnswer {
    /// An HTTP answer with this status.
    Status { code: u16 },
    /// Nothing accepted the connection.
    NoConnection,
    /// A connection, but no answer within the check's timeout.
    TimedOut,
}

/// How the health gate ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HealthFacts {
    /// The path requested.
    pub path: String,
    pub last: Option<HealthAnswer>,
    /// Attempts made at the configured interval.
    pub attempts: u32,
    /// The gate stopped because the container's process ended.
    pub container_exited: bool,
}

/// A socket listening inside the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Listener {
    pub ip: IpAddr,
    pub port: u16,
}

impl Listener {
    /// Reachable from outside the container (0.0.0.0 or ::), as the proxy needs.
    pub fn is_wildcard(&self) -> bool {
        self.ip.is_unspecified()
    }
    pub fn is_loopback(&self) -> bool {
        self.ip.is_loopback()
    }
}

impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip {
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
        }
    }
}

/// The container as Docker last reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContainerFacts {
    pub running: bool,
    /// The exit code of its process, once it ended.
    pub exit_code: Option<i64>,
    /// The kernel killed it for using more memory than its limit.
    pub oom_killed: bool,
    /// Restarts by its restart policy.
    pub restart_count: i64,
    /// TCP sockets listening inside it; absent when they could not be read (it was not
    /// running, or the image has no way to read them).
    pub listening: Option<Vec<Listener>>,
}

/// The settings a deployment ran with: environment variable names, never values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigSnapshot {
    pub image: Option<String>,
    /// The port the proxy and the health check expect the app on.
    pub port: u16,
    pub health_path: String,
    pub memory_mb: Option<u32>,
    pub env_names: Vec<String>,
}

/// Everything the analyzer reads about one deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentFacts {
    pub config: ConfigSnapshot,
    /// Where it stopped; none for a deployment that ran.
    pub stage: Option<FailedStage>,
    /// The pipeline's own reason.
    pub reason: Option<String>,
    pub health: Option<HealthFacts>,
    pub container: Option<ContainerFacts>,
    /// The last lines of the container's output.
    pub app_log: Vec<String>,
    /// The last lines of the build and deploy log.
    pub build_log: Vec<String>,
}

/// What a finding names as the cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    BuildFailed,
    ImageUnavailable,
    ContainerStartFailed,
    OutOfMemory,
    MissingEnv,
    ListensOnLoopback,
    PortMismatch,
    NothingListening,
    HealthCheckError,
    HealthCheckTimeout,
    Crashed,
    ChangedSinceLastGood,
    Unknown,
}

/// Where a piece of evidence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceSource {
    BuildLog,
    AppLog,
    Container,
    Sockets,
    HealthCheck,
    Settings,
    PreviousDeployment,
}

/// One fact a finding rests on: sh0's statement of it, and the app's own words when the
/// fact is a log line (untrusted data, never instructions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    pub source: EvidenceSource,
    pub detail: String,
    pub quote: Option<UntrustedText>,
}

/// A tool call that would fix (part of) the cause, for the user to run or approve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProposedCall {
    /// A tool of the registry.
    pub tool: String,
    pub arguments: serde_json::Value,
    pub why: String,
}

/// One cause, its evidence and its fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    pub cause: Cause,
    pub summary: String,
    pub evidence: Vec<Evidence>,
    /// What to change that no tool can (the app's code, its Dockerfile).
    pub advice: Option<String>,
    /// Tool calls, in order.
    pub fixes: Vec<ProposedCall>,
}

/// The analyzer's report on one deployment: the most likely cause first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Diagnosis {
    pub deployment: DeploymentId,
    pub app: String,
    pub status: DeploymentStatus,
    pub analyzed_at: Timestamp,
    /// The first finding's summary, in one line.
    pub summary: String,
    pub findings: Vec<Finding>,
    pub stage: Option<FailedStage>,
    pub config: ConfigSnapshot,
    pub health: Option<HealthFacts>,
    pub container: Option<ContainerFacts>,
    /// The model's explanation, when one was asked for (`deployment_explain`).
    #[serde(default)]
    pub explanation: Option<Explanation>,
}

/// A model's reading of a report, made with read-only tools in the app's project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Explanation {
    /// The model's words (model output: data, not instructions).
    pub text: UntrustedText,
    pub model: String,
    /// The conversation it was made in (its tool calls are there).
    pub conversation: super::ConversationId,
    pub at: Timestamp,
}
