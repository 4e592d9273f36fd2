//! From a repository to a build context: a shallow fetch of one revision into a fresh
//! repository, then `git archive` of the commit (or of a folder in it) into a tar. The tar
//! is all that leaves this module, and the deploy engine unpacks it with the same guards
//! as an uploaded archive — so a symlink in the repository that points outside, or a path
//! that climbs out, is refused there like in any upload.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use tokio_util::sync::CancellationToken;

use super::{GitError, git, run};
use crate::domain::{CommitSha, GitBranch, GitCommit, GitUrl, RepoPath, UntrustedText};

/// Where to fetch from, and with what credential.
pub struct Remote {
    pub url: GitUrl,
    /// An access token for HTTPS (sent as Basic `x-access-token:<token>`, to that host only).
    pub token: Option<String>,
    /// The app's deploy key (OpenSSH private key), for SSH URLs.
    pub ssh_key: Option<Vec<u8>>,
    /// The app's pinned host keys: SSH accepts a new host once, then only that key.
    pub known_hosts: PathBuf,
}

/// What to fetch.
#[derive(Debug, Clone)]
pub enum Revision {
    /// The head of a branch.
    Branch(GitBranch),
    /// A commit, and the branch that holds it (fetched when the server will not give a
    /// commit by id).
    Commit { sha: CommitSha, branch: Option<GitBranch> },
}

pub struct FetchSpec {
    pub remote: Remote,
    pub revision: Revision,
    /// Build from this folder of the repository (a monorepo's app).
    pub subdir: Option<RepoPath>,
    pub submodules: bool,
}

/// Fetches `spec` into `work` (a folder sh0 owns, removed by the caller) and writes the
/// tree of the commit (or of `subdir` in it) as a tar at `out`. Returns the commit.
pub async fn fetch_tree(
    spec: &FetchSpec,
    work: &Path,
    out: &Path,
    cancel: &CancellationToken,
    log: &(dyn Fn(String) + Send + Sync),
) -> Result<GitCommit, GitError> {
    crate::util::private_dir(work)?;
    let repo = work.join("repo");
    let env = remote_env(&spec.remote, work)?;
    let cmd = |args: &[&str]| {
        let mut c = git(work);
        c.arg("-C").arg(&repo).args(args);
        for (k, v) in &env {
            c.env(k, v);
        }
        c
    };
    let mut init = git(work);
    init.args(["init", "-q"]).arg(&repo);
    run(init, "git init", cancel).await?;

    let url = spec.remote.url.as_str();
    let (wanted, fallback) = match &spec.revision {
        Revision::Branch(b) => (b.refname(), None),
        Revision::Commit { sha, branch } => (sha.to_string(), branch.as_ref().map(GitBranch::refname)),
    };
    // A shallow fetch of one ref, never following an HTTP redirect.
    let fetch = async |depth: &str, refname: &str| {
        run(
            cmd(&[
                "-c",
                "http.followRedirects=false",
                "fetch",
                "-q",
                "--no-tags",
                depth,
                "--",
                url,
                refname,
            ]),
            "git fetch",
            cancel,
        )
        .await
        .map_err(explain)
    };
    log(format!("fetching {} of {url}", short_ref(&wanted)));
    let fetched = fetch("--depth=1", &wanted).await;
    if let Err(e) = fetched {
        match (&spec.revision, fallback) {
            // Some servers give only advertised refs: fetch the branch and look for it.
            (Revision::Commit { .. }, Some(branch)) if !matches!(e, GitError::Cancelled | GitError::Timeout) => {
                log(format!(
                    "the server does not give commits by id; fetching {}",
                    short_ref(&branch)
                ));
                fetch("--depth=200", &branch).await?;
            }
            _ => return Err(e),
        }
    }
    let target = match &spec.revision {
        Revision::Branch(_) => "FETCH_HEAD^{commit}".to_owned(),
        Revision::Commit { sha, .. } => format!("{sha}^{{commit}}"),
    };
    let sha = String::from_utf8_lossy(
        &run(cmd(&["rev-parse", "--verify", "-q", &target]), "git rev-parse", cancel)
            .await
            .map_err(|_| match &spec.revision {
                Revision::Commit { sha, .. } => GitError::Failed(format!("commit {sha} is not in the repository")),
                Revision::Branch(b) => GitError::Failed(format!("branch `{b}` has no commit")),
            })?,
    )
    .trim()
    .to_owned();
    let sha = CommitSha::parse(&sha).map_err(GitError::Failed)?;
    let commit = describe(&repo, &sha, work, cancel).await?;
    log(format!(
        "commit {} by {}: {}",
        sha.short(),
        commit.author.0,
        commit.message.0
    ));

    if spec.submodules {
        run(
            cmd(&[
                "-c",
                "advice.detachedHead=false",
                "checkout",
                "-q",
                "--detach",
                sha.as_str(),
            ]),
            "git checkout",
            cancel,
        )
        .await?;
        log("fetching submodules".into());
        run(
            cmd(&[
                "-c",
                "protocol.file.allow=never",
                "-c",
                "core.symlinks=false",
                "-c",
                "http.followRedirects=false",
                "submodule",
                "update",
                "-q",
                "--init",
                "--recursive",
                "--depth=1",
            ]),
            "git submodule update",
            cancel,
        )
        .await?;
    }
    archive(&repo, &sha, spec.subdir.as_ref(), work, out, cancel).await?;
    if spec.submodules {
        append_submodules(&repo, spec.subdir.as_ref(), work, out, cancel).await?;
    }
    Ok(commit)
}

/// Writes the tree of `sha` in sh0's own repository `repo` (a pushed one) as a tar at
/// `out`. Returns the commit.
pub async fn archive_local(
    repo: &Path,
    sha: &CommitSha,
    subdir: Option<&RepoPath>,
    work: &Path,
    out: &Path,
    cancel: &CancellationToken,
) -> Result<GitCommit, GitError> {
    crate::util::private_dir(work)?;
    let commit = describe(repo, sha, work, cancel).await?;
    archive(repo, sha, subdir, work, out, cancel).await?;
    Ok(commit)
}

/// Whether sh0's repository `repo` holds commit `sha`.
pub async fn has_commit(repo: &Path, sha: &CommitSha, work: &Path) -> bool {
    if !repo.is_dir() {
        return false;
    }
    let mut c = git(work);
    c.arg("-C")
        .arg(repo)
        .args(["cat-file", "-e", &format!("{sha}^{{commit}}")]);
    run(c, "git cat-file", &CancellationToken::new()).await.is_ok()
}

async fn describe(
    repo: &Path,
    sha: &CommitSha,
    work: &Path,
    cancel: &CancellationToken,
) -> Result<GitCommit, GitError> {
    let mut c = git(work);
    c.arg("-C").arg(repo).args([
        "log",
        "-1",
        "--no-show-signature",
        "--format=%an <%ae>%x00%s",
        sha.as_str(),
        "--",
    ]);
    let out = run(c, "git log", cancel).await?;
    let text = String::from_utf8_lossy(&out);
    let (author, message) = text.trim_end().split_once('\0').unwrap_or((text.trim_end(), ""));
    Ok(GitCommit {
        sha: sha.clone(),
        author: UntrustedText(author.chars().take(200).collect()),
        message: UntrustedText(message.chars().take(500).collect()),
    })
}

async fn archive(
    repo: &Path,
    sha: &CommitSha,
    subdir: Option<&RepoPath>,
    work: &Path,
    out: &Path,
    cancel: &CancellationToken,
) -> Result<(), GitError> {
    let tree = match subdir {
        Some(dir) => format!("{sha}:{dir}"),
        None => sha.to_string(),
    };
    let mut c = git(work);
    c.arg("-C")
        .arg(repo)
        .args(["archive", "--format=tar", "-o"])
        .arg(out)
        .arg(&tree)
        .arg("--");
    run(c, "git archive", cancel).await.map_err(|e| match (subdir, e) {
        (Some(dir), GitError::Failed(_)) => GitError::Failed(format!(
            "the repository has no folder `{dir}` at commit {}",
            sha.short()
        )),
        (_, e) => e,
    })?;
    Ok(())
}

/// Appends each checked-out submodule under `subdir` to the tar at `out`, under its path.
async fn append_submodules(
    repo: &Path,
    subdir: Option<&RepoPath>,
    work: &Path,
    out: &Path,
    cancel: &CancellationToken,
) -> Result<(), GitError> {
    let mut c = git(work);
    c.arg("-C").arg(repo).args(["submodule", "status", "--recursive"]);
    let status = String::from_utf8_lossy(&run(c, "git submodule status", cancel).await?).into_owned();
    let prefix = subdir.map(|d| format!("{d}/"));
    let mut parts = Vec::new();
    for line in status.lines() {
        // ` <sha> <path> (<describe>)`: git wrote the path, from its own checked index.
        let Some(path) = line.get(1..).and_then(|l| l.split(' ').nth(1)) else {
            continue;
        };
        let rel = match &prefix {
            Some(p) => match path.strip_prefix(p.as_str()) {
                Some(rel) => rel.to_owned(),
                None => continue,
            },
            None => path.to_owned(),
        };
        let part = work.join(format!("submodule-{}.tar", parts.len()));
        let mut c = git(work);
        c.arg("-C")
            .arg(repo.join(path))
            .args(["archive", "--format=tar", &format!("--prefix={rel}/"), "-o"])
            .arg(&part)
            .args(["HEAD", "--"]);
        run(c, "git archive (submodule)", cancel).await?;
        parts.push(part);
    }
    if parts.is_empty() {
        return Ok(());
    }
    let (out, parts) = (out.to_owned(), parts);
    tokio::task::spawn_blocking(move || merge_tars(&out, &parts))
        .await
        .map_err(|e| GitError::Io(e.to_string()))?
}

/// Rewrites `out` as itself followed by the entries of `parts` (a tar ends with zero
/// blocks, so tars do not simply concatenate).
fn merge_tars(out: &Path, parts: &[PathBuf]) -> Result<(), GitError> {
    let merged = out.with_extension("merged");
    {
        let mut b = tar::Builder::new(std::io::BufWriter::new(std::fs::File::create(&merged)?));
        for src in std::iter::once(out).chain(parts.iter().map(PathBuf::as_path)) {
            let mut a = tar::Archive::new(std::fs::File::open(src)?);
            for entry in a.entries()? {
                let mut entry = entry?;
                let path = entry.path()?.into_owned();
                let mut header = entry.header().clone();
                if let Some(target) = entry.link_name()?.map(|l| l.into_owned()) {
                    b.append_link(&mut header, &path, target)?;
                } else if header.entry_type().is_pax_global_extensions() {
                    continue;
                } else {
                    b.append_data(&mut header, &path, &mut entry)?;
                }
            }
        }
        b.into_inner()?.flush()?;
    }
    std::fs::rename(&merged, out)?;
    Ok(())
}

/// The environment that gives git the remote's credential: the token as an HTTP header
/// for the repository's host only, or SSH with the deploy key and the pinned host keys.
fn remote_env(remote: &Remote, work: &Path) -> Result<Vec<(String, String)>, GitError> {
    let mut env = Vec::new();
    if let Some(token) = &remote.token
        && !remote.url.is_ssh()
    {
        let url = url::Url::parse(remote.url.as_str()).map_err(|e| GitError::Failed(e.to_string()))?;
        let origin = format!("{}/", url.origin().ascii_serialization());
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
        env.push(("GIT_CONFIG_COUNT".into(), "1".into()));
        env.push(("GIT_CONFIG_KEY_0".into(), format!("http.{origin}.extraHeader")));
        env.push(("GIT_CONFIG_VALUE_0".into(), format!("Authorization: Basic {basic}")));
    }
    if remote.url.is_ssh() {
        let key = work.join("deploy_key");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&key)?;
            f.write_all(remote.ssh_key.as_deref().unwrap_or_default())?;
        }
        if let Some(parent) = remote.known_hosts.parent() {
            crate::util::private_dir(parent)?;
        }
        // git runs this through `sh -c`: it holds only paths sh0 chose, each quoted.
        let quote = |p: &Path| -> Result<String, GitError> {
            let s = p.to_string_lossy();
            if s.contains('\'') {
                return Err(GitError::Io(format!("sh0's data folder `{s}` contains a quote")));
            }
            Ok(format!("'{s}'"))
        };
        env.push((
            "GIT_SSH_COMMAND".into(),
            format!(
                "ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes \
                 -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={} -o ConnectTimeout=20",
                quote(&key)?,
                quote(&remote.known_hosts)?
            ),
        ));
    }
    Ok(env)
}

/// Adds what to do to the git errors people meet most.
fn explain(e: GitError) -> GitError {
    match e {
        GitError::Failed(m) if m.contains("could not read Username") || m.contains("Authentication failed") => {
            GitError::Failed(format!(
                "{m} — the repository wants credentials: give a token with app_git_set (private repository), or \
                 check the URL"
            ))
        }
        GitError::Failed(m) if m.contains("Permission denied (publickey") => GitError::Failed(format!(
            "{m} — add the app's deploy key (deploy_key_get) to the repository"
        )),
        GitError::Failed(m) if m.contains("Host key verification failed") => GitError::Failed(format!(
            "{m} — the server's host key changed since sh0 pinned it (app_git_get shows the pinned key)"
        )),
        e => e,
    }
}

fn short_ref(r: &str) -> &str {
    r.strip_prefix("refs/heads/").map_or(r, |b| b)
}
