//! Deploy keys: one ed25519 key pair per app, made by the distribution's `ssh-keygen` in a
//! private folder; the private half is returned for sealing and the files are removed.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use super::GitError;

/// A freshly generated key pair.
pub struct DeployKey {
    /// OpenSSH private key (to be sealed at once).
    pub private: Vec<u8>,
    /// `ssh-ed25519 AAAA… <comment>`, to paste into the forge.
    pub public: String,
}

/// Generates an ed25519 key pair in `work` (removed afterwards) with `comment`.
pub async fn generate_deploy_key(work: &Path, comment: &str) -> Result<DeployKey, GitError> {
    crate::util::private_dir(work)?;
    let file = work.join("key");
    let mut c = tokio::process::Command::new("ssh-keygen");
    c.env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let result = async {
        super::run(c, "ssh-keygen", &CancellationToken::new()).await?;
        Ok(DeployKey {
            private: std::fs::read(&file)?,
            public: std::fs::read_to_string(file.with_extension("pub"))?.trim().to_owned(),
        })
    }
    .await;
    let _ = std::fs::remove_dir_all(work);
    result
}
