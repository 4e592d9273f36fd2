//! Backups of managed databases: the engine's logical dump, streamed through gzip and
//! authenticated encryption to a storage destination, then restored into a throw-away
//! server of the same image and checked (the same tables with the same row counts) before
//! it is called `verified`. A backup runs as a job; a stop during one leaves it `failed`
//! with the reason, and its throw-away server is removed at the next start.

mod crypt;
mod engines;
mod mongo;
mod pipeline;
mod redis;
mod snapshot;
mod storage;

pub use crypt::CryptError;
pub use storage::{Storage, StorageError};

use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::MasterKey;
use crate::databases::{Databases, DbError};
use crate::docker::{DockerClient, DockerError};
use crate::domain::backup::LOCAL_DESTINATION;
use crate::domain::{
    Backup, BackupId, BackupStatus, Database, Destination, DestinationKind, Initiator, JobKind, ResourceName,
    SecretString, Timestamp,
};
use crate::jobs::{JobError, JobSpec, Jobs};
use crate::store::{Store, StoreError, backup_key_context, destination_secret_context};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Crypt(#[from] CryptError),
    #[error(transparent)]
    Job(#[from] JobError),
    #[error("{0}")]
    Invalid(String),
    /// A destination that does not work as configured (unreachable, refused, no bucket).
    #[error("{0}")]
    Unusable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// A dump, a restore or a check failed: the message says which and why.
    #[error("{0}")]
    Failed(String),
    #[error("a sealed key cannot be opened: {0}")]
    Sealed(String),
}

#[derive(Clone)]
pub struct Backups {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    docker: DockerClient,
    master_key: MasterKey,
    databases: Databases,
    jobs: Jobs,
    /// The built-in `local` destination's directory.
    local_dir: PathBuf,
}

impl Backups {
    pub fn new(
        store: Arc<Store>,
        docker: DockerClient,
        master_key: MasterKey,
        databases: Databases,
        jobs: Jobs,
        data_dir: &std::path::Path,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                docker,
                master_key,
                databases,
                jobs,
                local_dir: data_dir.join("backups"),
            }),
        }
    }

    /// The destination every server has: `<data-dir>/backups`.
    fn local(&self) -> Destination {
        Destination {
            name: ResourceName::parse(LOCAL_DESTINATION).expect("a valid name"),
            kind: DestinationKind::Local,
            path: Some(self.inner.local_dir.display().to_string()),
            endpoint: None,
            bucket: None,
            region: None,
            access_key_id: None,
            prefix: None,
        }
    }

    /// Every destination, the built-in `local` first.
    pub fn destinations(&self) -> Result<Vec<Destination>, BackupError> {
        let mut all = vec![self.local()];
        all.extend(self.inner.store.destination_list()?);
        Ok(all)
    }

    /// A destination, opened.
    pub fn storage(&self, name: &str) -> Result<Storage, BackupError> {
        if name == LOCAL_DESTINATION {
            std::fs::create_dir_all(&self.inner.local_dir)
                .map_err(|e| BackupError::Failed(format!("making {}: {e}", self.inner.local_dir.display())))?;
            return Ok(Storage::open(&self.local(), None)?);
        }
        let (d, sealed) = self
            .inner
            .store
            .destination_get(name)?
            .ok_or_else(|| BackupError::NotFound(format!("destination `{name}` not found")))?;
        let secret = sealed
            .map(|s| {
                let plain = self
                    .inner
                    .master_key
                    .open(&s, &destination_secret_context(name))
                    .map_err(|e| BackupError::Sealed(e.to_string()))?;
                SecretString::try_from(String::from_utf8_lossy(&plain).into_owned()).map_err(BackupError::Sealed)
            })
            .transpose()?;
        Ok(Storage::open(&d, secret.as_ref())?)
    }

    /// Adds a destination once it has been shown to work (a test object written, read
    /// back and deleted).
    pub async fn add_destination(&self, d: Destination, secret: Option<SecretString>) -> Result<(), BackupError> {
        if d.name.as_str() == LOCAL_DESTINATION || self.inner.store.destination_get(d.name.as_str())?.is_some() {
            return Err(BackupError::Conflict(format!(
                "a destination named `{}` already exists",
                d.name
            )));
        }
        if let Some(path) = &d.path {
            check_local_dir(path)?;
        }
        let mut d = d;
        if d.kind == DestinationKind::Local {
            // Stored as the directory it resolves to, so that a link changed later does not
            // move the backups elsewhere.
            let path = d.path.as_deref().unwrap_or_default();
            d.path = Some(
                std::path::Path::new(path)
                    .canonicalize()
                    .map_err(|e| BackupError::Invalid(format!("path `{path}`: {e}")))?
                    .display()
                    .to_string(),
            );
        }
        Storage::open(&d, secret.as_ref())
            .map_err(|e| BackupError::Invalid(e.to_string()))?
            .probe()
            .await
            .map_err(|e| BackupError::Unusable(e.to_string()))?;
        let context = destination_secret_context(d.name.as_str());
        match secret {
            Some(s) => self
                .inner
                .master_key
                .seal_into(s.expose().as_bytes(), &context, |sealed| {
                    self.inner.store.destination_insert(&d, Some(&sealed))
                })?,
            None => self.inner.store.destination_insert(&d, None)?,
        }
        Ok(())
    }

    pub async fn test_destination(&self, name: &str) -> Result<(), BackupError> {
        self.storage(name)?
            .probe()
            .await
            .map_err(|e| BackupError::Unusable(e.to_string()))
    }

    pub fn remove_destination(&self, name: &str) -> Result<(), BackupError> {
        if name == LOCAL_DESTINATION {
            return Err(BackupError::Invalid(
                "the built-in `local` destination cannot be removed".into(),
            ));
        }
        if !self.inner.store.destination_delete(name)? {
            return Err(BackupError::NotFound(format!("destination `{name}` not found")));
        }
        Ok(())
    }

    /// Starts a backup of `db` to `destination` as a job; returns its record at once.
    pub fn start(
        &self,
        db: &Database,
        destination: &str,
        by: &Initiator,
        trigger: &str,
    ) -> Result<Backup, BackupError> {
        redis_restorable(db)?;
        let storage = self.storage(destination)?;
        let id = BackupId::generate();
        let job = self.inner.jobs.begin(JobSpec {
            kind: JobKind::Backup,
            target: db.id.as_str(),
            project: Some(&db.project_id),
            by,
        })?;
        let key = crypt::data_key();
        let sealed_key = self.inner.master_key.seal(&key, &backup_key_context(&id));
        let backup = Backup {
            path: format!("{}/{}.{}.gz.sh0", db.name, id, engines::dump_format(db.engine)),
            id,
            database_id: db.id.clone(),
            database_name: db.name.clone(),
            project_id: db.project_id.clone(),
            engine: db.engine,
            version: db.version.clone(),
            image: db.image.clone(),
            destination: destination.to_owned(),
            status: BackupStatus::Running,
            reason: None,
            size_bytes: None,
            counts: None,
            job_id: Some(job.id().clone()),
            trigger: trigger.to_owned(),
            started_at: Timestamp::now(),
            finished_at: None,
        };
        self.inner.store.backup_insert(&backup, &sealed_key)?;
        let this = self.clone();
        let (db, record, by) = (db.clone(), backup.clone(), by.principal.clone());
        tokio::spawn(async move {
            pipeline::run(&this, (&db, &record, &by), &storage, &key, sealed_key, job).await;
        });
        Ok(backup)
    }

    /// Waits until a backup is no longer running or verifying. A backup whose job ended
    /// without recording its end (its task failed) is failed here, saying so.
    pub async fn wait(&self, id: &BackupId) -> Result<Backup, BackupError> {
        loop {
            let b = self.inner.store.backup_get(id)?;
            if b.status.is_final() {
                return Ok(b);
            }
            let job_over = match &b.job_id {
                Some(j) => self.inner.store.job_get(j)?.is_some_and(|r| r.finished_at.is_some()),
                None => false,
            };
            if job_over && !self.inner.store.backup_get(id)?.status.is_final() {
                let reason = "the backup's task ended before it recorded how it went";
                self.inner
                    .store
                    .backup_update(id, BackupStatus::Failed, Some(reason), None, None)?;
                return Ok(self.inner.store.backup_get(id)?);
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// The backup's data key, opened.
    fn data_key(&self, id: &BackupId) -> Result<[u8; 32], BackupError> {
        let (_, sealed) = self.inner.store.backup_with_key(id)?;
        let plain = self
            .inner
            .master_key
            .open(&sealed, &backup_key_context(id))
            .map_err(|e| BackupError::Sealed(e.to_string()))?;
        plain
            .try_into()
            .map_err(|_| BackupError::Sealed("the data key has the wrong length".into()))
    }

    /// Restores a backup into `target` (a database of the same engine): first the whole
    /// file is decrypted and checked, so a damaged backup is refused before anything is
    /// touched; then it is streamed into the database.
    pub async fn restore(&self, backup: &Backup, target: &Database) -> Result<(), BackupError> {
        if target.engine != backup.engine {
            return Err(BackupError::Invalid(format!(
                "the backup is of a {} database and `{}` is {}",
                backup.engine, target.name, target.engine
            )));
        }
        if !matches!(backup.status, BackupStatus::Verified | BackupStatus::Unverified) {
            return Err(BackupError::Conflict(format!(
                "backup `{}` is {}: there is nothing to restore",
                backup.id, backup.status
            )));
        }
        redis_restorable(target)?;
        let storage = self.storage(&backup.destination)?;
        let key = self.data_key(&backup.id)?;
        pipeline::check_whole(&storage, backup, &key).await?;
        let password = self.inner.databases.password(target)?;
        let container = self.inner.databases.container(target);
        let into = (container.as_str(), &target.name, password.expose());
        pipeline::restore_database(self, &storage, backup, &key, into).await
    }

    /// Applies a database's retention policy to the backups its schedule made at its
    /// destination: deletes those it does not keep. Only verified backups count towards
    /// what is kept; unverified and failed ones older than the newest verified backup go
    /// beyond the last five of each. Running ones are left.
    pub async fn prune(&self, db: &crate::domain::DatabaseId) -> Result<usize, BackupError> {
        let Some(policy) = self.inner.store.backup_policy_get(db)? else {
            return Ok(0);
        };
        // Only what the schedule made, where it puts them: a backup made by hand (before a
        // migration, to another destination) is never the schedule's to delete.
        let all: Vec<Backup> = self
            .inner
            .store
            .backup_list(Some(db), 100_000)?
            .into_iter()
            .filter(|b| b.trigger == "schedule" && b.destination == policy.destination)
            .collect();
        let verified: Vec<&Backup> = all.iter().filter(|b| b.status == BackupStatus::Verified).collect();
        let Some(newest) = verified.first().map(|b| b.started_at) else {
            return Ok(0);
        };
        let times: Vec<Timestamp> = verified.iter().map(|b| b.started_at).collect();
        let kept = policy.retention.keep(&times);
        let mut doomed: Vec<&Backup> = verified
            .iter()
            .enumerate()
            .filter(|(i, _)| !kept.contains(i))
            .map(|(_, b)| *b)
            .collect();
        for status in [BackupStatus::Unverified, BackupStatus::Failed] {
            doomed.extend(
                all.iter()
                    .filter(|b| b.status == status)
                    .skip(5)
                    .filter(|b| b.started_at < newest),
            );
        }
        let mut n = 0;
        for b in doomed {
            match self.delete(b).await {
                Ok(()) => n += 1,
                Err(e) => tracing::warn!(backup = %b.id, error = %e, "retention could not delete a backup"),
            }
        }
        Ok(n)
    }

    /// Deletes a backup's object, then its record.
    pub async fn delete(&self, backup: &Backup) -> Result<(), BackupError> {
        if !backup.status.is_final() {
            return Err(BackupError::Conflict(format!(
                "backup `{}` is still {}; wait for it to end",
                backup.id, backup.status
            )));
        }
        if backup.status != BackupStatus::Failed {
            match self.storage(&backup.destination) {
                Ok(s) => s.delete(&backup.path).await?,
                Err(BackupError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.inner.store.backup_delete(&backup.id)?;
        Ok(())
    }

    /// At start: backups a stop interrupted are failed with the reason, their partial
    /// objects deleted, and throw-away servers left by verifications removed.
    pub async fn reconcile(&self) {
        match self.inner.store.backups_unfinished() {
            Ok(list) => {
                for b in list {
                    let reason = "sh0 stopped while the backup ran; the next one will run as scheduled";
                    let status = if b.status == BackupStatus::Verifying {
                        BackupStatus::Unverified
                    } else {
                        if let Ok(s) = self.storage(&b.destination) {
                            let _ = s.delete(&b.path).await;
                        }
                        BackupStatus::Failed
                    };
                    if let Err(e) = self.inner.store.backup_update(&b.id, status, Some(reason), None, None) {
                        tracing::error!(backup = %b.id, error = %e, "could not record an interrupted backup");
                    }
                    tracing::warn!(backup = %b.id, database = %b.database_name, "backup interrupted by a stop: {status}");
                }
            }
            Err(e) => tracing::error!(error = %e, "listing interrupted backups"),
        }
        let instance = self.inner.databases.instance().to_owned();
        match self
            .inner
            .docker
            .containers_labelled(crate::docker::LABEL_VERIFY, &instance)
            .await
        {
            Ok(ids) => {
                for id in ids {
                    tracing::info!(container = %&id[..12.min(id.len())], "removing a verification server a stop left");
                    self.inner.docker.stop_and_remove(&id, 0).await;
                }
            }
            Err(DockerError::Unreachable(_)) => {}
            Err(e) => tracing::warn!(error = %e, "listing verification servers"),
        }
    }
}

/// Redis before 7 has no `redis-cli --rdb -` nor `enable-debug-command`: sh0 neither
/// backs it up nor restores into it, and says so before anything starts.
fn redis_restorable(db: &Database) -> Result<(), BackupError> {
    if db.engine == crate::domain::Engine::Redis && !crate::domain::database::redis_restorable(&db.version) {
        return Err(BackupError::Invalid(format!(
            "`{}` runs Redis {}: sh0 backs up and restores Redis 7 and later",
            db.name, db.version
        )));
    }
    Ok(())
}

/// A local destination is an existing directory outside the system's own folders (sh0
/// writes there as its own user, often root).
fn check_local_dir(path: &str) -> Result<(), BackupError> {
    const SYSTEM: &[&str] = &[
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/lib",
        "/lib32",
        "/lib64",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/sys",
        "/usr",
        "/var/lib/docker",
    ];
    let p = std::path::Path::new(path);
    let canonical = p
        .canonicalize()
        .map_err(|e| BackupError::Invalid(format!("path `{path}`: {e} (make the directory first)")))?;
    if !canonical.is_dir() {
        return Err(BackupError::Invalid(format!("path `{path}` is not a directory")));
    }
    let c = canonical.to_string_lossy();
    let system = SYSTEM
        .iter()
        .any(|s| c == *s || (*s != "/" && c.starts_with(&format!("{s}/")) && !c.starts_with("/run/media/")));
    if system {
        return Err(BackupError::Invalid(format!(
            "path `{path}` is a system directory; give a directory of its own for backups"
        )));
    }
    Ok(())
}
