//! The job runner: background work — deployments, certificate orders, runs of schedules —
//! recorded as jobs with a kind, a target, a status, a log, timestamps and the identity
//! that started them, in SQLite. It keeps one active job per kind and target (one
//! deployment per app; a schedule whose last run is still going skips the next), a limit
//! per kind, a cancellation handle per running job, and one live log per job that every
//! stream reads. At start, jobs a stop interrupted are failed with the reason; each kind's
//! owner then cleans what its jobs left (containers, work folders, pending orders).
//!
//! The runner never calls a tool itself: whoever starts a job (a tool, the scheduler, the
//! maintenance loop) went through dispatch with the job's identity.

pub mod logs;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

pub use logs::{LogEvent, LogHub};

use crate::domain::{Initiator, JobId, JobKind, JobStatus, ProjectId};
use crate::store::{JobRow, NewJob, Store, StoreError};

/// Jobs of one kind running at once.
pub const MAX_PER_KIND: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{kind} job `{job}` for `{target}` is still running; wait for it to end or cancel it (job_cancel)")]
    Busy { kind: JobKind, target: String, job: JobId },
    #[error("{MAX_PER_KIND} {0} jobs are running; try again when one ends")]
    Full(JobKind),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Running {
    kind: JobKind,
    target: String,
    cancel: CancellationToken,
}

/// What a new job is: its kind, what it works on, the project that holds that (whose
/// members see the job), and who starts it.
pub struct JobSpec<'a> {
    pub kind: JobKind,
    pub target: &'a str,
    pub project: Option<&'a ProjectId>,
    pub by: &'a Initiator,
}

#[derive(Clone)]
pub struct Jobs {
    store: Arc<Store>,
    running: Arc<Mutex<HashMap<JobId, Running>>>,
    logs: LogHub,
}

impl Jobs {
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            logs: LogHub::new(store.clone()),
            store,
            running: Arc::default(),
        }
    }

    /// The live logs of every job.
    pub fn logs(&self) -> &LogHub {
        &self.logs
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records and starts a job of `kind` on `target` for `principal`, unless one is
    /// already running there or the kind is at its limit.
    pub fn begin(&self, spec: JobSpec<'_>) -> Result<JobHandle, JobError> {
        let JobSpec {
            kind,
            target,
            project,
            by,
        } = spec;
        let mut running = self.lock();
        if let Some((job, _)) = running.iter().find(|(_, r)| r.kind == kind && r.target == target) {
            return Err(JobError::Busy {
                kind,
                target: target.to_owned(),
                job: job.clone(),
            });
        }
        if running.values().filter(|r| r.kind == kind).count() >= MAX_PER_KIND {
            return Err(JobError::Full(kind));
        }
        let row = self.store.job_insert(&NewJob {
            kind,
            target,
            project,
            principal: &by.principal,
            user: by.user.as_ref(),
        })?;
        let cancel = CancellationToken::new();
        running.insert(
            row.id.clone(),
            Running {
                kind,
                target: target.to_owned(),
                cancel: cancel.clone(),
            },
        );
        Ok(JobHandle {
            jobs: self.clone(),
            row,
            cancel,
            finished: false,
        })
    }

    /// Asks a running job to stop; `false` when it is not running here.
    pub fn cancel(&self, id: &JobId) -> bool {
        self.lock().get(id).map(|r| r.cancel.cancel()).is_some()
    }

    /// At start: every job a stop left active is failed, saying so.
    pub fn reconcile(&self) -> Result<Vec<JobRow>, JobError> {
        Ok(self
            .store
            .jobs_fail_interrupted("interrupted: sh0 stopped while it ran")?)
    }
}

/// A running job: its log, its cancellation, its end. Dropped without `finish`, the job
/// is failed (the task that held it panicked or was dropped).
pub struct JobHandle {
    jobs: Jobs,
    row: JobRow,
    cancel: CancellationToken,
    finished: bool,
}

impl JobHandle {
    pub fn id(&self) -> &JobId {
        &self.row.id
    }

    /// Whether someone asked the job to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The job's cancellation, for work that waits on it.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    pub fn log(&self, line: impl Into<String>) {
        self.jobs.logs.line(&self.row.id, line);
    }

    /// A clone of the log for a task that writes on the job's behalf (a build stream).
    pub fn log_writer(&self) -> (LogHub, JobId) {
        (self.jobs.logs.clone(), self.row.id.clone())
    }

    pub fn finish(mut self, status: JobStatus, error: Option<&str>) {
        self.end(status, error);
    }

    fn end(&mut self, status: JobStatus, error: Option<&str>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.jobs.lock().remove(&self.row.id);
        if let Err(e) = self.jobs.store.job_finish(&self.row.id, status, error) {
            tracing::error!(job = %self.row.id, error = %e, "could not record the end of a job");
        }
        self.jobs.logs.finish(&self.row.id);
    }
}

impl Drop for JobHandle {
    fn drop(&mut self) {
        self.end(JobStatus::Failed, Some("the job ended without a result"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_job_per_target_and_interrupted_jobs_fail() {
        let store = Arc::new(Store::open_in_memory().unwrap());
        let jobs = Jobs::new(store.clone());
        let by = Initiator::system("test");
        let spec = |target| JobSpec {
            kind: JobKind::ScheduleRun,
            target,
            project: None,
            by: &by,
        };
        let a = jobs.begin(spec("sch_a")).unwrap();
        assert!(matches!(jobs.begin(spec("sch_a")), Err(JobError::Busy { .. })));
        // Another kind on the same target is another line of work.
        let other = JobSpec {
            kind: JobKind::Deploy,
            ..spec("sch_a")
        };
        drop(jobs.begin(other).unwrap());
        let mut b = jobs.begin(spec("sch_b")).unwrap();
        a.log("hello");
        let a_id = a.id().clone();
        a.finish(JobStatus::Succeeded, None);
        assert_eq!(store.job_get(&a_id).unwrap().unwrap().status, JobStatus::Succeeded);
        assert!(jobs.begin(spec("sch_a")).is_ok());
        // A stop of the server leaves `b` running in the store: the next start fails it.
        let b_id = b.id().clone();
        b.finished = true; // as if the process died: no end is recorded
        drop(b);
        let failed = Jobs::new(store.clone()).reconcile().unwrap();
        assert!(failed.iter().any(|j| j.id == b_id));
        let b = store.job_get(&b_id).unwrap().unwrap();
        assert_eq!(b.status, JobStatus::Failed);
        assert!(b.error.unwrap().contains("interrupted"));
        assert_eq!(store.job_log_read(&a_id, 0, 10).unwrap()[0].line, "hello");
    }
}
