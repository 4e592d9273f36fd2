//! PostgreSQL: the census and the dump see the same data. A session opens a read-only
//! repeatable-read transaction and exports its snapshot; the census runs in that
//! transaction and `pg_dump --snapshot` dumps exactly what it saw, so rows written while a
//! backup runs are in neither and never make a good backup look damaged.

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::BackupError;
use super::engines::POSTGRES_CENSUS;
use crate::docker::{DockerClient, ExecChunk, ExecStream};
use crate::domain::ResourceName;

/// An open transaction whose snapshot a dump can share. Dropping it closes the session's
/// input: psql ends and the transaction with it.
pub struct Snapshot {
    exec: ExecStream,
    id: String,
    /// Output read but not yet consumed (up to the next marker).
    pending: Vec<u8>,
    stderr: Vec<u8>,
}

impl Snapshot {
    /// Opens the session and exports its snapshot.
    pub async fn open(docker: &DockerClient, container: &str, name: &ResourceName) -> Result<Self, BackupError> {
        let n = name.as_str();
        let argv: Vec<String> = [
            "psql",
            "-X",
            "-q",
            "-t",
            "-A",
            "-F",
            "\t",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            n,
            "-d",
            n,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let exec = docker.exec_stream(container, &argv, &[]).await?;
        let mut s = Self {
            exec,
            id: String::new(),
            pending: Vec::new(),
            stderr: Vec::new(),
        };
        let out = s
            // A census stuck behind a lock would hold the snapshot for ever: it fails instead.
            .ask(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSET LOCAL lock_timeout = '60s';\n\
                 SELECT pg_export_snapshot();\n",
            )
            .await?;
        let id = out.trim();
        // An id is hex digits and dashes: anything else is not what psql was asked.
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(BackupError::Failed(format!("exporting a snapshot answered `{id}`")));
        }
        s.id = id.to_owned();
        Ok(s)
    }

    /// The argument that makes `pg_dump` dump this snapshot.
    pub fn dump_arg(&self) -> String {
        format!("--snapshot={}", self.id)
    }

    /// Every table's row count as of the snapshot, `name<TAB>count` per line.
    pub async fn census(&mut self) -> Result<String, BackupError> {
        self.ask(&format!("{POSTGRES_CENSUS};\n")).await
    }

    /// Ends the transaction and the session.
    pub async fn close(mut self) {
        let _ = self.exec.input.write_all(b"COMMIT;\n").await;
        let _ = self.exec.input.shutdown().await;
        while let Some(Ok(_)) = self.exec.output.next().await {}
    }

    /// Sends `sql` followed by a marker and returns what psql printed before the marker.
    async fn ask(&mut self, sql: &str) -> Result<String, BackupError> {
        let mut nonce = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
        let marker = format!("sh0-mark-{}", hex::encode(nonce));
        let input = format!("{sql}\\echo {marker}\n");
        self.exec
            .input
            .write_all(input.as_bytes())
            .await
            .map_err(|e| BackupError::Failed(format!("the snapshot session stopped reading: {e}")))?;
        let needle = format!("{marker}\n");
        loop {
            if let Some(at) = find(&self.pending, needle.as_bytes()) {
                let answer = String::from_utf8_lossy(&self.pending[..at]).into_owned();
                self.pending.drain(..at + needle.len());
                return Ok(answer);
            }
            match self.exec.output.next().await {
                Some(Ok(ExecChunk::Stdout(b))) => self.pending.extend_from_slice(&b),
                Some(Ok(ExecChunk::Stderr(b))) => {
                    self.stderr.extend_from_slice(&b);
                    let keep = self.stderr.len().saturating_sub(4096);
                    self.stderr.drain(..keep);
                }
                Some(Err(e)) => return Err(e.into()),
                None => {
                    return Err(BackupError::Failed(format!(
                        "the snapshot session ended: {}",
                        String::from_utf8_lossy(&self.stderr).trim()
                    )));
                }
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
