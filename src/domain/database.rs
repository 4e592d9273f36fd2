//! Managed databases: the engines sh0 runs and what each engine's official image expects
//! (its environment, data directory, port and client tools). Everything sh0 runs inside a
//! database container is an argument vector built here and run by Docker exec — never a
//! shell string — and secrets travel in the exec's environment, never in its arguments.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{DatabaseId, ProjectId, ResourceName, Timestamp};

/// A database engine sh0 can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display, strum::EnumIter)]
#[strum(serialize_all = "lowercase")]
pub enum Engine {
    Postgres,
    Mysql,
    Mariadb,
    Mongo,
    Redis,
}

text_enum!(Engine);

/// The role `database_query` runs as: it may read, and nothing else. Created by sh0 in
/// every database it makes.
pub const READER: &str = "sh0_reader";

impl Engine {
    /// The version a new database gets when none is asked for.
    pub fn default_version(self) -> &'static str {
        match self {
            Self::Postgres => "16",
            Self::Mysql => "8.4",
            Self::Mariadb => "11",
            Self::Mongo => "7",
            Self::Redis => "7",
        }
    }

    /// The official image of a version (`postgres:16`); `--db-image` replaces it.
    pub fn default_image(self, version: &str) -> String {
        format!("{}:{version}", self.as_str())
    }

    pub fn port(self) -> u16 {
        match self {
            Self::Postgres => 5432,
            Self::Mysql | Self::Mariadb => 3306,
            Self::Mongo => 27017,
            Self::Redis => 6379,
        }
    }

    /// Where the official image keeps its data: the named volume is mounted there.
    pub fn data_dir(self) -> &'static str {
        match self {
            Self::Postgres => "/var/lib/postgresql/data",
            Self::Mysql | Self::Mariadb => "/var/lib/mysql",
            Self::Mongo => "/data/db",
            Self::Redis => "/data",
        }
    }

    /// The user apps connect as. Redis has one password and no user of sh0's making.
    pub fn user(self, name: &ResourceName) -> String {
        match self {
            Self::Redis => "default".into(),
            Self::Mongo => "root".into(),
            _ => name.to_string(),
        }
    }

    /// The environment the official image reads at its first start. It holds the
    /// password, so it goes into the container's configuration only.
    pub fn container_env(self, name: &ResourceName, password: &str) -> Vec<String> {
        let n = name.as_str();
        match self {
            Self::Postgres => vec![
                format!("POSTGRES_USER={n}"),
                format!("POSTGRES_DB={n}"),
                format!("POSTGRES_PASSWORD={password}"),
            ],
            Self::Mysql | Self::Mariadb => vec![
                format!("MYSQL_ROOT_PASSWORD={password}"),
                format!("MARIADB_ROOT_PASSWORD={password}"),
                format!("MYSQL_DATABASE={n}"),
                format!("MARIADB_DATABASE={n}"),
                format!("MYSQL_USER={n}"),
                format!("MARIADB_USER={n}"),
                format!("MYSQL_PASSWORD={password}"),
                format!("MARIADB_PASSWORD={password}"),
            ],
            Self::Mongo => vec![
                "MONGO_INITDB_ROOT_USERNAME=root".into(),
                format!("MONGO_INITDB_ROOT_PASSWORD={password}"),
                format!("MONGO_INITDB_DATABASE={n}"),
            ],
            // redis-cli reads its password from here (health checks, sh0's execs).
            Self::Redis => vec![format!("REDISCLI_AUTH={password}")],
        }
    }

    /// The container's command, when the image's default is not enough. Redis reads its
    /// password from a file sh0 writes before the first start (see [`REDIS_CONFIG`]), so
    /// it never appears in the process list.
    pub fn command(self) -> Option<Vec<String>> {
        match self {
            Self::Redis => Some(vec!["redis-server".into(), REDIS_CONFIG.into()]),
            _ => None,
        }
    }

    /// The health check Docker runs in the container (exec form).
    pub fn health_check(self, name: &ResourceName) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self {
            Self::Postgres => v(&["CMD", "pg_isready", "-q", "-U", name.as_str(), "-d", name.as_str()]),
            // `ping` answers 0 whenever the server runs, even when it refuses the login.
            Self::Mysql => v(&["CMD", "mysqladmin", "ping", "--silent"]),
            Self::Mariadb => v(&["CMD", "mariadb-admin", "ping", "--silent"]),
            Self::Mongo => v(&["CMD", "mongosh", "--quiet", "--eval", "db.runCommand({ping: 1}).ok"]),
            Self::Redis => v(&["CMD", "redis-cli", "--no-auth-warning", "ping"]),
        }
    }

    /// The connection URL for a host and port (the password percent-encoded).
    pub fn url(self, name: &ResourceName, password: &str, host: &str, port: u16) -> String {
        let pw: String = url_encode(password);
        let user = self.user(name);
        match self {
            Self::Postgres => format!("postgres://{user}:{pw}@{host}:{port}/{name}"),
            Self::Mysql | Self::Mariadb => format!("mysql://{user}:{pw}@{host}:{port}/{name}"),
            Self::Mongo => format!("mongodb://{user}:{pw}@{host}:{port}/{name}?authSource=admin"),
            Self::Redis => format!("redis://{user}:{pw}@{host}:{port}/0"),
        }
    }
}

/// Where sh0 writes a Redis server's configuration (its password among it).
pub const REDIS_CONFIG: &str = "/etc/sh0-redis.conf";

/// The Redis configuration sh0 writes: the password, persistence to `/data`, and every
/// interface of the project network (the password protects it). From Redis 7, `DEBUG` is
/// allowed from inside the container only: a restore loads its snapshot with it, apps
/// never reach it (older servers refuse the setting, and sh0 restores only into 7+).
pub fn redis_config(password: &str, version: &str) -> String {
    let debug = if redis_restorable(version) {
        "enable-debug-command local\n"
    } else {
        ""
    };
    format!("requirepass {password}\nappendonly yes\ndir /data\nbind * -::*\nprotected-mode no\nport 6379\n{debug}")
}

/// Whether sh0 backs up and restores this Redis version: 7 and later (`redis-cli --rdb -`,
/// `enable-debug-command`). A version that is not a number (`latest`) is taken as current.
pub fn redis_restorable(version: &str) -> bool {
    version
        .split(['.', '-'])
        .next()
        .and_then(|major| major.parse::<u32>().ok())
        .is_none_or(|major| major >= 7)
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A reference to a database given by a user: its id or its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DatabaseRef {
    Id(DatabaseId),
    Name(ResourceName),
}

impl TryFrom<String> for DatabaseRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.starts_with(DatabaseId::PREFIX) {
            return DatabaseId::try_from(s).map(Self::Id);
        }
        ResourceName::parse(&s).map(Self::Name)
    }
}

impl From<DatabaseRef> for String {
    fn from(r: DatabaseRef) -> String {
        match r {
            DatabaseRef::Id(id) => id.into(),
            DatabaseRef::Name(n) => n.into(),
        }
    }
}

impl std::fmt::Display for DatabaseRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Name(n) => n.fmt(f),
        }
    }
}

impl JsonSchema for DatabaseRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DatabaseRef".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": 63,
            "description": "Database id (`dbs_…`) or name.",
        })
    }
}

/// A managed database as sh0 records it. The password is sealed in the store and is not
/// part of this type.
#[derive(Debug, Clone)]
pub struct Database {
    pub id: DatabaseId,
    pub name: ResourceName,
    pub project_id: ProjectId,
    pub engine: Engine,
    pub version: String,
    pub image: String,
    /// The loopback or public port the user asked to publish the database on.
    pub public_port: Option<u16>,
    pub memory_mb: Option<u32>,
    pub cpus: Option<f64>,
    /// Stopped by a user (`database_stop`).
    pub stopped: bool,
    pub created_at: Timestamp,
}

impl Database {
    /// The container's name: the database's, unique to this installation.
    pub fn container_name(&self, instance: &str) -> String {
        format!(
            "sh0-db-{}-{}",
            self.name,
            &instance[instance.len().saturating_sub(12)..]
        )
    }

    /// The named volume holding its data: named by id, so that a volume a failed cleanup
    /// left is never mounted by a later database of the same name.
    pub fn volume_name(&self, instance: &str) -> String {
        format!(
            "sh0-db-{}-{}-data",
            self.id,
            &instance[instance.len().saturating_sub(12)..]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_7_and_later_restore_in_place() {
        for v in ["7", "7.2", "8", "latest", "alpine"] {
            assert!(redis_restorable(v), "{v}");
            assert!(redis_config("pw", v).contains("enable-debug-command local"), "{v}");
        }
        for v in ["6", "6.2", "5-alpine"] {
            assert!(!redis_restorable(v), "{v}");
            assert!(!redis_config("pw", v).contains("enable-debug-command"), "{v}");
        }
    }

    #[test]
    fn urls_encode_the_password_and_name_the_database() {
        let n = ResourceName::parse("shop").unwrap();
        assert_eq!(
            Engine::Postgres.url(&n, "a b/c", "shop", 5432),
            "postgres://shop:a%20b%2Fc@shop:5432/shop"
        );
        assert_eq!(
            Engine::Redis.url(&n, "pw", "shop", 6379),
            "redis://default:pw@shop:6379/0"
        );
    }

    #[test]
    fn references_are_ids_or_names() {
        assert!(matches!(
            DatabaseRef::try_from("shop".to_string()),
            Ok(DatabaseRef::Name(_))
        ));
        assert!(DatabaseRef::try_from("dbs_xyz".to_string()).is_err());
        assert!(DatabaseRef::try_from("-x".to_string()).is_err());
    }
}
