//! Schedules: one tool call with fixed arguments, run on a cron expression in a time zone,
//! as the user who made it (with that user's role at the time of each run, within the
//! scope of the credential that made it). Each run is a job (`job_list`, `job_get`).
//! Made for what sh0 does periodically — backups, cron-like calls, checks.

use crate::domain::Timestamp;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::domain::{CronSpec, ResourceName, ScheduleId};
use crate::registry::HttpMethod::{Delete, Get, Patch, Post};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};
use crate::store::{JobRow, ScheduleRow};

/// Schedules one user may have.
pub const MAX_PER_USER: usize = 20;

pub struct ScheduleCreate;
pub struct ScheduleList;
pub struct ScheduleGet;
pub struct ScheduleUpdate;
pub struct ScheduleDelete;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleCreateInput {
    /// A name for the schedule (lowercase letters, digits, hyphens).
    pub name: ResourceName,
    /// When to run: a cron expression of five fields (minute hour day-of-month month
    /// day-of-week, e.g. `0 3 * * *` for 03:00 every day) or six with seconds first.
    #[schemars(length(min = 9, max = 120))]
    pub cron: String,
    /// The IANA time zone the expression is read in (default UTC), e.g. `Europe/Paris`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub timezone: Option<String>,
    /// The tool to call, e.g. `app_restart`. Not a destructive one (they need a person's
    /// confirmation), and no argument may be a secret.
    #[schemars(length(min = 1, max = 64), regex(pattern = "^[a-z][a-z0-9_]*$"))]
    pub tool: String,
    /// The tool's arguments.
    #[serde(default)]
    pub args: Option<serde_json::Map<String, Value>>,
    /// Whether it runs (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRefInput {
    /// Schedule id or name.
    #[schemars(length(min = 1, max = 64))]
    pub schedule: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleUpdateInput {
    /// Schedule id or name.
    #[schemars(length(min = 1, max = 64))]
    pub schedule: String,
    /// A new cron expression.
    #[serde(default)]
    #[schemars(length(min = 9, max = 120))]
    pub cron: Option<String>,
    /// A new time zone.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub timezone: Option<String>,
    /// New arguments for the tool (replacing the old ones).
    #[serde(default)]
    pub args: Option<serde_json::Map<String, Value>>,
    /// Start (true) or stop (false) it. Starting a stopped schedule clears why it stopped.
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
pub struct ScheduleView {
    pub id: ScheduleId,
    pub name: String,
    /// The user it runs as.
    pub owner: String,
    pub cron: String,
    pub timezone: String,
    /// The expression in words.
    pub when: String,
    pub tool: String,
    pub args: Value,
    pub enabled: bool,
    /// Why it stopped, when sh0 stopped it (its owner was removed, ...).
    pub disabled_reason: Option<String>,
    pub next_run_at: Option<Timestamp>,
    pub last_run_at: Option<Timestamp>,
}

#[derive(Serialize, JsonSchema)]
pub struct ScheduleListOutput {
    pub schedules: Vec<ScheduleView>,
}

#[derive(Serialize, JsonSchema)]
pub struct ScheduleDetail {
    pub schedule: ScheduleView,
    /// The newest runs, newest first (each a job: job_get shows its log).
    pub runs: Vec<JobRow>,
}

#[derive(Serialize, JsonSchema)]
pub struct ScheduleDeleted {
    pub deleted: String,
}

fn view(ctx: &ToolContext, s: &ScheduleRow) -> ScheduleView {
    let when = CronSpec::parse(&s.cron, &s.timezone).map_or_else(|e| e, |c| c.describe());
    let args = ctx
        .registry
        .get(&s.tool)
        .map_or_else(|| s.args.clone(), |d| d.redact(&s.args));
    ScheduleView {
        id: s.id.clone(),
        name: s.name.to_string(),
        owner: s.owner_id.to_string(),
        cron: s.cron.clone(),
        timezone: s.timezone.clone(),
        when,
        tool: s.tool.clone(),
        args,
        enabled: s.enabled,
        disabled_reason: s.disabled_reason.clone(),
        next_run_at: s.next_run_at,
        last_run_at: s.last_run_at,
    }
}

/// The schedule named by `reference`, if the caller may see it (else: not found, as for a
/// schedule that does not exist).
fn find(ctx: &ToolContext, reference: &str) -> Result<ScheduleRow, ToolError> {
    let s = ctx.store().schedule_find(reference)?;
    if ctx.sees_owned_by(Some(&s.owner_id)) {
        Ok(s)
    } else {
        Err(ToolError::not_found(format!(
            "schedule `{}` not found",
            reference.chars().take(64).collect::<String>()
        )))
    }
}

/// Checks that the caller could make the call now, and that it can be scheduled at all.
pub(super) fn check_call(ctx: &ToolContext, tool: &str, args: &Value) -> Result<(), ToolError> {
    let desc = ctx
        .registry
        .get(tool)
        .ok_or_else(|| ToolError::invalid(format!("tool: there is no tool named `{tool}`")))?;
    if desc.meta().safety == Safety::Destructive {
        return Err(ToolError::invalid(format!(
            "tool: `{tool}` is destructive and needs a person's confirmation each time; it cannot be scheduled"
        )));
    }
    if tool.starts_with("schedule_") {
        return Err(ToolError::invalid("tool: a schedule cannot manage schedules"));
    }
    desc.validate(args)
        .map_err(|e| ToolError::invalid(format!("args: {e}")))?;
    if desc.holds_secret(args) {
        return Err(ToolError::invalid(
            "args: a schedule cannot hold a secret (a write-only argument); store secrets where sh0 seals them",
        ));
    }
    desc.allows(ctx.store(), &ctx.principal, args)
}

pub(super) fn next_run(spec: &CronSpec, enabled: bool) -> Option<Timestamp> {
    enabled
        .then(|| spec.next_after(OffsetDateTime::now_utc()))
        .flatten()
        .map(Timestamp::from)
}

#[async_trait]
impl Tool for ScheduleCreate {
    type Input = ScheduleCreateInput;
    type Output = ScheduleView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "schedule_create",
            title: "Schedule a tool call",
            description: "Run one tool call with fixed arguments on a cron expression (five fields, or six with \
                          seconds first) in a time zone, as you: each run has your role at that time, within the \
                          scope of the credential you use now. You must be able to make the call yourself. \
                          Destructive tools and secret arguments cannot be scheduled. A run missed while sh0 was \
                          down happens once when it is back. Each run is a job (job_list). At most 20 per user.",
            safety: Safety::Write,
            permission: Permission::JobsWrite,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/schedules")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: ScheduleCreateInput) -> Result<ScheduleView, ToolError> {
        let owner = ctx.principal.user()?.clone();
        if ctx.store().schedule_count(&owner)? >= MAX_PER_USER {
            return Err(ToolError::conflict(format!(
                "you have {MAX_PER_USER} schedules, the most a user may have: delete one first"
            )));
        }
        let timezone = input.timezone.unwrap_or_else(|| "UTC".into());
        let spec = CronSpec::parse(&input.cron, &timezone).map_err(ToolError::invalid)?;
        let args = Value::Object(input.args.unwrap_or_default());
        check_call(ctx, &input.tool, &args)?;
        let enabled = input.enabled.unwrap_or(true);
        let now = Timestamp::now();
        let row = ScheduleRow {
            id: ScheduleId::generate(),
            name: input.name,
            owner_id: owner,
            scope: ctx.principal.scope,
            role: ctx.principal.role,
            cron: input.cron.trim().to_owned(),
            timezone,
            tool: input.tool,
            args,
            enabled,
            disabled_reason: None,
            next_run_at: next_run(&spec, enabled),
            last_run_at: None,
            created_at: now,
            updated_at: now,
        };
        ctx.store().schedule_insert(&row)?;
        Ok(view(ctx, &row))
    }
}

#[async_trait]
impl Tool for ScheduleList {
    type Input = super::NoInput;
    type Output = ScheduleListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "schedule_list",
            title: "List schedules",
            description: "List your schedules (admins: everyone's) with their next and last run, and why sh0 \
                          stopped any that it stopped.",
            safety: Safety::Read,
            permission: Permission::JobsRead,
            target: Target::Listing,
            http: Some(HttpRoute::new(Get, "/api/v1/schedules")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, _input: super::NoInput) -> Result<ScheduleListOutput, ToolError> {
        let schedules = ctx
            .store()
            .schedule_list()?
            .iter()
            .filter(|s| ctx.sees_owned_by(Some(&s.owner_id)))
            .map(|s| view(ctx, s))
            .collect();
        Ok(ScheduleListOutput { schedules })
    }
}

#[async_trait]
impl Tool for ScheduleGet {
    type Input = ScheduleRefInput;
    type Output = ScheduleDetail;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "schedule_get",
            title: "Show a schedule",
            description: "Show a schedule and its newest runs (jobs, with their outcome; job_get shows a run's log).",
            safety: Safety::Read,
            permission: Permission::JobsRead,
            target: Target::Server,
            http: Some(HttpRoute::new(Get, "/api/v1/schedules/{schedule}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: ScheduleRefInput) -> Result<ScheduleDetail, ToolError> {
        let s = find(ctx, &input.schedule)?;
        let runs = ctx.store().job_list(Some(s.id.as_str()), 20)?;
        Ok(ScheduleDetail {
            schedule: view(ctx, &s),
            runs,
        })
    }
}

#[async_trait]
impl Tool for ScheduleUpdate {
    type Input = ScheduleUpdateInput;
    type Output = ScheduleView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "schedule_update",
            title: "Change a schedule",
            description: "Change a schedule's expression, time zone or arguments, or stop or start it (only its \
                          owner; admins may stop anyone's). The call it makes is checked again against what you may \
                          do.",
            safety: Safety::Write,
            permission: Permission::JobsWrite,
            target: Target::Server,
            http: Some(HttpRoute::new(Patch, "/api/v1/schedules/{schedule}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: ScheduleUpdateInput) -> Result<ScheduleView, ToolError> {
        let mut s = find(ctx, &input.schedule)?;
        // A schedule acts as its owner: only they change what it does or start it again.
        // Others who may see it (admins) may stop it.
        let owner = ctx.principal.user.as_ref() == Some(&s.owner_id);
        let only_stops =
            input.cron.is_none() && input.timezone.is_none() && input.args.is_none() && input.enabled == Some(false);
        if !owner && !only_stops {
            return Err(ToolError::forbidden(
                "a schedule acts as its owner: only its owner can change it or start it again (you may stop it)",
            ));
        }
        if let Some(cron) = input.cron {
            s.cron = cron.trim().to_owned();
        }
        if let Some(tz) = input.timezone {
            s.timezone = tz;
        }
        if let Some(args) = input.args {
            s.args = Value::Object(args);
        }
        let spec = CronSpec::parse(&s.cron, &s.timezone).map_err(ToolError::invalid)?;
        check_call(ctx, &s.tool, &s.args)?;
        if let Some(enabled) = input.enabled {
            s.enabled = enabled;
        }
        if s.enabled {
            s.disabled_reason = None;
        }
        s.next_run_at = next_run(&spec, s.enabled);
        ctx.store().schedule_update(&s)?;
        Ok(view(ctx, &s))
    }
}

#[async_trait]
impl Tool for ScheduleDelete {
    type Input = ScheduleRefInput;
    type Output = ScheduleDeleted;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "schedule_delete",
            title: "Delete a schedule",
            description: "Delete a schedule (its past runs stay in job_list). Destructive: needs confirm equal to \
                          the schedule's name.",
            safety: Safety::Destructive,
            permission: Permission::JobsWrite,
            target: Target::Server,
            http: Some(HttpRoute::new(Delete, "/api/v1/schedules/{schedule}")),
            idempotent: true,
        }
    }

    async fn confirmation_target(&self, ctx: &ToolContext, input: &ScheduleRefInput) -> Result<String, ToolError> {
        Ok(find(ctx, &input.schedule)?.name.to_string())
    }

    async fn call(&self, ctx: &ToolContext, input: ScheduleRefInput) -> Result<ScheduleDeleted, ToolError> {
        let s = find(ctx, &input.schedule)?;
        ctx.store().schedule_delete(&s.id)?;
        Ok(ScheduleDeleted {
            deleted: s.name.to_string(),
        })
    }
}
