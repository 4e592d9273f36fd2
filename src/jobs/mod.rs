//! The job runner: background work — today each run of a schedule — recorded as jobs with
//! a kind, a target, a status, a log, timestamps and the identity that started them, in
//! SQLite. It keeps one active job per kind and target (a schedule whose last run is still
//! going skips the next), a limit per kind, and a cancellation handle per running job. At
//! start, jobs a stop interrupted are failed with the reason.
//!
//! The runner never calls a tool itself: whoever starts a job (the scheduler, in the
//! registry) calls through dispatch with the job's identity.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

use crate::domain::{JobId, JobKind, JobStatus, UserId};
use crate::store::{JobRow, Store, StoreError};

/// Jobs of one kind running at once.
pub const MAX_PER_KIND: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("a {kind} job for {target} is still running")]
    Busy { kind: JobKind, target: String },
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

#[derive(Clone)]
pub struct Jobs {
    store: Arc<Store>,
    running: Arc<Mutex<HashMap<JobId, Running>>>,
}

impl Jobs {
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            running: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records and starts a job of `kind` on `target` for `principal`, unless one is
    /// already running there or the kind is at its limit.
    pub fn begin(
        &self,
        kind: JobKind,
        target: &str,
        principal: &str,
        user: Option<&UserId>,
    ) -> Result<JobHandle, JobError> {
        let mut running = self.lock();
        if running.values().any(|r| r.kind == kind && r.target == target) {
            return Err(JobError::Busy {
                kind,
                target: target.to_owned(),
            });
        }
        if running.values().filter(|r| r.kind == kind).count() >= MAX_PER_KIND {
            return Err(JobError::Full(kind));
        }
        let row = self.store.job_insert(kind, target, principal, user)?;
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

    pub fn row(&self) -> &JobRow {
        &self.row
    }

    /// Whether someone asked the job to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    pub fn log(&self, line: impl Into<String>) {
        if let Err(e) = self.jobs.store.job_log_append(&self.row.id, &[line.into()]) {
            tracing::warn!(job = %self.row.id, error = %e, "could not append to the job log");
        }
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
        let a = jobs.begin(JobKind::ScheduleRun, "sch_a", "test", None).unwrap();
        assert!(matches!(
            jobs.begin(JobKind::ScheduleRun, "sch_a", "test", None),
            Err(JobError::Busy { .. })
        ));
        let mut b = jobs.begin(JobKind::ScheduleRun, "sch_b", "test", None).unwrap();
        a.log("hello");
        let a_id = a.id().clone();
        a.finish(JobStatus::Succeeded, None);
        assert_eq!(store.job_get(&a_id).unwrap().unwrap().status, JobStatus::Succeeded);
        assert!(jobs.begin(JobKind::ScheduleRun, "sch_a", "test", None).is_ok());
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
