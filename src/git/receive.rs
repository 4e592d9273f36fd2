//! `git push` to sh0: each app has a bare repository that sh0 made, and the receive side
//! of smart HTTP is git's own `receive-pack --stateless-rpc` (it reads and checks the
//! pack; sh0 never parses one). The repository runs no hooks, refuses deleting branches
//! and checks every object it receives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::{COMMAND_TIMEOUT, GitError, git, run};
use crate::domain::CommitSha;

/// The largest pack one push may send.
pub const MAX_PACK_BYTES: &str = "500m";

/// A branch a push changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// `refs/heads/<branch>` (or another ref the client pushed).
    pub refname: String,
    pub new: CommitSha,
}

/// sh0's repository of one app.
pub struct PushRepo {
    path: PathBuf,
    /// A folder sh0 owns, git's `HOME`.
    home: PathBuf,
}

impl PushRepo {
    pub fn new(path: PathBuf, home: PathBuf) -> Self {
        Self { path, home }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the repository when it does not exist yet.
    pub async fn ensure(&self) -> Result<(), GitError> {
        if self.path.join("HEAD").is_file() {
            return Ok(());
        }
        crate::util::private_dir(&self.home)?;
        if let Some(parent) = self.path.parent() {
            crate::util::private_dir(parent)?;
        }
        let cancel = CancellationToken::new();
        let mut init = git(&self.home);
        init.args(["init", "-q", "--bare", "--initial-branch=main"])
            .arg(&self.path);
        run(init, "git init", &cancel).await?;
        let no_hooks = self.path.join("no-hooks");
        crate::util::private_dir(&no_hooks)?;
        for (key, value) in [
            ("core.hooksPath", no_hooks.to_string_lossy().into_owned()),
            ("receive.denyDeletes", "true".into()),
            ("receive.denyNonFastForwards", "false".into()),
            ("receive.fsckObjects", "true".into()),
            ("receive.maxInputSize", MAX_PACK_BYTES.into()),
            ("http.receivepack", "true".into()),
        ] {
            let mut c = git(&self.home);
            c.arg("-C").arg(&self.path).args(["config", key, &value]);
            run(c, "git config", &cancel).await?;
        }
        Ok(())
    }

    /// The body of `GET info/refs?service=git-receive-pack`: the smart-HTTP service
    /// announcement, then git's ref advertisement.
    pub async fn advertise(&self) -> Result<Vec<u8>, GitError> {
        self.ensure().await?;
        let mut c = git(&self.home);
        c.args(["receive-pack", "--stateless-rpc", "--advertise-refs"])
            .arg(&self.path);
        let refs = run(c, "git receive-pack", &CancellationToken::new()).await?;
        let mut out = pkt_line(b"# service=git-receive-pack\n");
        out.extend_from_slice(b"0000");
        out.extend_from_slice(&refs);
        Ok(out)
    }

    /// The branches and their commits.
    pub async fn refs(&self) -> Result<BTreeMap<String, CommitSha>, GitError> {
        let mut c = git(&self.home);
        c.arg("-C")
            .arg(&self.path)
            .args(["for-each-ref", "--format=%(objectname) %(refname)"]);
        let out = run(c, "git for-each-ref", &CancellationToken::new()).await?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| {
                let (sha, name) = l.split_once(' ')?;
                Some((name.to_owned(), CommitSha::parse(sha).ok()?))
            })
            .collect())
    }

    /// Feeds a `POST git-receive-pack` body to git and returns what git answers (its
    /// report, in side-band packets when the client asked for them) and the refs the push
    /// changed.
    pub async fn receive<S, E>(&self, body: S) -> Result<(Vec<u8>, Vec<RefUpdate>), GitError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        self.ensure().await?;
        let before = self.refs().await?;
        let mut c = git(&self.home);
        c.args(["receive-pack", "--stateless-rpc"])
            .arg(&self.path)
            .stdin(Stdio::piped());
        let mut child = c.spawn()?;
        let mut stdin = child.stdin.take().ok_or_else(|| GitError::Io("no stdin".into()))?;
        let mut stdout = child.stdout.take().ok_or_else(|| GitError::Io("no stdout".into()))?;
        let mut stderr = child.stderr.take().ok_or_else(|| GitError::Io("no stderr".into()))?;
        let feed = tokio::spawn(async move {
            let mut body = body;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| GitError::Io(format!("reading the push: {e}")))?;
                if stdin.write_all(&chunk).await.is_err() {
                    break; // git stopped reading: its answer says why
                }
            }
            drop(stdin);
            Ok::<(), GitError>(())
        });
        let talk = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let (o, e) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
            o?;
            e?;
            let status = child.wait().await?;
            Ok::<_, GitError>((out, err, status))
        };
        let (out, err, status) = tokio::time::timeout(COMMAND_TIMEOUT, talk)
            .await
            .map_err(|_| GitError::Timeout)??;
        feed.await.map_err(|e| GitError::Io(e.to_string()))??;
        if !status.success() && out.is_empty() {
            let said = String::from_utf8_lossy(&err);
            return Err(GitError::Failed(format!("git receive-pack failed: {}", said.trim())));
        }
        let after = self.refs().await?;
        let updates = after
            .into_iter()
            .filter(|(name, sha)| before.get(name) != Some(sha))
            .map(|(refname, new)| RefUpdate { refname, new })
            .collect();
        Ok((out, updates))
    }
}

/// One pkt-line: four hex digits of length (itself included), then the data.
pub fn pkt_line(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:04x}", data.len() + 4).into_bytes();
    out.extend_from_slice(data);
    out
}
