//! Managed databases: each one a long-lived container of its engine's image on its
//! project's network, with its data in a named volume and a generated password sealed in
//! the store. Creating one is all or nothing: a database that does not come up healthy
//! leaves no row, container or volume behind, and says why.

mod images;
pub mod mongo;
mod query;

pub use images::DbImages;
pub use query::{QueryLimits, QueryResult};

use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::MasterKey;
use crate::docker::{DockerClient, DockerError, ServiceSpec, ServiceState};
use crate::domain::database::redis_config;
use crate::domain::{Database, DatabaseId, Engine, ProjectId, ResourceName, SecretString};
use crate::store::{NewDatabase, Store, StoreError, database_password_context};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// The database did not come up, or a command in it failed: the message says why.
    #[error("{0}")]
    Failed(String),
    /// The request cannot be done in the database's state (stopped, not running).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// The database refused a query: its own message.
    #[error("the database refused the query: {0}")]
    Refused(String),
    #[error("the database's password cannot be opened: {0}")]
    Sealed(String),
    /// The engine's image is neither on the server nor pullable: a setting to fix.
    #[error("{0}")]
    NoImage(String),
}

/// What `create` is asked for.
pub struct CreateDb<'a> {
    pub name: &'a ResourceName,
    pub project: &'a ProjectId,
    pub project_name: &'a str,
    pub engine: Engine,
    pub version: &'a str,
    pub public_port: Option<u16>,
    pub memory_mb: Option<u32>,
    pub cpus: Option<f64>,
}

/// How a database is doing, from its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DbStatus {
    /// Running and its health check passes.
    Running,
    /// Running, health not known yet.
    Starting,
    /// Running and its health check fails.
    Unhealthy,
    /// Stopped by a user.
    Stopped,
    /// Not running though nobody stopped it (it exited or crashed).
    Exited,
    /// Its container is gone (removed by hand): `database_start` makes it again from its volume.
    Missing,
    /// Docker cannot be reached.
    Unknown,
}

/// How long a new database may take to become healthy (a first start initialises its
/// data directory).
const READY_TIMEOUT: Duration = Duration::from_secs(180);
const STOP_GRACE_SECS: i32 = 30;

#[derive(Clone)]
pub struct Databases {
    store: Arc<Store>,
    docker: DockerClient,
    master_key: MasterKey,
    instance: String,
    images: DbImages,
}

/// Files an engine's container needs before its first start, as `(dir, name, content)`:
/// Redis's configuration, which holds its password (never on a command line).
pub fn engine_files(engine: Engine, version: &str, password: &str) -> Vec<(String, String, Vec<u8>)> {
    match engine {
        Engine::Redis => vec![(
            "/etc".to_owned(),
            crate::domain::database::REDIS_CONFIG
                .trim_start_matches("/etc/")
                .to_owned(),
            redis_config(password, version).into_bytes(),
        )],
        _ => Vec::new(),
    }
}

impl Databases {
    pub fn new(
        store: Arc<Store>,
        docker: DockerClient,
        master_key: MasterKey,
        images: DbImages,
    ) -> Result<Self, DbError> {
        let instance = store.instance_id()?;
        Ok(Self {
            store,
            docker,
            master_key,
            instance,
            images,
        })
    }

    /// This installation's id (on every container it makes).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn image_for(&self, engine: Engine, version: &str) -> String {
        self.images.image(engine, version)
    }

    /// Creates the database and waits until it is healthy and sh0's read-only role exists.
    pub async fn create(&self, req: CreateDb<'_>) -> Result<Database, DbError> {
        let id = DatabaseId::generate();
        let password = generate_password();
        let image = self.image_for(req.engine, req.version);
        let sealed = self
            .master_key
            .seal(password.as_bytes(), &database_password_context(&id));
        // The row first: a taken name or port is refused before anything runs.
        let db = self.store.database_insert(&NewDatabase {
            id: &id,
            name: req.name,
            project: req.project,
            engine: req.engine,
            version: req.version,
            image: &image,
            public_port: req.public_port,
            memory_mb: req.memory_mb,
            cpus: req.cpus,
            sealed_password: &sealed,
        })?;
        match self.bring_up(&db, req.project_name, &password).await {
            Ok(()) => Ok(db),
            Err(e) => {
                let name = db.container_name(&self.instance);
                if let Err(c) = self
                    .docker
                    .remove_service(&name, Some(&db.volume_name(&self.instance)), 0)
                    .await
                {
                    tracing::warn!(database = %db.name, error = %c, "cleaning up a database that failed to start");
                }
                self.store.database_delete(&db.id)?;
                Err(e)
            }
        }
    }

    async fn bring_up(&self, db: &Database, project_name: &str, password: &str) -> Result<(), DbError> {
        if !self.docker.image_exists(&db.image).await? {
            self.docker.pull(&db.image, |_| {}).await.map_err(|e| {
                DbError::NoImage(format!(
                    "the image `{}` is not on this server and could not be pulled ({e}); pull or build it, or \
                     name another with `sh0 serve --db-image {}=<image>`",
                    db.image, db.engine
                ))
            })?;
        }
        self.start_container(db, project_name, password).await?;
        self.wait_healthy(db).await?;
        query::create_reader(self, db, password).await
    }

    /// Creates and starts the database's container (on its existing volume, if any).
    async fn start_container(&self, db: &Database, project_name: &str, password: &str) -> Result<(), DbError> {
        let network = crate::docker::project_network(project_name, &self.instance);
        self.docker.ensure_network(&network, &self.instance).await?;
        let files = engine_files(db.engine, &db.version, password);
        let spec = ServiceSpec {
            name: db.container_name(&self.instance),
            image: db.image.clone(),
            role: (crate::docker::LABEL_DATABASE, db.id.to_string()),
            instance: self.instance.clone(),
            env: db.engine.container_env(&db.name, password),
            cmd: db.engine.command(),
            volume: Some(db.volume_name(&self.instance)),
            data_dir: db.engine.data_dir().to_owned(),
            network: Some((network, db.name.to_string())),
            port: db.engine.port(),
            publish: db.public_port,
            memory_bytes: db.memory_mb.map(|m| i64::from(m) * 1024 * 1024),
            nano_cpus: db.cpus.map(|c| (c * 1e9) as i64),
            health: db.engine.health_check(&db.name),
            files,
        };
        self.docker.create_service(&spec).await?;
        Ok(())
    }

    async fn wait_healthy(&self, db: &Database) -> Result<(), DbError> {
        self.wait_container_healthy(&db.container_name(&self.instance), db.engine)
            .await
    }

    /// Waits until the container `name` of `engine` passes its health check, or says why not.
    pub async fn wait_container_healthy(&self, name: &str, engine: Engine) -> Result<(), DbError> {
        let started = Instant::now();
        loop {
            match self.docker.service_state(name).await? {
                Some(ServiceState {
                    running: true,
                    health: Some(h),
                    ..
                }) if h == "healthy" => return Ok(()),
                Some(ServiceState {
                    running: false,
                    exit_code,
                    ..
                }) => {
                    return Err(DbError::Failed(format!(
                        "the {engine} server exited (code {}) before it was ready: {}",
                        exit_code.unwrap_or(-1),
                        self.last_lines(name).await
                    )));
                }
                None => {
                    return Err(DbError::Failed(
                        "the database's container disappeared while starting".into(),
                    ));
                }
                _ => {}
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(DbError::Failed(format!(
                    "the {engine} server was not healthy after {} s: {}",
                    READY_TIMEOUT.as_secs(),
                    self.last_lines(name).await
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The last lines the server wrote, for an error message.
    async fn last_lines(&self, container: &str) -> String {
        match self.docker.logs(container, 8, None).await {
            Ok(lines) if !lines.is_empty() => lines.join(" | "),
            _ => "it wrote nothing".into(),
        }
    }

    /// The database's status, from Docker.
    pub async fn status(&self, db: &Database) -> DbStatus {
        match self.docker.service_state(&db.container_name(&self.instance)).await {
            Err(_) => DbStatus::Unknown,
            Ok(None) => DbStatus::Missing,
            Ok(Some(s)) if !s.running && db.stopped => DbStatus::Stopped,
            Ok(Some(s)) if !s.running => DbStatus::Exited,
            Ok(Some(s)) => match s.health.as_deref() {
                Some("healthy") => DbStatus::Running,
                Some("unhealthy") => DbStatus::Unhealthy,
                _ => DbStatus::Starting,
            },
        }
    }

    /// Starts a stopped database, or makes its container again (from its volume) when it
    /// was removed by hand.
    pub async fn start(&self, db: &Database, project_name: &str) -> Result<(), DbError> {
        let name = db.container_name(&self.instance);
        match self.docker.service_state(&name).await? {
            Some(_) => self.docker.start(&name).await?,
            None => {
                let password = self.password(db)?;
                self.start_container(db, project_name, password.expose()).await?;
            }
        }
        self.store.database_set_stopped(&db.id, false)?;
        self.wait_healthy(db).await
    }

    pub async fn stop(&self, db: &Database) -> Result<(), DbError> {
        self.store.database_set_stopped(&db.id, true)?;
        if self
            .docker
            .service_state(&db.container_name(&self.instance))
            .await?
            .is_some()
        {
            self.docker
                .stop(&db.container_name(&self.instance), STOP_GRACE_SECS)
                .await?;
        }
        Ok(())
    }

    pub async fn restart(&self, db: &Database, project_name: &str) -> Result<(), DbError> {
        self.stop(db).await?;
        self.start(db, project_name).await
    }

    /// Removes the container and its data, then the row.
    pub async fn delete(&self, db: &Database) -> Result<(), DbError> {
        self.docker
            .remove_service(
                &db.container_name(&self.instance),
                Some(&db.volume_name(&self.instance)),
                STOP_GRACE_SECS,
            )
            .await?;
        self.store.database_delete(&db.id)?;
        Ok(())
    }

    /// The database's password, opened.
    pub fn password(&self, db: &Database) -> Result<SecretString, DbError> {
        let (_, sealed) = self
            .store
            .database_with_password(&crate::domain::DatabaseRef::Id(db.id.clone()))?;
        let plain = self
            .master_key
            .open(&sealed, &database_password_context(&db.id))
            .map_err(|e| DbError::Sealed(e.to_string()))?;
        let text = String::from_utf8(plain).map_err(|e| DbError::Sealed(e.to_string()))?;
        SecretString::try_from(text).map_err(DbError::Sealed)
    }

    /// The URL apps of its project use (the database's name is its host on the network).
    pub fn internal_url(&self, db: &Database) -> Result<SecretString, DbError> {
        let pw = self.password(db)?;
        SecretString::try_from(db.engine.url(&db.name, pw.expose(), db.name.as_str(), db.engine.port()))
            .map_err(DbError::Invalid)
    }

    /// Runs a read-only query as sh0's reader role.
    pub async fn query(&self, db: &Database, text: &str, limits: QueryLimits) -> Result<QueryResult, DbError> {
        query::run(self, db, text, limits).await
    }

    /// The size of the database's data in bytes, as the server reports it.
    pub async fn size(&self, db: &Database) -> Option<u64> {
        query::size(self, db).await
    }

    /// The name of a database's container.
    pub fn container(&self, db: &Database) -> String {
        db.container_name(&self.instance)
    }
}

/// A password of 32 letters and digits (about 190 bits): safe in URLs, shells and every
/// engine's configuration syntax.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
