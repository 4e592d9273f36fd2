//! The only place sh0 runs the `git` program (and `ssh-keygen`). Every call is an
//! argument vector — a URL or a branch comes after `--` or as a validated newtype, never
//! where git reads an option, and never through a shell — with a cleared environment: no
//! user or system configuration, no terminal prompt, only the `https`, `http` and `ssh`
//! transports (`GIT_ALLOW_PROTOCOL`, which also binds submodules: no `file://`, no
//! `ext::`). Secrets travel in the environment of the one process that needs them, never
//! in its arguments (which any local user can read in the process list).

mod fetch;
pub mod forge;
mod keys;
mod receive;

pub use fetch::{FetchSpec, Remote, Revision, archive_local, fetch_tree, has_commit};
pub use keys::{DeployKey, generate_deploy_key};
pub use receive::{PushRepo, RefUpdate, pkt_line};

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// How long one git command may run (a clone of a large repository included).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git ran and refused or failed: what it said, last lines first-class.
    #[error("{0}")]
    Failed(String),
    #[error("git took longer than {} s and was stopped", COMMAND_TIMEOUT.as_secs())]
    Timeout,
    #[error("cancelled")]
    Cancelled,
    #[error("could not run git: {0}")]
    Io(String),
}

impl From<std::io::Error> for GitError {
    fn from(e: std::io::Error) -> Self {
        GitError::Io(e.to_string())
    }
}

/// A `git` command with sh0's environment: `HOME` at `home` (a folder sh0 owns), no
/// configuration but what sh0 passes, no prompts, the allowed transports only.
fn git(home: &Path) -> Command {
    let mut c = Command::new("git");
    c.env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("HOME", home)
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_ALLOW_PROTOCOL", "https:http:ssh")
        .env("GIT_PROTOCOL_FROM_USER", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Runs `cmd` to its end (or the timeout, or `cancel`), returning its standard output.
/// A non-zero exit is `Failed` with the last lines git wrote, prefixed by `what`.
async fn run(mut cmd: Command, what: &str, cancel: &CancellationToken) -> Result<Vec<u8>, GitError> {
    let child = cmd.spawn()?;
    let out = tokio::select! {
        out = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output()) => match out {
            Ok(out) => out?,
            Err(_) => return Err(GitError::Timeout),
        },
        _ = cancel.cancelled() => return Err(GitError::Cancelled),
    };
    if out.status.success() {
        return Ok(out.stdout);
    }
    let said = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = said.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(6)..].join("; ");
    let tail: String = tail.chars().take(1200).collect();
    Err(GitError::Failed(if tail.is_empty() {
        format!("{what} failed ({})", out.status)
    } else {
        format!("{what} failed: {tail}")
    }))
}
