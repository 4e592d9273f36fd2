//! A database's backup schedule: a schedule (see `schedules`) that runs `backup_create`
//! on a cron expression as the user who set it, plus the retention policy applied after
//! every verified backup of the database.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::schedules::{MAX_PER_USER, check_call, next_run};
use crate::domain::backup::LOCAL_DESTINATION;
use crate::domain::{CronSpec, DatabaseRef, ResourceName, Retention, ScheduleId, Timestamp};
use crate::registry::HttpMethod::Put;
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};
use crate::store::{BackupPolicy, ScheduleRow};

pub struct BackupScheduleSet;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupScheduleSetInput {
    /// Database id or name.
    pub database: DatabaseRef,
    /// When to back up: a cron expression (`0 3 * * *`: every day at 03:00).
    #[schemars(length(min = 9, max = 120))]
    pub cron: String,
    /// The IANA time zone of the expression (default UTC).
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub timezone: Option<String>,
    /// Where to store the backups (default `local`).
    #[serde(default)]
    pub destination: Option<ResourceName>,
    /// Keep this many most recent backups.
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of this many most recent days.
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    pub keep_daily: Option<u32>,
    /// Keep the newest backup of each of this many most recent weeks.
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    pub keep_weekly: Option<u32>,
    /// Keep the newest backup of each of this many most recent months.
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    pub keep_monthly: Option<u32>,
    /// Whether the schedule runs (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
pub struct BackupScheduleOutput {
    pub database: String,
    /// The schedule that runs the backups (see schedule_get, job_list).
    pub schedule: String,
    pub cron: String,
    pub timezone: String,
    pub destination: String,
    pub enabled: bool,
    pub next_run_at: Option<Timestamp>,
    pub retention: Retention,
}

#[async_trait]
impl Tool for BackupScheduleSet {
    type Input = BackupScheduleSetInput;
    type Output = BackupScheduleOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "backup_schedule_set",
            title: "Schedule a database's backups",
            description: "Back a database up on a cron expression, to a destination, keeping the last N and/or the \
                          newest of each day, week and month (keep_last, keep_daily, keep_weekly, keep_monthly); \
                          older backups are deleted after each verified one. Replaces the database's schedule. \
                          Each run is a job; a failed or unverified run shows in backup_list, system_info and \
                          the audit log, and the next run retries.",
            safety: Safety::Write,
            permission: Permission::DatabasesWrite,
            target: Target::database("database"),
            http: Some(HttpRoute::new(Put, "/api/v1/databases/{database}/backup-schedule")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: BackupScheduleSetInput) -> Result<BackupScheduleOutput, ToolError> {
        ctx.require(Permission::JobsWrite)?;
        let retention = Retention {
            keep_last: input.keep_last,
            keep_daily: input.keep_daily,
            keep_weekly: input.keep_weekly,
            keep_monthly: input.keep_monthly,
        };
        let owner = ctx.principal.user()?.clone();
        let db = ctx.store().database_find(&input.database)?;
        let destination = input
            .destination
            .map(|d| d.to_string())
            .unwrap_or_else(|| LOCAL_DESTINATION.to_owned());
        // The destination must exist now, not at 3 a.m.
        ctx.backups().storage(&destination)?;
        let timezone = input.timezone.unwrap_or_else(|| "UTC".into());
        let spec = CronSpec::parse(&input.cron, &timezone).map_err(ToolError::invalid)?;
        let args = json!({"database": db.id.to_string(), "destination": destination, "wait": true});
        check_call(ctx, "backup_create", &args)?;
        let enabled = input.enabled.unwrap_or(true);
        let now = Timestamp::now();
        let existing = ctx
            .store()
            .backup_policy_get(&db.id)?
            .and_then(|p| ctx.store().schedule_find(p.schedule_id.as_str()).ok());
        let row = match existing {
            Some(mut row) => {
                row.cron = input.cron.trim().to_owned();
                row.timezone = timezone;
                row.args = args;
                row.enabled = enabled;
                row.disabled_reason = None;
                row.next_run_at = next_run(&spec, enabled);
                ctx.store().schedule_update(&row)?;
                row
            }
            None => {
                if ctx.store().schedule_count(&owner)? >= MAX_PER_USER {
                    return Err(ToolError::conflict(format!(
                        "you have {MAX_PER_USER} schedules, the most a user may have: delete one first"
                    )));
                }
                let name = format!("backup-{}", db.name);
                let name = ResourceName::parse(&name)
                    .or_else(|_| ResourceName::parse(&format!("backup-{}", &db.id.as_str()[4..20])))
                    .map_err(ToolError::internal)?;
                let row = ScheduleRow {
                    id: ScheduleId::generate(),
                    name,
                    owner_id: owner,
                    scope: ctx.principal.scope,
                    role: ctx.principal.role,
                    cron: input.cron.trim().to_owned(),
                    timezone,
                    tool: "backup_create".into(),
                    args,
                    enabled,
                    disabled_reason: None,
                    next_run_at: next_run(&spec, enabled),
                    last_run_at: None,
                    created_at: now,
                    updated_at: now,
                };
                ctx.store().schedule_insert(&row)?;
                row
            }
        };
        ctx.store().backup_policy_set(
            &db.id,
            &BackupPolicy {
                schedule_id: row.id.clone(),
                destination: destination.clone(),
                retention,
            },
        )?;
        Ok(BackupScheduleOutput {
            database: db.name.to_string(),
            schedule: row.name.to_string(),
            cron: row.cron,
            timezone: row.timezone,
            destination,
            enabled: row.enabled,
            next_run_at: row.next_run_at,
            retention,
        })
    }
}
