//! MongoDB through `mongosh`, which takes passwords on its command line: sh0 never gives
//! it one there. Every script is sh0's own constant code, passed with `--eval`; the
//! password, the database's name and the user's query reach it as environment variables
//! of the exec, read as data (`process.env`, `EJSON.parse`) and never evaluated.
//! `database_query` runs as `sh0_reader`, a user with MongoDB's `read` role on the
//! database only: the server refuses any command that writes (`insert`, `$out`, `drop`).

use super::DbError;
use crate::docker::{DockerClient, Exec, ExecOutput};
use crate::domain::ResourceName;
use crate::domain::database::READER;

/// The connection a script opens: as root (administration, backups' census) or as the
/// reader (queries), to the server in its own container.
const CONNECT: &str = r#"
const sh0Env = process.env;
const sh0User = sh0Env.SH0_AS === 'reader' ? sh0Env.SH0_READER : 'root';
const sh0Auth = sh0Env.SH0_AS === 'reader' ? sh0Env.SH0_DB : 'admin';
const sh0Conn = new Mongo('mongodb://' + sh0User + ':' + encodeURIComponent(sh0Env.SH0_PASSWORD)
  + '@127.0.0.1:27017/?authSource=' + encodeURIComponent(sh0Auth));
const sh0Db = sh0Conn.getDB(sh0Env.SH0_DB);
"#;

/// Makes (or keeps) the reader: `read` on the database, the database's password.
const CREATE_READER: &str = r#"
if (sh0Db.getUser(sh0Env.SH0_READER) === null) {
  sh0Db.createUser({ user: sh0Env.SH0_READER, pwd: sh0Env.SH0_PASSWORD, roles: [{ role: 'read', db: sh0Env.SH0_DB }] });
}
print('ok');
"#;

/// Runs the user's command document, read as Extended JSON, with the server's own time
/// limit (never above sh0's) and a first batch as large as the row limit (`find` keeps no
/// cursor open); prints the reply as relaxed JSON, on one line, last.
const QUERY: &str = r#"
const cmd = EJSON.parse(sh0Env.SH0_QUERY);
if (cmd === null || typeof cmd !== 'object' || Array.isArray(cmd)) {
  throw new Error('a MongoDB query is a command document, such as {"find": "items", "filter": {}}');
}
const rows = Number(sh0Env.SH0_ROWS) + 1;
const limit = Number(sh0Env.SH0_MS);
cmd.maxTimeMS = Math.min(Number(cmd.maxTimeMS) || limit, limit);
if ('find' in cmd) {
  if (!('batchSize' in cmd)) { cmd.batchSize = rows; }
  cmd.singleBatch = true;
}
if ('aggregate' in cmd && (cmd.cursor === undefined || Object.keys(cmd.cursor).length === 0)) { cmd.cursor = { batchSize: rows }; }
print(EJSON.stringify(sh0Db.runCommand(cmd), { relaxed: true }));
"#;

/// Every collection (not views, not `system.*`) and its exact document count, one
/// `name<TAB>count` per line.
const CENSUS: &str = r#"
sh0Db.getCollectionInfos({ type: 'collection' })
  .map(c => c.name)
  .filter(n => !n.startsWith('system.'))
  .sort()
  .forEach(n => print(n + '\t' + sh0Db.getCollection(n).countDocuments({})));
"#;

/// Bytes of data and indexes, as `dbStats` counts them.
const SIZE: &str = r#"
const s = sh0Db.runCommand({ dbStats: 1 });
print(String(Math.round(s.dataSize + s.indexSize)));
"#;

/// What a script is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    CreateReader,
    Query,
    Census,
    Size,
}

impl Script {
    fn code(self) -> String {
        let body = match self {
            Self::CreateReader => CREATE_READER,
            Self::Query => QUERY,
            Self::Census => CENSUS,
            Self::Size => SIZE,
        };
        format!("{CONNECT}{body}")
    }

    fn as_reader(self) -> bool {
        self == Self::Query
    }

    /// Who runs the script in the container: queries and the size read run as nobody
    /// (the others make users or serve backups, as the image's user).
    pub fn user(self) -> Option<&'static str> {
        match self {
            Self::Query | Self::Size => Some(NOBODY),
            Self::CreateReader | Self::Census => None,
        }
    }
}

/// The user (uid:gid) the client tools of queries run as inside a container.
pub const NOBODY: &str = "65534:65534";

/// The argument vector and environment of a script for database `name`; `extra` adds
/// variables (`SH0_QUERY`, limits).
pub fn command(
    script: Script,
    name: &ResourceName,
    password: &str,
    extra: &[(&str, String)],
) -> (Vec<String>, Vec<String>) {
    let argv = vec![
        "mongosh".to_owned(),
        "--nodb".to_owned(),
        "--quiet".to_owned(),
        "--norc".to_owned(),
        "--eval".to_owned(),
        script.code(),
    ];
    let mut env = vec![
        format!("SH0_PASSWORD={password}"),
        format!("SH0_DB={name}"),
        format!("SH0_AS={}", if script.as_reader() { "reader" } else { "root" }),
        format!("SH0_READER={READER}"),
        // mongosh keeps a log and history under $HOME: one per user, or a home made by
        // root first would be unwritable by nobody (and mongosh says so on stdout).
        format!(
            "HOME=/tmp/sh0-mongosh-{}",
            if script.user().is_some() { "nobody" } else { "root" }
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
    (argv, env)
}

/// Runs a script's command in `container` as the script's user.
pub async fn run(
    docker: &DockerClient,
    container: &str,
    script: Script,
    (argv, env): (Vec<String>, Vec<String>),
    limit: usize,
) -> Result<ExecOutput, DbError> {
    let user = script.user();
    Ok(docker
        .exec(
            container,
            Exec {
                argv: &argv,
                env: &env,
                stdin: None,
                user,
                limit,
            },
        )
        .await?)
}

/// Makes the reader in a new database.
pub async fn create_reader(
    docker: &DockerClient,
    container: &str,
    name: &ResourceName,
    password: &str,
) -> Result<(), DbError> {
    until_ok(docker, container, Script::CreateReader, (name, password), |said| {
        said == "ok"
    })
    .await
    .map_err(|why| DbError::Failed(format!("making sh0's read-only MongoDB user failed: {why}")))
}

/// Waits until the server in `container` answers root with its password.
pub async fn wait_ready(
    docker: &DockerClient,
    container: &str,
    name: &ResourceName,
    password: &str,
) -> Result<(), DbError> {
    until_ok(docker, container, Script::Size, (name, password), |said| {
        said.parse::<f64>().is_ok()
    })
    .await
    .map_err(|why| DbError::Failed(format!("the MongoDB server does not accept sh0's login: {why}")))
}

/// How many times (a second apart) [`until_ok`] runs its script.
const ATTEMPTS: usize = 15;

/// Runs `script` until it succeeds and its last line is `accepted`, or gives its last
/// error. The official image answers its health check while its first-start
/// initialisation still runs (a server without authentication that it then restarts), so
/// sh0's first scripts on a new server are tried again for a while.
async fn until_ok(
    docker: &DockerClient,
    container: &str,
    script: Script,
    (name, password): (&ResourceName, &str),
    accepted: impl Fn(&str) -> bool,
) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        let out = run(docker, container, script, command(script, name, password, &[]), 4096)
            .await
            .map_err(|e| e.to_string())?;
        if out.ok() && accepted(last_line(&String::from_utf8_lossy(&out.stdout))) {
            return Ok(());
        }
        last = out.stderr.trim().to_owned();
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    Err(last)
}

/// The last non-empty line of a script's output: what it printed (mongosh may print
/// warnings before it).
pub fn last_line(stdout: &str) -> &str {
    stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// The rows of a command's reply: the documents of its first batch, each as one JSON
/// column, or the reply itself when it has no cursor.
pub fn rows(stdout: &str) -> Result<(Vec<String>, Vec<Vec<String>>), DbError> {
    let value: serde_json::Value = serde_json::from_str(last_line(stdout))
        .map_err(|e| DbError::Failed(format!("MongoDB's reply is not JSON ({e})")))?;
    match value.pointer("/cursor/firstBatch").and_then(|b| b.as_array()) {
        Some(docs) => Ok((
            vec!["document".to_owned()],
            docs.iter().map(|d| vec![d.to_string()]).collect(),
        )),
        None => Ok((vec!["reply".to_owned()], vec![vec![value.to_string()]])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_queries_never_reach_the_command_line() {
        let name = ResourceName::parse("shop").unwrap();
        let (argv, env) = command(
            Script::Query,
            &name,
            "s3cretpw",
            &[("SH0_QUERY", "{\"drop\": 1}".into())],
        );
        let line = argv.join(" ");
        assert!(!line.contains("s3cretpw") && !line.contains("drop"));
        assert!(env.contains(&"SH0_PASSWORD=s3cretpw".to_owned()));
        assert!(env.contains(&"SH0_AS=reader".to_owned()));
        assert!(env.contains(&"SH0_QUERY={\"drop\": 1}".to_owned()));
        let (_, env) = command(Script::Census, &name, "pw", &[]);
        assert!(env.contains(&"SH0_AS=root".to_owned()));
        // The query is parsed as data, never evaluated as code.
        assert!(Script::Query.code().contains("EJSON.parse(sh0Env.SH0_QUERY)"));
        assert!(!Script::Query.code().contains("eval("));
        assert!(env.contains(&format!("SH0_READER={READER}")));
    }

    #[test]
    fn replies_become_rows() {
        let (cols, rows) = rows(r#"{"cursor":{"firstBatch":[{"_id":1,"v":"a"},{"_id":2}],"id":0},"ok":1}"#).unwrap();
        assert_eq!(cols, ["document"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][0], r#"{"_id":1,"v":"a"}"#);
        let (cols, rows) = rows_of("Warning: Could not access file: EACCES\n{\"n\":3,\"ok\":1}\n");
        assert_eq!(cols, ["reply"]);
        assert_eq!(rows, [[r#"{"n":3,"ok":1}"#]]);
        assert!(super::rows("not json").is_err());
    }

    fn rows_of(s: &str) -> (Vec<String>, Vec<Vec<String>>) {
        super::rows(s).unwrap()
    }
}
