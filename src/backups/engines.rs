//! What each engine's backup runs inside its container: the logical dump, the restore,
//! and the census (tables and row counts) that a restored copy must match. Argument
//! vectors only; passwords in the exec's environment.

use super::BackupError;
use super::mongo::{self, ToolsConfig};
use super::redis;
use crate::domain::{Engine, ResourceName};

/// A command to run in a database's container.
pub struct Command {
    pub argv: Vec<String>,
    pub env: Vec<String>,
}

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn mysql_tools(engine: Engine) -> (&'static str, &'static str) {
    if engine == Engine::Mariadb {
        ("mariadb", "mariadb-dump")
    } else {
        ("mysql", "mysqldump")
    }
}

/// What a dump or a restore authenticates with: the password (given in the exec's
/// environment), and for MongoDB the tools' configuration file that holds it (its tools
/// read no password from the environment).
pub struct Auth<'a> {
    pub password: &'a str,
    pub mongo: Option<&'a ToolsConfig>,
}

impl Auth<'_> {
    fn mongo(&self) -> Result<&ToolsConfig, BackupError> {
        self.mongo
            .ok_or_else(|| BackupError::Failed("MongoDB's tools need their configuration file".into()))
    }
}

/// What a dump file holds, for its name: SQL, a Redis snapshot, a MongoDB archive.
pub fn dump_format(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres | Engine::Mysql | Engine::Mariadb => "sql",
        Engine::Redis => "rdb",
        Engine::Mongo => "archive",
    }
}

/// The dump, written to stdout. PostgreSQL's is plain SQL that drops what it recreates,
/// so it restores over an existing database; MySQL's drops each table it recreates;
/// Redis's is its RDB snapshot; MongoDB's its archive.
pub fn dump(engine: Engine, name: &ResourceName, auth: &Auth<'_>) -> Result<Command, BackupError> {
    let n = name.as_str();
    let password = auth.password;
    Ok(match engine {
        Engine::Redis => redis::dump(password),
        Engine::Mongo => mongo::dump(name, auth.mongo()?),
        Engine::Postgres => Command {
            argv: argv(&[
                "pg_dump",
                "-U",
                n,
                "-d",
                n,
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
            ]),
            env: Vec::new(),
        },
        _ => Command {
            argv: argv(&[
                mysql_tools(engine).1,
                "-uroot",
                "--single-transaction",
                "--routines",
                "--triggers",
                "--events",
                n,
            ]),
            env: vec![format!("MYSQL_PWD={password}")],
        },
    })
}

/// The restore, reading the dump on stdin, all or nothing where the engine allows it
/// (PostgreSQL: one transaction). Redis's only receives the snapshot: [`redis::load`]
/// loads it once it is all there. `source` is the database the dump was made of.
pub fn restore(
    engine: Engine,
    source: &ResourceName,
    name: &ResourceName,
    auth: &Auth<'_>,
) -> Result<Command, BackupError> {
    let n = name.as_str();
    let password = auth.password;
    Ok(match engine {
        Engine::Redis => redis::receive(),
        Engine::Mongo => mongo::restore(source, name, auth.mongo()?),
        Engine::Postgres => Command {
            argv: argv(&[
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "-U",
                n,
                "-d",
                n,
            ]),
            env: Vec::new(),
        },
        _ => Command {
            argv: argv(&[mysql_tools(engine).0, "-uroot", n]),
            env: vec![format!("MYSQL_PWD={password}")],
        },
    })
}

/// The list of tables with their exact row counts, one `name<TAB>count` per line.
/// MySQL has no way to count every table in one statement without dynamic SQL, so its
/// census is two steps: [`tables`], then [`count_tables`]. Redis's is its keyspace;
/// MongoDB's every collection's document count.
pub fn census(engine: Engine, name: &ResourceName, password: &str) -> Command {
    let n = name.as_str();
    match engine {
        Engine::Redis => redis::census(password),
        Engine::Mongo => mongo::census(name, password),
        Engine::Postgres => Command {
            argv: vec![
                "psql".into(),
                "-X".into(),
                "-qtA".into(),
                "-F".into(),
                "\t".into(),
                "-U".into(),
                n.into(),
                "-d".into(),
                n.into(),
                "-c".into(),
                POSTGRES_CENSUS.into(),
            ],
            env: Vec::new(),
        },
        _ => tables(engine, name, password),
    }
}

/// PostgreSQL: every table of the database's own schemas with its exact row count.
pub const POSTGRES_CENSUS: &str = "SELECT table_schema || '.' || table_name, \
     (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, \
     table_name), false, true, '')))[1]::text FROM information_schema.tables \
     WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE' \
     ORDER BY 1";

/// MySQL: the database's tables, one per line.
fn tables(engine: Engine, name: &ResourceName, password: &str) -> Command {
    mysql_query(
        engine,
        name,
        password,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() \
         AND table_type = 'BASE TABLE' ORDER BY 1"
            .into(),
    )
}

/// MySQL: exact counts of `tables` in one statement (names quoted as identifiers).
pub fn count_tables(engine: Engine, name: &ResourceName, password: &str, tables: &[String]) -> Option<Command> {
    if tables.is_empty() {
        return None;
    }
    let ident = |t: &str| format!("`{}`", t.replace('`', "``"));
    let literal = |t: &str| format!("'{}'", t.replace('\\', "\\\\").replace('\'', "''"));
    let sql = tables
        .iter()
        .map(|t| format!("SELECT {}, COUNT(*) FROM {}", literal(t), ident(t)))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    Some(mysql_query(engine, name, password, sql))
}

/// MySQL: one statement as root in the database, its rows tab-separated without a header.
fn mysql_query(engine: Engine, name: &ResourceName, password: &str, sql: String) -> Command {
    Command {
        argv: vec![
            mysql_tools(engine).0.into(),
            "-uroot".into(),
            "-N".into(),
            "-B".into(),
            name.as_str().into(),
            "-e".into(),
            sql,
        ],
        env: vec![format!("MYSQL_PWD={password}")],
    }
}
