//! MongoDB backups: `mongodump --archive` of the database, restored with `mongorestore
//! --archive --drop` (renaming its namespaces when the target is another database), the
//! census being every collection's exact document count. The tools take their password
//! from a configuration file (their documented alternative to `--password`): sh0 writes it
//! inside the container, readable by root only, for the time of one dump or restore.

use super::BackupError;
use super::engines::Command;
use crate::docker::{DockerClient, Exec};
use crate::domain::ResourceName;

/// The tools' configuration file of one dump or restore, removed by [`ToolsConfig::remove`].
pub struct ToolsConfig {
    path: String,
}

impl ToolsConfig {
    /// Writes `password: …` to a new root-only file in the container's `/tmp`.
    pub async fn write(docker: &DockerClient, container: &str, password: &str) -> Result<Self, BackupError> {
        let mut nonce = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
        let path = format!("/tmp/sh0-tools-{}.yaml", hex::encode(nonce));
        let made = exec(docker, container, &["install", "-m", "600", "/dev/null", &path], None).await;
        let content = format!("password: {password}\n");
        let written = match made {
            Ok(()) => {
                exec(
                    docker,
                    container,
                    &["dd", &format!("of={path}"), "status=none"],
                    Some(content.as_bytes()),
                )
                .await
            }
            Err(e) => Err(e),
        };
        let config = Self { path };
        if let Err(e) = written {
            config.remove(docker, container).await;
            return Err(BackupError::Failed(format!("preparing MongoDB's tools failed: {e}")));
        }
        Ok(config)
    }

    pub async fn remove(&self, docker: &DockerClient, container: &str) {
        if let Err(e) = exec(docker, container, &["rm", "-f", &self.path], None).await {
            tracing::warn!(container, error = %e, "could not remove MongoDB tools' configuration");
        }
    }

    fn arg(&self) -> String {
        format!("--config={}", self.path)
    }
}

fn auth(config: &ToolsConfig) -> [String; 3] {
    [
        "--username=root".to_owned(),
        "--authenticationDatabase=admin".to_owned(),
        config.arg(),
    ]
}

/// The archive of database `name`, written to stdout.
pub fn dump(name: &ResourceName, config: &ToolsConfig) -> Command {
    let mut argv = vec!["mongodump".to_owned(), "--quiet".to_owned(), "--archive".to_owned()];
    argv.extend(auth(config));
    argv.push(format!("--db={name}"));
    Command { argv, env: Vec::new() }
}

/// Restores an archive of `source` read on stdin into `target`, replacing the collections
/// it holds.
pub fn restore(source: &ResourceName, target: &ResourceName, config: &ToolsConfig) -> Command {
    let mut argv = vec![
        "mongorestore".to_owned(),
        "--quiet".to_owned(),
        "--archive".to_owned(),
        "--drop".to_owned(),
    ];
    argv.extend(auth(config));
    argv.push(format!("--nsInclude={source}.*"));
    if source != target {
        argv.push(format!("--nsFrom={source}.*"));
        argv.push(format!("--nsTo={target}.*"));
    }
    Command { argv, env: Vec::new() }
}

/// The census: `name<TAB>count` per collection, by sh0's mongosh script.
pub fn census(name: &ResourceName, password: &str) -> Command {
    let (argv, env) = crate::databases::mongo::command(crate::databases::mongo::Script::Census, name, password, &[]);
    Command { argv, env }
}

async fn exec(docker: &DockerClient, container: &str, argv: &[&str], stdin: Option<&[u8]>) -> Result<(), BackupError> {
    let argv: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
    let out = docker
        .exec(
            container,
            Exec {
                argv: &argv,
                env: &[],
                stdin,
                user: None,
                limit: 64 * 1024,
            },
        )
        .await?;
    if !out.ok() {
        return Err(BackupError::Failed(format!(
            "`{}` failed: {}",
            argv[0],
            out.stderr.trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_read_the_password_from_their_file() {
        let config = ToolsConfig {
            path: "/tmp/sh0-tools-00.yaml".into(),
        };
        let shop = ResourceName::parse("shop").unwrap();
        let d = dump(&shop, &config);
        assert_eq!(d.argv[0], "mongodump");
        assert!(d.argv.contains(&"--config=/tmp/sh0-tools-00.yaml".to_owned()));
        assert!(
            d.argv
                .iter()
                .all(|a| !a.starts_with("--password") && !a.starts_with("--uri"))
        );
        let same = restore(&shop, &shop, &config);
        assert!(!same.argv.iter().any(|a| a.starts_with("--nsTo")));
        let copy = restore(&shop, &ResourceName::parse("shop-copy").unwrap(), &config);
        assert!(copy.argv.contains(&"--nsFrom=shop.*".to_owned()));
        assert!(copy.argv.contains(&"--nsTo=shop-copy.*".to_owned()));
        assert!(census(&shop, "pw").argv.iter().all(|a| !a.contains("pw\n")));
    }
}
