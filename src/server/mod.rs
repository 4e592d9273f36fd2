//! The server: opens the store, makes sure a first credential exists, and serves the REST
//! adapter under `/api/v1` and the MCP adapter at `/mcp` on one listener.

pub mod admin;
pub mod admin_cli;
mod bootstrap;
mod dashboard;
mod guard;
pub mod listener;

pub use bootstrap::BOOTSTRAP_FILE;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::adapters::{mcp, rest};
use crate::auth::MasterKey;
use crate::deploy::{DeploySettings, Deployer};
use crate::docker::DockerClient;
use crate::domain::DomainName;
use crate::proxy::{
    AcmeSettings, Edge, ProxyConfig, ProxySecret, ProxyServer, ProxyState, RoutingTable, Workers, tls, workers,
};
use crate::registry::{Dispatcher, ServerSettings, Services};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Secrets(#[from] crate::auth::SecretsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("edge: {0}")]
    Edge(#[from] crate::proxy::EdgeError),
    #[error("deploy engine: {0}")]
    Deploy(String),
    #[error("server stopped: {0}")]
    Serve(std::io::Error),
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Extra host names the server is reached by (besides localhost and the listen address).
    pub hosts: Vec<String>,
    /// The master key from `SH0_MASTER_KEY`, if set.
    pub master_key: Option<String>,
    /// Apps are served at `<app>.<base_domain>`.
    pub base_domain: String,
    /// The proxy's HTTP port; 0 disables it.
    pub http_port: u16,
    /// The proxy's HTTPS port; 0 disables TLS (and with it ACME).
    pub https_port: u16,
    /// Automatic certificates; `None` serves uploaded certificates only.
    pub acme: Option<AcmeSettings>,
    /// The panel's own domain: the proxy serves the API and MCP there, with a certificate.
    pub panel_domain: Option<DomainName>,
    /// Request bodies larger than this get 413 from the proxy.
    pub max_body_bytes: u64,
    /// Base images of generated Dockerfiles.
    pub base_images: crate::build::BaseImages,
    /// Images of database engines (`--db-image`).
    pub db_images: crate::databases::DbImages,
    /// The assistant's model, unless set with `ai_settings_set`.
    pub ai: crate::ai::AiFlags,
}

/// Where `sh0 serve` and the host-local admin commands look for the data directory.
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("sh0")
}

/// Opens everything the tools need.
pub fn open_services(opts: &ServeOptions) -> Result<Services, ServeError> {
    let dir_err = |source| ServeError::DataDir {
        path: opts.data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&opts.data_dir).map_err(dir_err)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&opts.data_dir, std::fs::Permissions::from_mode(0o700)).map_err(dir_err)?;
    }
    let master_key = MasterKey::load_or_create(&opts.data_dir, opts.master_key.as_deref())?;
    let store = Arc::new(Store::open(&opts.data_dir.join("sh0.db"))?);
    let mut hosts: Vec<String> = Vec::new();
    let defaults = [
        "localhost".to_string(),
        "127.0.0.1".into(),
        "::1".into(),
        opts.listen.ip().to_string(),
    ];
    let panel = opts.panel_domain.iter().map(|d| d.to_string());
    for h in defaults.iter().cloned().chain(opts.hosts.iter().cloned()).chain(panel) {
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    let routes = Arc::new(RoutingTable::new(&opts.base_domain));
    let jobs = crate::jobs::Jobs::new(store.clone());
    let edge = Edge::new(
        store.clone(),
        master_key.clone(),
        jobs.clone(),
        routes.clone(),
        ProxyState::default(),
        opts.acme.clone().filter(|_| opts.https_port != 0),
        opts.panel_domain.clone(),
    );
    let deployer = Deployer::new(
        store.clone(),
        DockerClient::new(),
        routes,
        master_key.clone(),
        jobs.clone(),
        opts.data_dir.clone(),
        DeploySettings {
            base_images: opts.base_images.clone(),
            ..DeploySettings::default()
        },
    )
    .map_err(|e| ServeError::Deploy(e.to_string()))?;
    let databases = crate::databases::Databases::new(
        store.clone(),
        DockerClient::new(),
        master_key.clone(),
        opts.db_images.clone(),
    )
    .map_err(|e| ServeError::Deploy(e.to_string()))?;
    let backups = crate::backups::Backups::new(
        store.clone(),
        DockerClient::new(),
        master_key.clone(),
        databases.clone(),
        jobs.clone(),
        &opts.data_dir,
    );
    let session_keys = session_keys(&store, &master_key)?;
    let ai = crate::ai::Ai::new(store.clone(), master_key.clone(), opts.ai.clone());
    Ok(Services {
        ai,
        chat_turns: Default::default(),
        git_pending: Default::default(),
        store,
        deployer,
        databases,
        backups,
        edge,
        master_key,
        session_keys,
        limiters: crate::auth::Limiters::default(),
        jobs,
        settings: ServerSettings {
            data_dir: opts.data_dir.clone(),
            listen: opts.listen.to_string(),
            hosts,
            base_domain: opts.base_domain.clone(),
            http_port: opts.http_port,
            https_port: opts.https_port,
        },
        started: Instant::now(),
        started_at: crate::domain::Timestamp::now(),
    })
}

/// The setting holding the sealed key that signs session tokens.
const SESSION_KEY_SETTING: &str = "sealed:session_signing_key";

/// Loads the key that signs session tokens, creating it on first start. It is sealed with
/// the master key like every other secret (and re-sealed when that rotates).
fn session_keys(store: &Store, master_key: &MasterKey) -> Result<crate::auth::SessionKeys, ServeError> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let secret = match store.setting_get(SESSION_KEY_SETTING)? {
        Some(sealed) => {
            let bytes = STANDARD
                .decode(sealed)
                .map_err(|e| crate::store::StoreError::Corrupt(format!("{SESSION_KEY_SETTING}: {e}")))?;
            master_key.open(&bytes, SESSION_KEY_SETTING)?
        }
        None => {
            let secret = crate::auth::SessionKeys::generate_secret();
            master_key.seal_into(&secret, SESSION_KEY_SETTING, |sealed| {
                store.setting_put(SESSION_KEY_SETTING, &STANDARD.encode(sealed))
            })?;
            secret
        }
    };
    Ok(crate::auth::SessionKeys::from_secret(&secret))
}

/// The whole HTTP application, behind the listener's guard (host, origin, client address).
pub fn app(dispatcher: Dispatcher, proxy_secret: ProxySecret) -> Router {
    let hosts = dispatcher.services().settings.hosts.clone();
    let guard = guard::Guard::new(&hosts, proxy_secret);
    let mcp = Router::new()
        .nest_service("/mcp", mcp::http_service(dispatcher.clone(), hosts))
        .layer(middleware::from_fn_with_state(dispatcher.clone(), require_key));
    rest::router(dispatcher)
        .merge(mcp)
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .merge(dashboard::router())
        .layer(middleware::from_fn_with_state(guard, guard::check))
}

/// `/mcp` answers 401 before any MCP processing when the request has no valid key.
/// The 401 names where a remote client discovers how to get a token (RFC 9728).
async fn require_key(State(d): State<Dispatcher>, req: Request, next: Next) -> Response {
    let creds = mcp::credentials_of(req.headers());
    match d.authenticate(&creds) {
        Ok(_) => next.run(req).await,
        Err(e) => {
            let mut resp = rest::error_response(&e);
            if resp.status() == axum::http::StatusCode::UNAUTHORIZED {
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, rest::www_authenticate(req.headers()));
            }
            resp
        }
    }
}

/// Runs the server until Ctrl-C or SIGTERM: reconciles Docker with the store, then opens
/// the proxy and the API.
pub async fn serve(opts: ServeOptions) -> Result<(), ServeError> {
    let services = Arc::new(open_services(&opts)?);
    bootstrap::ensure_owner_key(&services)?;
    if services.master_key.is_rotating() {
        // A rotation was interrupted: both keys are loaded; finish re-sealing now.
        match crate::tools::secrets::complete_rotation(&services) {
            Ok(counts) => tracing::info!(?counts, "finished an interrupted master key rotation"),
            Err(e) => {
                tracing::error!(error = %e.message, "could not finish the master key rotation; both keys stay in use")
            }
        }
    }
    match services.jobs.reconcile() {
        Ok(failed) if !failed.is_empty() => tracing::warn!(count = failed.len(), "jobs interrupted by the last stop"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "could not reconcile jobs"),
    }
    if let Err(e) = services.deployer.reconcile().await {
        tracing::error!(error = %e, "reconciliation at start failed");
    }
    services.backups.reconcile().await;
    services.edge.load()?;
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    let proxy_secret = ProxySecret::generate();
    let proxy = ProxyServer::with(
        services.deployer.routes().clone(),
        services.edge.state().clone(),
        ProxyConfig {
            http_port: opts.http_port,
            https_port: (opts.https_port != 0).then_some(opts.https_port),
            max_body_bytes: opts.max_body_bytes,
            panel_secret: Some(proxy_secret.clone()),
            ..ProxyConfig::default()
        },
    );
    let mut workers = Vec::new();
    if opts.http_port != 0 {
        let w = spawn_proxy(&opts, opts.http_port, &proxy, None, &shutdown)?;
        tracing::info!(
            "proxy listening on http://{} (apps at <app>.{})",
            w.addr,
            opts.base_domain
        );
        workers.push(w);
    }
    if opts.https_port != 0 {
        let tls = tls::server_config(services.edge.state().certs.clone());
        let w = spawn_proxy(&opts, opts.https_port, &proxy, Some(tls), &shutdown)?;
        tracing::info!(
            "proxy listening on https://{} (ACME: {})",
            w.addr,
            services.edge.acme().map_or("off", |a| a.directory.as_str())
        );
        workers.push(w);
    }
    tasks.push(tokio::spawn(sweep_uploads(services.clone(), shutdown.clone())));
    tasks.push(tokio::spawn(services.deployer.clone().watch(shutdown.clone())));
    let registry = crate::tools::registry();
    registry.compile_all();
    let dispatcher = Dispatcher::new(Arc::new(registry), services.clone());
    tasks.push(tokio::spawn(dispatcher.clone().run_schedules(shutdown.clone())));
    tasks.push(tokio::spawn(dispatcher.clone().run_maintenance(shutdown.clone())));
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Serve)?;
    if let Some(panel) = &opts.panel_domain {
        let local = if addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        } else {
            addr
        };
        services.deployer.routes().set_panel(panel.as_str(), local);
        tracing::info!("the panel is served by the proxy at {panel}");
    }
    tracing::info!(
        "sh0 {} listening on http://{addr} (API /api/v1, docs /api/v1/docs, MCP /mcp)",
        env!("CARGO_PKG_VERSION")
    );
    let stop = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        stop.cancel();
    });
    listener::serve(
        listener,
        app(dispatcher, proxy_secret),
        listener::ListenerLimits::default(),
        shutdown,
    )
    .await;
    for t in tasks {
        let _ = t.await;
    }
    let _ = tokio::task::spawn_blocking(move || workers.into_iter().for_each(Workers::join)).await;
    Ok(())
}

/// Removes staged uploads nobody used within their hour, every five minutes.
async fn sweep_uploads(services: Arc<Services>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(300)) => services.deployer.uploads().sweep(),
        }
    }
}

/// Serves the proxy on `port`: on the listen address when that is loopback (a local or
/// test server), else on every interface; one worker per core.
fn spawn_proxy(
    opts: &ServeOptions,
    port: u16,
    proxy: &ProxyServer,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: &CancellationToken,
) -> Result<Workers, ServeError> {
    let addr = if opts.listen.ip().is_loopback() {
        SocketAddr::new(opts.listen.ip(), port)
    } else {
        SocketAddr::from(([0, 0, 0, 0], port))
    };
    Workers::spawn(addr, workers::default_count(), proxy, tls, shutdown)
        .map_err(|source| ServeError::Listen { addr, source })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return ctrl_c.await.unwrap_or(()),
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
