//! Jobs: background work — deployments, certificate orders, runs of schedules — with its
//! status and log. You see the jobs that act for you and the jobs in the projects you
//! reach; admins and owners see all. Cancelling a job needs what cancelling its work
//! directly needs (`deployment_cancel`'s permission for a deployment).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{JobId, JobKind, UntrustedText};
use crate::registry::HttpMethod::{Get, Post};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta, Transport};
use crate::store::JobRow;

pub struct JobList;
pub struct JobGet;
pub struct JobCancel;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobListInput {
    /// Only the jobs of this target (an app id for its deployments, a schedule id for its
    /// runs, a host name for its certificate orders).
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub target: Option<String>,
    /// How many, newest first (default 50, at most 500).
    #[serde(default)]
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobGetInput {
    pub job: JobId,
    /// The first log line to return (to follow a log, pass the last `next_offset`).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub log_offset: Option<i64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobCancelInput {
    pub job: JobId,
}

#[derive(Serialize, JsonSchema)]
pub struct JobListOutput {
    pub jobs: Vec<JobRow>,
}

#[derive(Serialize, JsonSchema)]
pub struct JobDetail {
    pub job: JobRow,
    /// Log lines from `log_offset` on. They may quote tool results that came from apps.
    pub log: Vec<UntrustedText>,
    pub next_offset: i64,
    pub active: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct JobCancelled {
    /// Whether a running job was asked to stop (a job that already ended is left as it was).
    pub cancelled: bool,
}

/// Whether the caller may see `job`. A job in a project (a deployment, an order for an
/// app's domain) goes with the project: whoever reaches it, and nobody else — not even who
/// started it, once they left the project. Other jobs (runs of schedules, the panel's
/// certificate) are their user's, and every job is an administrator's.
fn sees(ctx: &ToolContext, job: &JobRow) -> bool {
    match &job.project_id {
        Some(p) => ctx.principal.reaches(p),
        None => ctx.principal.access.only.is_none() && ctx.sees_owned_by(job.user_id.as_ref()),
    }
}

fn find(ctx: &ToolContext, id: &JobId) -> Result<JobRow, ToolError> {
    match ctx.store().job_get(id)? {
        Some(j) if sees(ctx, &j) => Ok(shown(ctx, j)),
        _ => Err(ToolError::not_found(format!("job `{id}` not found"))),
    }
}

/// A job as `ctx` may see it: who started it names the user, and only its own user and
/// administrators see which of that user's sessions it was.
fn shown(ctx: &ToolContext, mut job: JobRow) -> JobRow {
    if !ctx.sees_owned_by(job.user_id.as_ref())
        && let Some((user, rest)) = job.principal.split_once('/')
        && rest.starts_with("ses_")
    {
        job.principal = user.to_owned();
    }
    job
}

/// What stopping a job of `kind` needs: the permission of stopping its work directly.
fn cancel_permission(kind: JobKind) -> Permission {
    match kind {
        JobKind::ScheduleRun => Permission::JobsWrite,
        JobKind::Deploy => Permission::AppsWrite,
        JobKind::CertificateOrder => Permission::CertsWrite,
        JobKind::Backup => Permission::DatabasesWrite,
    }
}

#[async_trait]
impl Tool for JobList {
    type Input = JobListInput;
    type Output = JobListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "job_list",
            title: "List jobs",
            description: "List background jobs (deployments, certificate orders, runs of schedules), newest \
                          first, with who started them, their status and error: yours and those of the projects \
                          you reach, or everyone's for admins.",
            safety: Safety::Read,
            permission: Permission::JobsRead,
            target: Target::Listing,
            http: Some(HttpRoute::new(Get, "/api/v1/jobs")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: JobListInput) -> Result<JobListOutput, ToolError> {
        let limit = input.limit.unwrap_or(50).min(500);
        // Read past the limit so that filtering others' jobs out still fills the page.
        let jobs = ctx
            .store()
            .job_list(input.target.as_deref(), limit.saturating_mul(4))?
            .into_iter()
            .filter(|j| sees(ctx, j))
            .take(limit as usize)
            .map(|j| shown(ctx, j))
            .collect();
        Ok(JobListOutput { jobs })
    }
}

#[async_trait]
impl Tool for JobGet {
    type Input = JobGetInput;
    type Output = JobDetail;

    fn transports(&self) -> &'static [Transport] {
        &[Transport::LogStream {
            path: "/api/v1/jobs/{job}/logs/ws",
            job: "/job/id",
        }]
    }

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "job_get",
            title: "Show a job",
            description: "Show a job's status and log (from log_offset; poll with next_offset to follow it).",
            safety: Safety::Read,
            permission: Permission::JobsRead,
            target: Target::Server,
            http: Some(HttpRoute::new(Get, "/api/v1/jobs/{job}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: JobGetInput) -> Result<JobDetail, ToolError> {
        let job = find(ctx, &input.job)?;
        let from = input.log_offset.unwrap_or(0).max(0);
        let lines = ctx.store().job_log_read(&job.id, from, 1000)?;
        let next_offset = lines.last().map_or(from, |l| l.pos + 1);
        Ok(JobDetail {
            active: job.status.is_active(),
            log: lines.into_iter().map(|l| UntrustedText(l.line)).collect(),
            next_offset,
            job,
        })
    }
}

#[async_trait]
impl Tool for JobCancel {
    type Input = JobCancelInput;
    type Output = JobCancelled;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "job_cancel",
            title: "Cancel a job",
            description: "Ask a running job to stop. A tool call a job is making is never cut off half-way (its \
                          log says the cancellation came too late); a job that already ended is left as it was.",
            safety: Safety::Write,
            permission: Permission::JobsWrite,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/jobs/{job}/cancel")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: JobCancelInput) -> Result<JobCancelled, ToolError> {
        let job = find(ctx, &input.job)?;
        ctx.require(cancel_permission(job.kind))?;
        Ok(JobCancelled {
            cancelled: ctx.jobs().cancel(&job.id),
        })
    }
}
