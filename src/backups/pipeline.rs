//! The streams of a backup: dump → gzip → encrypt → destination, and back: destination →
//! decrypt → gunzip → restore. Each holds one chunk at a time (plus the destination's
//! upload part), whatever the size of the database.

use bytes::Bytes;
use futures::StreamExt;
use std::io::Write;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::crypt::{Opener, Sealer, read_header};
use super::engines::{self, Command};
use super::snapshot::Snapshot;
use super::{BackupError, Backups, Storage};
use super::{mongo, redis};
use crate::docker::{ExecChunk, ServiceSpec};
use crate::domain::backup::Counts;
use crate::domain::{Backup, BackupStatus, Database, Engine, JobStatus, ResourceName};
use crate::jobs::JobHandle;

/// Compressed bytes given to the decompressor at a time when a backup is read back.
const GUNZIP_PIECE: usize = 16 * 1024;

/// The tail of a command's stderr kept for its error message.
const STDERR_KEEP: usize = 4096;

/// Runs one backup to its end, recording how it ended on the backup and on its job.
pub(super) async fn run(
    backups: &Backups,
    (db, backup, by): (&Database, &Backup, &str),
    storage: &Storage,
    key: &[u8; 32],
    sealed_key: Vec<u8>,
    job: JobHandle,
) {
    let store = &backups.inner.store;
    let outcome = async {
        let password = backups.inner.databases.password(db)?;
        let container = backups.inner.databases.container(db);
        let docker = &backups.inner.docker;
        job.log(format!("==> counting what {} holds", db.name));
        // PostgreSQL counts and dumps one snapshot; the others count just before.
        let mut snapshot = match db.engine {
            Engine::Postgres => Some(Snapshot::open(docker, &container, &db.name).await?),
            _ => None,
        };
        let counts = match snapshot.as_mut() {
            Some(s) => parse_counts(&s.census().await?)?,
            None => census(backups, &container, db.engine, &db.name, password.expose()).await?,
        };
        job.log(format!("==> dumping to {} ({})", backup.destination, backup.path));
        let tools = tools_config(backups, &container, db.engine, password.expose()).await?;
        let auth = engines::Auth {
            password: password.expose(),
            mongo: tools.as_ref(),
        };
        let dumped = match engines::dump(db.engine, &db.name, &auth) {
            Ok(mut dump) => {
                if let Some(s) = &snapshot {
                    dump.argv.push(s.dump_arg());
                }
                dump_to(backups, &container, &dump, storage, backup, key, &sealed_key).await
            }
            Err(e) => Err(e),
        };
        if let Some(t) = tools {
            t.remove(docker, &container).await;
        }
        if let Some(s) = snapshot {
            s.close().await;
        }
        let size = dumped?;
        store.backup_update(&backup.id, BackupStatus::Verifying, None, Some(size), Some(&counts))?;
        job.log(format!(
            "==> stored {size} bytes; verifying by restoring into a throw-away server"
        ));
        Ok::<_, BackupError>(counts)
    }
    .await;
    let counts = match outcome {
        Ok(c) => c,
        Err(e) => {
            let reason = e.to_string();
            job.log(format!("backup failed: {reason}"));
            if let Err(e) = store.backup_update(&backup.id, BackupStatus::Failed, Some(&reason), None, None) {
                tracing::error!(backup = %backup.id, error = %e, "recording a failed backup");
            }
            tracing::warn!(backup = %backup.id, database = %db.name, "backup failed: {reason}");
            audit(backups, backup, by, BackupStatus::Failed, Some(&reason));
            job.finish(JobStatus::Failed, Some(&reason));
            return;
        }
    };
    match verify(backups, backup, storage, key, &counts).await {
        Ok(()) => {
            job.log("==> verified: the restored copy holds the same tables and rows");
            if let Err(e) = store.backup_update(&backup.id, BackupStatus::Verified, None, None, None) {
                tracing::error!(backup = %backup.id, error = %e, "recording a verified backup");
            }
            audit(backups, backup, by, BackupStatus::Verified, None);
            match backups.prune(&db.id).await {
                Ok(0) => {}
                Ok(n) => job.log(format!("==> retention: deleted {n} older backup(s)")),
                Err(e) => job.log(format!("retention failed: {e}")),
            }
            job.finish(JobStatus::Succeeded, None);
        }
        Err(e) => {
            let reason = format!("verification failed: {e}");
            job.log(&reason);
            tracing::warn!(backup = %backup.id, database = %db.name, "{reason}");
            if let Err(e) = store.backup_update(&backup.id, BackupStatus::Unverified, Some(&reason), None, None) {
                tracing::error!(backup = %backup.id, error = %e, "recording an unverified backup");
            }
            audit(backups, backup, by, BackupStatus::Unverified, Some(&reason));
            job.finish(JobStatus::Failed, Some(&reason));
        }
    }
}

/// Records how a backup ended in the audit log, as the one who started it (a schedule's
/// failed run is there, not only in the job's log).
fn audit(backups: &Backups, backup: &Backup, by: &str, status: BackupStatus, reason: Option<&str>) {
    let args = serde_json::json!({
        "backup": backup.id.to_string(),
        "database": backup.database_name.to_string(),
        "destination": backup.destination,
        "trigger": backup.trigger,
        "status": status,
        "reason": reason,
    });
    let at = crate::domain::now_rfc3339();
    let entry = crate::store::AuditEntry {
        at: &at,
        principal: by,
        adapter: "job",
        tool: "backup_result",
        args: &args,
        outcome: if status == BackupStatus::Verified {
            "ok"
        } else {
            "error"
        },
        error_kind: match status {
            BackupStatus::Verified => None,
            BackupStatus::Unverified => Some("backup_unverified"),
            _ => Some("backup_failed"),
        },
        duration_ms: (time::OffsetDateTime::now_utc() - backup.started_at.at())
            .whole_milliseconds()
            .max(0) as u64,
    };
    if let Err(e) = backups.inner.store.audit_append(&entry) {
        tracing::error!(backup = %backup.id, error = %e, "could not audit the end of a backup");
    }
}

/// Streams the dump into the destination; returns the bytes stored. A dump that exits
/// non-zero, or a destination that fails, leaves no object behind.
async fn dump_to(
    backups: &Backups,
    container: &str,
    cmd: &Command,
    storage: &Storage,
    backup: &Backup,
    key: &[u8; 32],
    sealed_key: &[u8],
) -> Result<u64, BackupError> {
    let docker = &backups.inner.docker;
    let mut exec = docker.exec_stream(container, &cmd.argv, &cmd.env).await?;
    let _ = exec.input.shutdown().await;
    let mut writer = storage.writer(&backup.path).await?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut sealer = Sealer::new(key, sealed_key);
    let (mut size, mut stderr) = (0u64, Vec::new());
    let streamed = async {
        while let Some(chunk) = exec.output.next().await {
            match chunk? {
                ExecChunk::Stdout(b) => {
                    gz.write_all(&b)
                        .map_err(|e| BackupError::Failed(format!("compressing: {e}")))?;
                    let out = sealer.push(&std::mem::take(gz.get_mut()));
                    if !out.is_empty() {
                        size += out.len() as u64;
                        writer.write(out).await?;
                    }
                }
                ExecChunk::Stderr(b) => keep_tail(&mut stderr, &b),
            }
        }
        Ok::<_, BackupError>(())
    }
    .await;
    let code = docker.exec_exit_code(exec.id()).await;
    let failure = match (streamed, code) {
        (Err(e), _) => Some(e),
        (Ok(()), Err(e)) => Some(e.into()),
        (Ok(()), Ok(0)) => None,
        (Ok(()), Ok(code)) => Some(BackupError::Failed(format!(
            "the dump exited with code {code}: {}",
            String::from_utf8_lossy(&stderr).trim()
        ))),
    };
    if let Some(e) = failure {
        writer.abort().await;
        let _ = storage.delete(&backup.path).await;
        return Err(e);
    }
    let finished = async {
        let tail = gz
            .finish()
            .map_err(|e| BackupError::Failed(format!("compressing: {e}")))?;
        let mut out = sealer.push(&tail);
        out.extend(sealer.finish());
        size += out.len() as u64;
        writer.write(out).await?;
        writer.close().await?;
        Ok::<_, BackupError>(size)
    }
    .await;
    if finished.is_err() {
        // The writer is gone with its parts; what may have been stored is removed.
        let _ = storage.delete(&backup.path).await;
    }
    finished
}

fn keep_tail(buf: &mut Vec<u8>, more: &[u8]) {
    buf.extend_from_slice(more);
    if buf.len() > 2 * STDERR_KEEP {
        buf.drain(..buf.len() - STDERR_KEEP);
    }
}

/// Reads a backup back as plaintext chunks on a channel (bounded: the reader waits for
/// the consumer). An error ends the stream with its message.
fn plaintext(storage: &Storage, backup: &Backup, key: &[u8; 32]) -> mpsc::Receiver<Result<Bytes, String>> {
    let (tx, rx) = mpsc::channel(4);
    let (storage, path, key) = (storage.clone(), backup.path.clone(), *key);
    tokio::spawn(async move {
        let result = async {
            let mut stream = Box::pin(storage.read(&path).await.map_err(|e| e.to_string())?);
            let mut head = Vec::new();
            let mut opener: Option<Opener> = None;
            let mut gunzip = flate2::write::GzDecoder::new(Vec::new());
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                let plain = match opener.as_mut() {
                    Some(o) => o.push(&chunk).map_err(|e| e.to_string())?,
                    None => {
                        head.extend_from_slice(&chunk);
                        let Some((_, nonce, start)) = read_header(&head).map_err(|e| e.to_string())? else {
                            continue;
                        };
                        let mut o = Opener::new(&key, &nonce);
                        let plain = o.push(&head[start..]).map_err(|e| e.to_string())?;
                        opener = Some(o);
                        plain
                    }
                };
                // A dump compresses well (a 1.1 GB table to 85 MB): fed whole, a chunk read
                // from storage would come out as tens of megabytes. Small pieces keep each
                // message on the channel small whatever the ratio.
                for piece in plain.chunks(GUNZIP_PIECE) {
                    gunzip
                        .write_all(piece)
                        .map_err(|e| format!("the backup does not decompress: {e}"))?;
                    let out = std::mem::take(gunzip.get_mut());
                    if !out.is_empty() && tx.send(Ok(Bytes::from(out))).await.is_err() {
                        return Ok(());
                    }
                }
            }
            opener
                .ok_or_else(|| super::CryptError::Header.to_string())?
                .finish()
                .map_err(|e| e.to_string())?;
            let rest = gunzip
                .finish()
                .map_err(|e| format!("the backup does not decompress: {e}"))?;
            if !rest.is_empty() {
                let _ = tx.send(Ok(Bytes::from(rest))).await;
            }
            Ok::<_, String>(())
        }
        .await;
        if let Err(e) = result {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

/// Decrypts and decompresses the whole backup without using it: a damaged file is found
/// before anything is restored.
pub(super) async fn check_whole(storage: &Storage, backup: &Backup, key: &[u8; 32]) -> Result<(), BackupError> {
    let mut rx = plaintext(storage, backup, key);
    while let Some(chunk) = rx.recv().await {
        chunk.map_err(BackupError::Failed)?;
    }
    Ok(())
}

/// Streams a backup into `container` through the restore command `cmd`.
pub(super) async fn restore_into(
    backups: &Backups,
    storage: &Storage,
    backup: &Backup,
    key: &[u8; 32],
    container: &str,
    cmd: &Command,
) -> Result<(), BackupError> {
    let docker = &backups.inner.docker;
    let mut exec = docker.exec_stream(container, &cmd.argv, &cmd.env).await?;
    let (killer, target, exec_id) = (docker.clone(), container.to_owned(), exec.id());
    let mut input = std::mem::replace(&mut exec.input, Box::pin(tokio::io::sink()));
    let mut rx = plaintext(storage, backup, key);
    let feed = tokio::spawn(async move {
        let fed = async {
            while let Some(chunk) = rx.recv().await {
                let chunk = chunk?;
                if input.write_all(&chunk).await.is_err() {
                    return Err("the restore stopped reading its input".to_owned());
                }
            }
            Ok(())
        }
        .await;
        match fed {
            // The whole dump went in: end of input, the restore finishes (and commits).
            Ok(()) => {
                let _ = input.shutdown().await;
            }
            // Cut short: the restore is killed with its input still open, so it never
            // commits what it got; its transaction (where the engine has one) rolls back.
            Err(_) => {
                if let Err(e) = killer.exec_kill(&target, exec_id).await {
                    tracing::error!(error = %e, "could not stop a restore whose input failed");
                }
                drop(input);
            }
        }
        fed
    });
    let mut stderr = Vec::new();
    while let Some(chunk) = exec.output.next().await {
        if let ExecChunk::Stderr(b) = chunk? {
            keep_tail(&mut stderr, &b);
        }
    }
    let fed = feed
        .await
        .map_err(|e| BackupError::Failed(format!("feeding the restore: {e}")))?;
    let code = docker.exec_exit_code(exec.id()).await?;
    fed.map_err(BackupError::Failed)?;
    if code != 0 {
        return Err(BackupError::Failed(format!(
            "the restore exited with code {code}: {}",
            String::from_utf8_lossy(&stderr).trim()
        )));
    }
    Ok(())
}

/// MongoDB's tools' configuration file, written for one dump or restore.
async fn tools_config(
    backups: &Backups,
    container: &str,
    engine: Engine,
    password: &str,
) -> Result<Option<mongo::ToolsConfig>, BackupError> {
    if engine != Engine::Mongo {
        return Ok(None);
    }
    Ok(Some(
        mongo::ToolsConfig::write(&backups.inner.docker, container, password).await?,
    ))
}

/// Restores a backup into the database `name` served by `container`: streams it in, then
/// (Redis) checks and loads the received snapshot.
pub(super) async fn restore_database(
    backups: &Backups,
    storage: &Storage,
    backup: &Backup,
    key: &[u8; 32],
    (container, name, password): (&str, &ResourceName, &str),
) -> Result<(), BackupError> {
    let tools = tools_config(backups, container, backup.engine, password).await?;
    let auth = engines::Auth {
        password,
        mongo: tools.as_ref(),
    };
    let streamed = match engines::restore(backup.engine, &backup.database_name, name, &auth) {
        Ok(cmd) => restore_into(backups, storage, backup, key, container, &cmd).await,
        Err(e) => Err(e),
    };
    if let Some(t) = tools {
        t.remove(&backups.inner.docker, container).await;
    }
    if backup.engine != Engine::Redis {
        return streamed;
    }
    let docker = &backups.inner.docker;
    match streamed {
        Ok(()) => redis::load(docker, container, password).await,
        Err(e) => {
            redis::discard(docker, container).await;
            Err(e)
        }
    }
}

/// Restores into a throw-away server of the backup's image (no network, no volume), then
/// compares its census with the source's.
async fn verify(
    backups: &Backups,
    backup: &Backup,
    storage: &Storage,
    key: &[u8; 32],
    expected: &Counts,
) -> Result<(), BackupError> {
    let dbs = &backups.inner.databases;
    let name = format!("sh0-verify-{}", &backup.id.as_str()[4..]);
    let password = crate::databases::generate_password();
    let spec = ServiceSpec {
        name: name.clone(),
        image: backup.image.clone(),
        role: (crate::docker::LABEL_VERIFY, backup.id.to_string()),
        instance: dbs.instance().to_owned(),
        env: backup.engine.container_env(&backup.database_name, &password),
        cmd: backup.engine.command(),
        volume: None,
        data_dir: backup.engine.data_dir().to_owned(),
        network: None,
        port: backup.engine.port(),
        publish: None,
        memory_bytes: None,
        nano_cpus: None,
        health: backup.engine.health_check(&backup.database_name),
        files: crate::databases::engine_files(backup.engine, &backup.version, &password),
    };
    let docker = &backups.inner.docker;
    let result = async {
        docker.create_service(&spec).await?;
        dbs.wait_container_healthy(&name, backup.engine).await?;
        if backup.engine == Engine::Mongo {
            crate::databases::mongo::wait_ready(docker, &name, &backup.database_name, &password).await?;
        }
        let into = (name.as_str(), &backup.database_name, password.as_str());
        restore_database(backups, storage, backup, key, into).await?;
        let got = census(backups, &name, backup.engine, &backup.database_name, &password).await?;
        if &got != expected {
            return Err(BackupError::Failed(format!(
                "the restored copy differs from the source: expected {}, found {}",
                describe(expected),
                describe(&got)
            )));
        }
        Ok(())
    }
    .await;
    docker.stop_and_remove(&name, 0).await;
    result
}

fn describe(c: &Counts) -> String {
    if c.is_empty() {
        return "no tables".into();
    }
    c.iter().map(|(t, n)| format!("{t}={n}")).collect::<Vec<_>>().join(", ")
}

/// Tables and their exact row counts, in `container`.
async fn census(
    backups: &Backups,
    container: &str,
    engine: Engine,
    name: &ResourceName,
    password: &str,
) -> Result<Counts, BackupError> {
    let run = |cmd: Command| async move {
        let out = backups
            .inner
            .docker
            .exec(
                container,
                crate::docker::Exec {
                    argv: &cmd.argv,
                    env: &cmd.env,
                    stdin: None,
                    user: None,
                    limit: 4 * 1024 * 1024,
                },
            )
            .await?;
        if !out.ok() {
            return Err(BackupError::Failed(format!(
                "counting rows failed: {}",
                out.stderr.trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let first = run(engines::census(engine, name, password)).await?;
    match engine {
        Engine::Postgres | Engine::Mongo => parse_counts(&first),
        Engine::Redis => redis::keyspace(&first),
        _ => {
            let tables: Vec<String> = first.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
            match engines::count_tables(engine, name, password, &tables) {
                Some(cmd) => parse_counts(&run(cmd).await?),
                None => Ok(Counts::new()),
            }
        }
    }
}

/// `name<TAB>count` lines.
fn parse_counts(text: &str) -> Result<Counts, BackupError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (t, n) = l
                .rsplit_once('\t')
                .ok_or_else(|| BackupError::Failed(format!("unexpected census line `{l}`")))?;
            let n = n
                .trim()
                .parse::<u64>()
                .map_err(|_| BackupError::Failed(format!("unexpected count in `{l}`")))?;
            Ok((t.to_owned(), n))
        })
        .collect()
}
