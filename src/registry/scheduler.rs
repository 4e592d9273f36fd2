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
use tokio_util::sync::CancellationToken;

use super::{Adapter, Credentials, Dispatcher, ErrorKind, PrincipalId, ToolError};
use crate::domain::{CronSpec, Initiator, JobKind, JobStatus, rfc3339};
use crate::jobs::{JobError, JobHandle, JobSpec};
use crate::store::ScheduleRow;

/// How often the scheduler looks for due schedules (the finest cron field is seconds).
const TICK: Duration = Duration::from_millis(500);
/// A run this late is a missed run (said in its log).
const LATE: time::Duration = time::Duration::seconds(30);

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
            let due = schedule.next_run_at.map_or(now, crate::domain::Timestamp::at);
            let next = spec.next_after(now).map(rfc3339);
            store.schedule_ran(&schedule.id, &rfc3339(now), next.as_deref())?;
            let principal = PrincipalId::Schedule {
                schedule: schedule.id.clone(),
                user: schedule.owner_id.clone(),
            };
            let by = Initiator {
                principal: principal.to_string(),
                user: Some(schedule.owner_id.clone()),
            };
            let job = match self.services().jobs.begin(JobSpec {
                kind: JobKind::ScheduleRun,
                target: schedule.id.as_str(),
                project: None,
                by: &by,
            }) {
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
        // The call runs to its end (and to its audit record) even when the job is cancelled
        // meanwhile: a tool call is never cut off half-way.
        let result = self
            .dispatch(&creds, Adapter::Schedule, &schedule.tool, schedule.args.clone())
            .await;
        if job.is_cancelled() {
            job.log("a cancellation was asked for while the call ran; the call was not interrupted");
        }
        match result {
            Ok(v) => {
                // Only the shape of the result: it may hold what must not sit in a log (a new
                // key, a revealed value); job logs are readable by more than its owner.
                job.log(format!("ok: {}", shape(&v)));
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

/// The top-level fields of a result, without their values.
fn shape(v: &Value) -> String {
    match v {
        Value::Object(m) => format!("{{{}}}", m.keys().cloned().collect::<Vec<_>>().join(", ")),
        Value::Array(a) => format!("{} items", a.len()),
        _ => "a value".into(),
    }
}
