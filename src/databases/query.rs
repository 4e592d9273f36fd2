//! Read-only queries, enforced by the database itself: each engine gets a role of sh0's
//! making that may only read (PostgreSQL's `pg_read_all_data`, a MySQL user with `SELECT`
//! on the database, a Redis ACL user with `+@read -@dangerous`, a MongoDB user with the
//! `read` role on the database), and the query runs in a
//! read-only session with a time limit. sh0 never parses the query to decide whether it
//! writes: the server refuses, and its message is the answer. The query text reaches the
//! client tool on its standard input (SQL), as separate arguments (Redis) or as an
//! environment variable read as Extended JSON (MongoDB), never through a shell.

use sha2::{Digest, Sha256};
use std::time::Duration;

use super::mongo::{self, NOBODY};
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
        // Redis's ACL user is set before each query (ACLs live in memory).
        Engine::Redis => return Ok(()),
        Engine::Mongo => return mongo::create_reader(&dbs.docker, &dbs.container(db), &db.name, password).await,
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
        Engine::Postgres => (postgres_argv(db, text, ms)?, Vec::new(), None),
        Engine::Mysql | Engine::Mariadb => {
            let timeout = if mariadb_server(dbs, db).await? {
                format!("SET SESSION max_statement_time = {};", limits.timeout.as_secs_f64())
            } else {
                format!("SET SESSION max_execution_time = {ms};")
            };
            (
                // --binary-mode: no client command (`system`, `\!`, `tee`, ...) is read
                // from the input, only SQL.
                argv(&[
                    mysql_client(db.engine),
                    "--binary-mode",
                    "-u",
                    READER,
                    "--batch",
                    db.name.as_str(),
                ]),
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
            let extra = [
                ("SH0_QUERY", text.to_owned()),
                ("SH0_ROWS", limits.max_rows.to_string()),
                ("SH0_MS", ms.to_string()),
            ];
            let (argv, env) = mongo::command(mongo::Script::Query, &db.name, password.expose(), &extra);
            (argv, env, None)
        }
    };
    let container = dbs.container(db);
    let run = dbs.docker.exec(
        &container,
        Exec {
            argv: &cmd,
            env: &env,
            stdin: stdin.as_deref().map(str::as_bytes),
            // Not root: whatever a client could be talked into, it is nobody in there.
            user: Some(NOBODY),
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
        Engine::Postgres => parse_xml(&stdout)?,
        Engine::Redis => QueryResult {
            columns: vec!["reply".into()],
            rows: stdout.lines().map(|l| vec![l.to_owned()]).collect(),
            truncated: false,
        },
        Engine::Mongo => {
            let (columns, rows) = mongo::rows(&stdout)?;
            QueryResult {
                columns,
                rows,
                truncated: false,
            }
        }
        _ => parse_batch(&stdout),
    };
    result.truncated |= out.truncated;
    if result.rows.len() > limits.max_rows {
        result.rows.truncate(limits.max_rows);
        result.truncated = true;
    }
    Ok(result)
}

/// PostgreSQL: the query runs inside `query_to_xml`, as one statement executed by the
/// server in read-only mode, in a read-only transaction that sh0 opens and always rolls
/// back, as the reader role. The text is a dollar-quoted literal whose tag it cannot
/// contain, so nothing of it is read by psql or reaches the server outside that literal.
fn postgres_argv(db: &Database, text: &str, ms: u128) -> Result<Vec<String>, DbError> {
    let mut nonce = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
    let tag = format!("$sh0q{}$", hex::encode(nonce));
    if text.contains(&tag) {
        return Err(DbError::Invalid(
            "the query contains sh0's quoting tag; run it again".into(),
        ));
    }
    let mut a = argv(&[
        "psql",
        "-X",
        "-q",
        "-t",
        "-A",
        "-v",
        "ON_ERROR_STOP=1",
        "-U",
        READER,
        "-d",
        db.name.as_str(),
    ]);
    for c in [
        "BEGIN READ ONLY".to_owned(),
        format!("SET LOCAL statement_timeout = {ms}"),
        format!("SELECT query_to_xml({tag}{text}{tag}, true, false, '')"),
        "ROLLBACK".to_owned(),
    ] {
        a.push("-c".into());
        a.push(c);
    }
    Ok(a)
}

/// Whether a MySQL-family server is MariaDB (its time limit has another name).
async fn mariadb_server(dbs: &Databases, db: &Database) -> Result<bool, DbError> {
    if db.engine == Engine::Mariadb {
        return Ok(true);
    }
    let out = dbs
        .docker
        .exec(
            &dbs.container(db),
            Exec {
                argv: &argv(&["mysql", "--version"]),
                env: &[],
                stdin: None,
                user: Some(NOBODY),
                limit: 4096,
            },
        )
        .await?;
    Ok(String::from_utf8_lossy(&out.stdout).contains("MariaDB"))
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

/// `query_to_xml`'s table: a `<row>` per row, an element per column (its name escaped
/// as `_xHHHH_` where XML needs it), `xsi:nil` for NULL (shown as an empty value).
fn parse_xml(text: &str) -> Result<QueryResult, DbError> {
    use quick_xml::events::Event;
    let bad = |e: &dyn std::fmt::Display| DbError::Failed(format!("reading the query's result: {e}"));
    let mut reader = quick_xml::Reader::from_str(text.trim());
    let (mut columns, mut rows, mut depth) = (Vec::<String>::new(), Vec::<Vec<String>>::new(), 0usize);
    let mut cell: Option<String> = None;
    loop {
        match reader.read_event().map_err(|e| bad(&e))? {
            Event::Start(e) => {
                depth += 1;
                match depth {
                    2 => rows.push(Vec::new()),
                    3 => {
                        if rows.len() == 1 {
                            columns.push(unescape_name(&String::from_utf8_lossy(e.name().as_ref())));
                        }
                        cell = Some(String::new());
                    }
                    _ => {}
                }
            }
            Event::Empty(e) if depth == 2 => {
                if rows.len() == 1 {
                    columns.push(unescape_name(&String::from_utf8_lossy(e.name().as_ref())));
                }
                if let Some(row) = rows.last_mut() {
                    row.push(String::new());
                }
            }
            Event::Text(t) if depth == 3 => {
                if let Some(c) = cell.as_mut() {
                    c.push_str(&t.xml_content().map_err(|e| bad(&e))?);
                }
            }
            Event::GeneralRef(r) if depth == 3 => {
                if let Some(c) = cell.as_mut() {
                    let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                    let ch = match name.as_str() {
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "amp" => Some('&'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => r.resolve_char_ref().ok().flatten(),
                    };
                    c.extend(ch);
                }
            }
            Event::End(_) => {
                if depth == 3
                    && let (Some(c), Some(row)) = (cell.take(), rows.last_mut())
                {
                    row.push(c);
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(QueryResult {
        columns,
        rows,
        truncated: false,
    })
}

/// Undoes SQL/XML's name escaping: `_x003F_` is `?`.
fn unescape_name(name: &str) -> String {
    let mut out = String::new();
    let mut rest = name;
    while let Some(i) = rest.find("_x") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let decoded = after
            .get(..5)
            .filter(|s| s.ends_with('_'))
            .and_then(|s| u32::from_str_radix(&s[..4], 16).ok())
            .and_then(char::from_u32);
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[5..];
            }
            None => {
                out.push_str("_x");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
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
        Engine::Mongo => {
            let password = dbs.password(db).ok()?;
            let cmd = mongo::command(mongo::Script::Size, &db.name, password.expose(), &[]);
            let size = mongo::Script::Size;
            let out = mongo::run(&dbs.docker, &dbs.container(db), size, cmd, 4096)
                .await
                .ok()?;
            return mongo::last_line(&String::from_utf8_lossy(&out.stdout))
                .parse::<f64>()
                .ok()
                .map(|b| b as u64);
        }
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
    fn xml_tables_are_read_with_nulls_and_escaped_names() {
        let xml = "<table xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n\n<row>\n  <a>1</a>\n  \
                   <b xsi:nil=\"true\"/>\n  <c_x003F_>x&lt;y &amp; \"z\"</c_x003F_>\n</row>\n\n</table>\n";
        let r = parse_xml(xml).unwrap();
        assert_eq!(r.columns, vec!["a", "b", "c?"]);
        assert_eq!(
            r.rows,
            vec![vec!["1".to_string(), String::new(), "x<y & \"z\"".to_string()]]
        );
        let empty = parse_xml("<table xmlns:xsi=\"x\">\n\n</table>").unwrap();
        assert!(empty.rows.is_empty());
    }

    #[test]
    fn batch_output_is_unescaped() {
        let r = parse_batch("id\tname\n1\ta\\tb\n");
        assert_eq!(r.columns, vec!["id", "name"]);
        assert_eq!(r.rows, vec![vec!["1".to_string(), "a\tb".to_string()]]);
    }
}
