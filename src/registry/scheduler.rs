//! The scheduler: each schedule's tool call, on time, through dispatch, as the schedule
//! (its owner, with the owner's current role and at most the schedule's scope), recorded
//! as a job. A run that finds its owner removed stops the schedule and says why; a run
//! the owner may no longer make is refused by dispatch and recorded, and the schedule
//! stays (the owner may get the role back).
//!
//! Missed runs: when sh0 was down (or busy) past a run's time, the schedule runs once as
//! soon as it can, then keeps to its expression — missed runs are never repeated N times.

use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;

use super::{Adapter, Credentials, Dispatcher, ErrorKind, PrincipalId, ToolError};
use crate::domain::{CronSpec, JobKind, JobStatus, rfc3339};
use crate::jobs::{JobError, JobHandle};
use crate::store::ScheduleRow;

/// How often the scheduler looks for due schedules (the finest cron field is seconds).
const TICK: Duration = Duration::from_millis(500);
/// A run this late is a missed run (said in its log).
const LATE: time::Duration = time::Duration::seconds(30);
/// How much of a tool's result a run's log keeps.
const RESULT_IN_LOG: usize = 2000;

impl Dispatcher {
    /// Runs due schedules until `shutdown`.
    pub async fn run_schedules(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(TICK) => {}
            }
            if let Err(e) = self.start_due() {
                tracing::warn!(error = %e.message, "the scheduler could not read its schedules");
            }
        }
    }

    fn start_due(&self) -> Result<(), ToolError> {
        let store = &self.services().store;
        let now = OffsetDateTime::now_utc();
        for schedule in store.schedules_due(&rfc3339(now))? {
            let spec = match CronSpec::parse(&schedule.cron, &schedule.timezone) {
                Ok(s) => s,
                Err(e) => {
                    store.schedule_disable(&schedule.id, &format!("its expression no longer parses: {e}"))?;
                    continue;
                }
            };
            let due = schedule
                .next_run_at
                .as_deref()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .unwrap_or(now);
            let next = spec.next_after(now).map(rfc3339);
            store.schedule_ran(&schedule.id, &rfc3339(now), next.as_deref())?;
            let principal = PrincipalId::Schedule {
                schedule: schedule.id.clone(),
                user: schedule.owner_id.clone(),
            };
            let job = match self.services().jobs.begin(
                JobKind::ScheduleRun,
                schedule.id.as_str(),
                &principal.to_string(),
                Some(&schedule.owner_id),
            ) {
                Ok(j) => j,
                Err(e @ (JobError::Busy { .. } | JobError::Full(_))) => {
                    tracing::info!(schedule = %schedule.name, reason = %e, "a scheduled run was skipped");
                    continue;
                }
                Err(JobError::Store(e)) => return Err(e.into()),
            };
            let late = now - due > LATE;
            tokio::spawn(self.clone().run_one(schedule, job, late.then_some(due)));
        }
        Ok(())
    }

    async fn run_one(self, schedule: ScheduleRow, job: JobHandle, missed: Option<OffsetDateTime>) {
        if let Some(due) = missed {
            job.log(format!(
                "this run was due at {} while sh0 was down or busy: it runs once now (missed runs are not repeated)",
                rfc3339(due)
            ));
        }
        job.log(format!("calling {} as the schedule `{}`", schedule.tool, schedule.name));
        let creds = Credentials::Schedule(schedule.id.clone());
        let call = self.dispatch(&creds, Adapter::Schedule, &schedule.tool, schedule.args.clone());
        let result = tokio::select! {
            r = call => r,
            _ = job.cancelled() => {
                job.log("cancelled");
                job.finish(JobStatus::Cancelled, Some("cancelled"));
                return;
            }
        };
        match result {
            Ok(v) => {
                job.log(format!("ok: {}", summary(&v)));
                job.finish(JobStatus::Succeeded, None);
            }
            Err(e) => {
                let message = format!("{}: {}", e.kind.as_str(), e.message);
                job.log(format!("refused or failed: {message}"));
                if e.kind == ErrorKind::Unauthenticated {
                    // The owner is gone (or the schedule stopped meanwhile): stop, saying why.
                    let reason = format!("stopped: {}", e.message);
                    if let Err(e) = self.services().store.schedule_disable(&schedule.id, &reason) {
                        tracing::error!(error = %e, "could not stop a schedule");
                    }
                    job.log(reason);
                }
                job.finish(JobStatus::Failed, Some(&message));
            }
        }
    }
}

fn summary(v: &Value) -> String {
    let text = v.to_string();
    if text.len() <= RESULT_IN_LOG {
        return text;
    }
    let cut: String = text.chars().take(RESULT_IN_LOG).collect();
    format!("{cut}... ({} bytes in all)", text.len())
}
