//! Redis backups: the server's own RDB snapshot (`redis-cli --rdb -`, the replication
//! stream a replica would get), restored by writing the file beside the server's data,
//! checking it with `redis-check-rdb`, and loading it in place (`DEBUG RELOAD NOSAVE`,
//! which sh0's configuration allows from inside the container only). The append-only
//! file is then rewritten from what was loaded, so the restored data is what the server
//! finds after a restart too.

use std::time::{Duration, Instant};

use super::BackupError;
use super::engines::Command;
use crate::docker::{DockerClient, Exec};
use crate::domain::backup::Counts;

/// Where a restore writes the snapshot before it is checked and loaded.
const INCOMING: &str = "/data/sh0-restore.rdb";
/// The file the server loads from (its `dbfilename` in `dir`).
const SNAPSHOT: &str = "/data/dump.rdb";
/// How long an append-only file rewrite may take after a restore.
const REWRITE_LIMIT: Duration = Duration::from_secs(600);

fn cli(password: &str, words: &[&str]) -> Command {
    let mut argv = vec!["redis-cli".to_owned(), "--no-auth-warning".to_owned()];
    argv.extend(words.iter().map(|w| (*w).to_owned()));
    Command {
        argv,
        env: vec![format!("REDISCLI_AUTH={password}")],
    }
}

/// The snapshot, written to stdout (progress goes to stderr).
pub fn dump(password: &str) -> Command {
    cli(password, &["--rdb", "-"])
}

/// Writes the snapshot read on stdin to a file beside the data; nothing is loaded yet.
pub fn receive() -> Command {
    Command {
        argv: ["dd", &format!("of={INCOMING}"), "bs=65536"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        env: Vec::new(),
    }
}

/// The census: the keyspace as `INFO keyspace` reports it.
pub fn census(password: &str) -> Command {
    cli(password, &["INFO", "keyspace"])
}

/// Keys without an expiry in each logical database (`db0`…): exact, where keys with one
/// may expire between the snapshot and its check.
pub fn keyspace(info: &str) -> Result<Counts, BackupError> {
    let mut counts = Counts::new();
    for line in info.lines().map(str::trim) {
        let Some((db, fields)) = line.split_once(':') else {
            continue;
        };
        if !db.starts_with("db") {
            continue;
        }
        let field = |name: &str| -> Result<u64, BackupError> {
            fields
                .split(',')
                .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| BackupError::Failed(format!("unexpected keyspace line `{line}`")))
        };
        let keys = field("keys")?.saturating_sub(field("expires")?);
        if keys > 0 {
            counts.insert(db.to_owned(), keys);
        }
    }
    Ok(counts)
}

/// Checks the received snapshot and loads it in place of the server's data, then makes
/// the append-only file from it. Until the load, the server's data is untouched; a
/// snapshot that does not check is removed.
pub async fn load(docker: &DockerClient, container: &str, password: &str) -> Result<(), BackupError> {
    let checked = run(docker, container, &plain(&["redis-check-rdb", INCOMING])).await;
    if let Err(e) = checked {
        discard(docker, container).await;
        return Err(BackupError::Failed(format!("the snapshot does not check: {e}")));
    }
    // A server made before sh0 restored Redis refuses DEBUG: say so before its data moves.
    let debug = run(
        docker,
        container,
        &cli(password, &["CONFIG", "GET", "enable-debug-command"]),
    )
    .await;
    if !debug
        .as_deref()
        .is_ok_and(|d| d.lines().any(|l| matches!(l.trim(), "local" | "yes")))
    {
        discard(docker, container).await;
        return Err(BackupError::Failed(
            "this Redis server was made before sh0 could restore into one in place: restore into a new database \
             (new_database), which can"
                .into(),
        ));
    }
    if let Err(e) = run(docker, container, &plain(&["mv", "-f", INCOMING, SNAPSHOT])).await {
        discard(docker, container).await;
        return Err(e);
    }
    let reloaded = run(docker, container, &cli(password, &["DEBUG", "RELOAD", "NOSAVE"])).await?;
    if reloaded.trim() != "OK" {
        return Err(BackupError::Failed(format!(
            "the server did not load the snapshot: {}",
            reloaded.trim()
        )));
    }
    if persistence(docker, container, password)
        .await?
        .get("aof_enabled")
        .map(String::as_str)
        != Some("1")
    {
        return Ok(());
    }
    let started = run(docker, container, &cli(password, &["BGREWRITEAOF"])).await?;
    if started.contains("ERR") {
        return Err(BackupError::Failed(format!(
            "the server did not rewrite its append-only file: {}",
            started.trim()
        )));
    }
    let since = Instant::now();
    loop {
        let p = persistence(docker, container, password).await?;
        let busy = |k: &str| p.get(k).map(String::as_str) == Some("1");
        if !busy("aof_rewrite_in_progress") && !busy("aof_rewrite_scheduled") {
            return match p.get("aof_last_bgrewrite_status").map(String::as_str) {
                Some("ok") => Ok(()),
                other => Err(BackupError::Failed(format!(
                    "rewriting the append-only file after the restore failed ({})",
                    other.unwrap_or("no status")
                ))),
            };
        }
        if since.elapsed() > REWRITE_LIMIT {
            return Err(BackupError::Failed(
                "rewriting the append-only file after the restore did not end in 10 minutes".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Removes a received snapshot that will not be loaded.
pub async fn discard(docker: &DockerClient, container: &str) {
    let _ = run(docker, container, &plain(&["rm", "-f", INCOMING])).await;
}

fn plain(argv: &[&str]) -> Command {
    Command {
        argv: argv.iter().map(|s| (*s).to_owned()).collect(),
        env: Vec::new(),
    }
}

/// Runs `cmd`; its stdout, or its output as the error when it fails.
async fn run(docker: &DockerClient, container: &str, cmd: &Command) -> Result<String, BackupError> {
    let out = docker
        .exec(
            container,
            Exec {
                argv: &cmd.argv,
                env: &cmd.env,
                stdin: None,
                user: None,
                limit: 1024 * 1024,
            },
        )
        .await?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.ok() {
        return Err(BackupError::Failed(format!(
            "`{}` failed: {} {}",
            cmd.argv[0],
            out.stderr.trim(),
            stdout.trim()
        )));
    }
    Ok(stdout)
}

/// The server's `INFO persistence` fields.
async fn persistence(
    docker: &DockerClient,
    container: &str,
    password: &str,
) -> Result<std::collections::HashMap<String, String>, BackupError> {
    let info = run(docker, container, &cli(password, &["INFO", "persistence"])).await?;
    Ok(info
        .lines()
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_counts_keys_without_expiry() {
        let info = "# Keyspace\r\ndb0:keys=5,expires=2,avg_ttl=1000\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n\
                    db4:keys=2,expires=2,avg_ttl=9\r\n";
        let c = keyspace(info).unwrap();
        assert_eq!(c.get("db0"), Some(&3));
        assert_eq!(c.get("db3"), Some(&1));
        assert_eq!(c.get("db4"), None, "only keys that expire");
        assert!(keyspace("# Keyspace\r\n").unwrap().is_empty());
        assert!(keyspace("db0:keys=x,expires=0").is_err());
    }

    #[test]
    fn commands_carry_the_password_in_the_environment() {
        for c in [dump("s3cret"), census("s3cret")] {
            assert!(c.argv.iter().all(|a| !a.contains("s3cret")));
            assert_eq!(c.env, ["REDISCLI_AUTH=s3cret"]);
        }
    }
}
