//! Read-only queries, enforced by the database itself: each engine gets a role of sh0's
//! making that may only read (PostgreSQL's `pg_read_all_data`, a MySQL user with `SELECT`
//! on the database, a Redis ACL user with `+@read -@dangerous`), and the query runs in a
//! read-only session with a time limit. sh0 never parses the query to decide whether it
//! writes: the server refuses, and its message is the answer. The query text reaches the
//! client tool on its standard input (SQL) or as separate arguments (Redis), never
//! through a shell.

use sha2::{Digest, Sha256};
use std::time::Duration;

use super::{Databases, DbError};
use crate::docker::Exec;
use crate::domain::database::READER;
use crate::domain::{Database, Engine};

/// Bounds of one query.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    pub max_rows: usize,
    pub timeout: Duration,
}

/// What a query returned: a table of text.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// More rows (or bytes) came back than the limits allow; the rest were dropped.
    pub truncated: bool,
}

/// The most output a query may produce before it is cut.
const OUTPUT_LIMIT: usize = 4 * 1024 * 1024;

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// The MySQL-family client of an engine's image (MariaDB 11 has no `mysql` any more).
fn mysql_client(engine: Engine) -> &'static str {
    if engine == Engine::Mariadb { "mariadb" } else { "mysql" }
}

/// Makes sh0's read-only role in a new database.
pub(super) async fn create_reader(dbs: &Databases, db: &Database, password: &str) -> Result<(), DbError> {
    let (cmd, env, stdin) = match db.engine {
        Engine::Postgres => (
            argv(&[
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                db.name.as_str(),
                "-d",
                db.name.as_str(),
            ]),
            Vec::new(),
            format!(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER}') THEN \
                 CREATE ROLE {READER} LOGIN; END IF; END $$;\n\
                 GRANT pg_read_all_data TO {READER};\n\
                 ALTER ROLE {READER} SET default_transaction_read_only = on;\n"
            ),
        ),
        Engine::Mysql | Engine::Mariadb => (
            argv(&[mysql_client(db.engine), "-uroot", "--batch"]),
            vec![format!("MYSQL_PWD={password}")],
            // The generated password is letters and digits: nothing to escape.
            format!(
                "CREATE USER IF NOT EXISTS '{READER}'@'localhost' IDENTIFIED BY '{password}';\n\
                 GRANT SELECT, SHOW VIEW ON `{}`.* TO '{READER}'@'localhost';\n",
                db.name
            ),
        ),
        // Redis's ACL user is set before each query (ACLs live in memory); MongoDB's
        // queries are not offered yet.
        Engine::Redis | Engine::Mongo => return Ok(()),
    };
    let out = dbs
        .docker
        .exec(
            &dbs.container(db),
            Exec {
                argv: &cmd,
                env: &env,
                stdin: Some(stdin.as_bytes()),
                user: None,
                limit: 64 * 1024,
            },
        )
        .await?;
    if !out.ok() {
        return Err(DbError::Failed(format!(
            "making sh0's read-only role failed: {}",
            out.stderr.trim()
        )));
    }
    Ok(())
}

/// Runs `text` as the reader.
pub(super) async fn run(
    dbs: &Databases,
    db: &Database,
    text: &str,
    limits: QueryLimits,
) -> Result<QueryResult, DbError> {
    let password = dbs.password(db)?;
    let ms = limits.timeout.as_millis();
    let (cmd, env, stdin) = match db.engine {
        Engine::Postgres => (
            argv(&[
                "psql",
                "-X",
                "-q",
                "--csv",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                READER,
                "-d",
                db.name.as_str(),
            ]),
            vec![format!(
                "PGOPTIONS=-c statement_timeout={ms} -c default_transaction_read_only=on"
            )],
            Some(text.to_owned()),
        ),
        Engine::Mysql | Engine::Mariadb => {
            let timeout = if db.engine == Engine::Mariadb {
                format!("SET SESSION max_statement_time = {};", limits.timeout.as_secs_f64())
            } else {
                format!("SET SESSION max_execution_time = {ms};")
            };
            (
                argv(&[mysql_client(db.engine), "-u", READER, "--batch", db.name.as_str()]),
                vec![format!("MYSQL_PWD={}", password.expose())],
                Some(format!("SET SESSION TRANSACTION READ ONLY;\n{timeout}\n{text}\n")),
            )
        }
        Engine::Redis => {
            redis_reader(dbs, db, password.expose()).await?;
            let words = redis_words(text)?;
            let mut cmd = argv(&["redis-cli", "--no-auth-warning", "--user", READER]);
            cmd.extend(words);
            (cmd, vec![format!("REDISCLI_AUTH={}", password.expose())], None)
        }
        Engine::Mongo => {
            return Err(DbError::Invalid(
                "database_query does not support MongoDB yet; use database_credentials and a MongoDB client".into(),
            ));
        }
    };
    let container = dbs.container(db);
    let run = dbs.docker.exec(
        &container,
        Exec {
            argv: &cmd,
            env: &env,
            stdin: stdin.as_deref().map(str::as_bytes),
            user: None,
            limit: OUTPUT_LIMIT,
        },
    );
    // The server's own limit stops the statement; this one stops a client that hangs.
    let out = tokio::time::timeout(limits.timeout + Duration::from_secs(5), run)
        .await
        .map_err(|_| DbError::Failed(format!("the query ran longer than {} s", limits.timeout.as_secs())))??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // redis-cli prints a refused command's error on stdout, and may exit 0.
    let redis_refusal = db.engine == Engine::Redis
        && ["ERR", "NOPERM", "WRONGTYPE", "NOAUTH", "(error)"]
            .iter()
            .any(|p| stdout.starts_with(p));
    if !out.ok() || redis_refusal {
        let why = if out.stderr.trim().is_empty() {
            stdout.trim()
        } else {
            out.stderr.trim()
        };
        return Err(DbError::Refused(why.chars().take(2000).collect()));
    }
    let mut result = match db.engine {
        Engine::Postgres => parse_csv(&stdout),
        Engine::Redis => QueryResult {
            columns: vec!["reply".into()],
            rows: stdout.lines().map(|l| vec![l.to_owned()]).collect(),
            truncated: false,
        },
        _ => parse_batch(&stdout),
    };
    result.truncated |= out.truncated;
    if result.rows.len() > limits.max_rows {
        result.rows.truncate(limits.max_rows);
        result.truncated = true;
    }
    Ok(result)
}

/// Sets Redis's reader user: reads only, no dangerous commands, the database's password
/// given by its SHA-256 (never in plaintext on a command line).
async fn redis_reader(dbs: &Databases, db: &Database, password: &str) -> Result<(), DbError> {
    let hash = format!("#{}", hex::encode(Sha256::digest(password.as_bytes())));
    let cmd = argv(&[
        "redis-cli",
        "--no-auth-warning",
        "ACL",
        "SETUSER",
        READER,
        "reset",
        "on",
        &hash,
        "~*",
        "+@read",
        "-@dangerous",
    ]);
    let out = dbs
        .docker
        .exec(
            &dbs.container(db),
            Exec {
                argv: &cmd,
                env: &[],
                stdin: None,
                user: None,
                limit: 4096,
            },
        )
        .await?;
    let said = String::from_utf8_lossy(&out.stdout);
    if !out.ok() || !said.trim().eq_ignore_ascii_case("ok") {
        return Err(DbError::Failed(format!(
            "setting sh0's read-only Redis user failed: {} {}",
            said.trim(),
            out.stderr.trim()
        )));
    }
    Ok(())
}

/// A Redis command line split into its words (double or single quotes group words). A
/// first word that looks like an option would be read by redis-cli as one, so it is refused.
fn redis_words(text: &str) -> Result<Vec<String>, DbError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(DbError::Invalid("the command has an unclosed quote".into()));
    }
    if in_word {
        words.push(cur);
    }
    match words.first() {
        None => Err(DbError::Invalid("the command is empty".into())),
        Some(w) if w.starts_with('-') => Err(DbError::Invalid(format!("`{w}` is not a Redis command"))),
        Some(_) => Ok(words),
    }
}

/// psql's `--csv` output: a header, then rows.
fn parse_csv(text: &str) -> QueryResult {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let columns = r
        .headers()
        .map(|h| h.iter().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut truncated = false;
    let rows = r
        .records()
        .filter_map(|rec| match rec {
            Ok(rec) => Some(rec.iter().map(str::to_owned).collect()),
            Err(_) => {
                truncated = true;
                None
            }
        })
        .collect();
    QueryResult {
        columns,
        rows,
        truncated,
    }
}

/// The MySQL client's `--batch` output: tab-separated, a header line, `\t` `\n` `\\` `\0`
/// escaped in values.
fn parse_batch(text: &str) -> QueryResult {
    let unescape = |s: &str| {
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('0') => out.push('\0'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        }
        out
    };
    let mut lines = text.lines();
    let columns = lines
        .next()
        .map(|h| h.split('\t').map(unescape).collect())
        .unwrap_or_default();
    let rows = lines.map(|l| l.split('\t').map(unescape).collect()).collect();
    QueryResult {
        columns,
        rows,
        truncated: false,
    }
}

/// The data's size in bytes as the server counts it (Redis: the memory it uses).
pub(super) async fn size(dbs: &Databases, db: &Database) -> Option<u64> {
    let query = match db.engine {
        Engine::Postgres => "SELECT pg_database_size(current_database()) AS bytes",
        Engine::Mysql | Engine::Mariadb => {
            "SELECT COALESCE(SUM(data_length + index_length), 0) AS bytes FROM information_schema.tables \
             WHERE table_schema = DATABASE()"
        }
        Engine::Redis => "INFO memory",
        Engine::Mongo => return None,
    };
    let limits = QueryLimits {
        max_rows: 200,
        timeout: Duration::from_secs(5),
    };
    let result = run(dbs, db, query, limits).await.ok()?;
    match db.engine {
        Engine::Redis => result
            .rows
            .iter()
            .find_map(|r| r.first()?.trim().strip_prefix("used_memory:")?.parse().ok()),
        _ => result.rows.first()?.first()?.trim().parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_words_group_quotes_and_refuse_options() {
        assert_eq!(redis_words("GET 'a b' \"c\"").unwrap(), vec!["GET", "a b", "c"]);
        assert!(redis_words("-h evil GET x").is_err());
        assert!(redis_words("  ").is_err());
        assert!(redis_words("GET 'x").is_err());
    }

    #[test]
    fn batch_output_is_unescaped() {
        let r = parse_batch("id\tname\n1\ta\\tb\n");
        assert_eq!(r.columns, vec!["id", "name"]);
        assert_eq!(r.rows, vec![vec!["1".to_string(), "a\tb".to_string()]]);
    }
}
