//! Staged uploads: archives received by an upload endpoint and waiting for the tool call
//! that consumes them (`app_deploy`, `project_check`). Each belongs to the one who sent it
//! and to the tool it was admitted for: any other caller, or another tool, is told it does
//! not exist. A user has a few waiting at a time (the quota), each waits an hour at most
//! (swept), and the folder is emptied when the server starts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::UploadId;

/// Uploads one owner may have waiting at once (each up to the archive size limit).
pub const MAX_PENDING_PER_OWNER: usize = 5;
/// How long an upload waits for its tool call before it is removed.
pub const UPLOAD_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UploadError {
    #[error(
        "you have {MAX_PENDING_PER_OWNER} uploads waiting to be used; use them (app_deploy, project_check) or wait \
         for them to expire (after an hour)"
    )]
    Quota,
    #[error("could not stage the upload: {0}")]
    Io(String),
}

#[derive(Debug)]
struct Staged {
    owner: String,
    purpose: &'static str,
    created: Instant,
}

/// The staging area; one per server.
#[derive(Debug)]
pub struct Uploads {
    dir: PathBuf,
    staged: Mutex<HashMap<UploadId, Staged>>,
}

impl Uploads {
    /// The staging folder (emptied by the engine's reconciliation at start).
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            staged: Mutex::default(),
        }
    }

    /// Reserves a new upload for `owner`, to be consumed by `purpose` only. Returns its id
    /// and the path to write the archive to (created empty, mode 0600).
    pub fn reserve(&self, owner: &str, purpose: &'static str) -> Result<(UploadId, PathBuf), UploadError> {
        self.sweep();
        let mut staged = self.lock();
        if staged.values().filter(|s| s.owner == owner).count() >= MAX_PENDING_PER_OWNER {
            return Err(UploadError::Quota);
        }
        super::private_dir(&self.dir).map_err(|e| UploadError::Io(e.to_string()))?;
        let id = UploadId::generate();
        let path = self.dir.join(id.as_str());
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| UploadError::Io(e.to_string()))?;
        }
        staged.insert(
            id.clone(),
            Staged {
                owner: owner.to_owned(),
                purpose,
                created: Instant::now(),
            },
        );
        Ok((id, path))
    }

    /// Hands the upload over to its consumer, once: `None` (as for an upload that never
    /// existed) when it belongs to someone else or was admitted for another tool.
    pub fn take(&self, id: &UploadId, owner: &str, purpose: &str) -> Option<PathBuf> {
        let mut staged = self.lock();
        let ok = staged
            .get(id)
            .is_some_and(|s| s.owner == owner && s.purpose == purpose && s.created.elapsed() < UPLOAD_TTL);
        if !ok {
            return None;
        }
        staged.remove(id);
        let path = self.dir.join(id.as_str());
        path.is_file().then_some(path)
    }

    /// Forgets an upload and removes its file (a failed transfer, an unused upload).
    pub fn discard(&self, id: &UploadId) {
        self.lock().remove(id);
        let _ = std::fs::remove_file(self.dir.join(id.as_str()));
    }

    /// Removes expired uploads with their files.
    pub fn sweep(&self) {
        let mut staged = self.lock();
        let expired: Vec<UploadId> = staged
            .iter()
            .filter(|(_, s)| s.created.elapsed() >= UPLOAD_TTL)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            staged.remove(&id);
            let _ = std::fs::remove_file(self.dir.join(id.as_str()));
        }
    }

    /// Where uploads are staged.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UploadId, Staged>> {
        self.staged.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_belong_to_their_owner_and_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let u = Uploads::new(dir.path().join("uploads"));
        let (id, path) = u.reserve("user:a", "app_deploy").unwrap();
        assert!(path.is_file());
        assert_eq!(u.take(&id, "user:b", "app_deploy"), None);
        assert_eq!(u.take(&id, "user:a", "project_check"), None);
        assert_eq!(u.take(&id, "user:a", "app_deploy"), Some(path.clone()));
        assert_eq!(u.take(&id, "user:a", "app_deploy"), None, "once");
        for _ in 0..MAX_PENDING_PER_OWNER {
            u.reserve("user:a", "app_deploy").unwrap();
        }
        assert_eq!(u.reserve("user:a", "app_deploy").unwrap_err(), UploadError::Quota);
        assert!(u.reserve("user:b", "app_deploy").is_ok(), "the quota is per owner");
        u.sweep();
        assert!(path.exists(), "taken uploads are the consumer's to remove");
    }
}
