//! The `sh0` binary: wiring only. `serve` runs the server, `mcp` the stdio MCP bridge, and
//! every other command is generated from the tool registry.

use anyhow::Context;
use clap::{Arg, ArgAction, Command, value_parser};
use std::net::SocketAddr;
use std::path::PathBuf;

use sh0::adapters::{cli, mcp};
use sh0::client::{ApiClient, ClientConfig};
use sh0::registry::Registry;
use sh0::server::{ServeOptions, default_data_dir, serve};

fn root_command(registry: &Registry) -> Command {
    let serve = Command::new("serve")
        .about("Run the sh0 server (REST API, MCP at /mcp)")
        .arg(
            Arg::new("data-dir")
                .long("data-dir")
                .env("SH0_DATA_DIR")
                .value_parser(value_parser!(PathBuf))
                .default_value(default_data_dir().into_os_string())
                .help("Where sh0 keeps its database, master key and bootstrap token"),
        )
        .arg(
            Arg::new("listen")
                .long("listen")
                .env("SH0_LISTEN")
                .value_parser(value_parser!(SocketAddr))
                .default_value("127.0.0.1:9000")
                .help("Address of the API and MCP listener"),
        )
        .arg(
            Arg::new("http-port")
                .long("http-port")
                .env("SH0_HTTP_PORT")
                .value_parser(value_parser!(u16))
                .default_value("80")
                .help("Port of the built-in proxy that serves apps (0 disables it)"),
        )
        .arg(
            Arg::new("https-port")
                .long("https-port")
                .env("SH0_HTTPS_PORT")
                .value_parser(value_parser!(u16))
                .default_value("443")
                .help("Port of the proxy's HTTPS listener (0 disables TLS and automatic certificates)"),
        )
        .arg(
            Arg::new("acme-directory")
                .long("acme-directory")
                .env("SH0_ACME_DIRECTORY")
                .default_value(sh0::proxy::acme::LETS_ENCRYPT)
                .help("ACME directory URL certificates are ordered from"),
        )
        .arg(
            Arg::new("acme-email")
                .long("acme-email")
                .env("SH0_ACME_EMAIL")
                .help("Contact address of the ACME account (expiry notices)"),
        )
        .arg(
            Arg::new("acme-ca-root")
                .long("acme-ca-root")
                .env("SH0_ACME_CA_ROOT")
                .value_parser(value_parser!(PathBuf))
                .value_name("PEM-FILE")
                .help("Trust this root for the ACME directory's HTTPS (a private or test CA)"),
        )
        .arg(
            Arg::new("acme-renew-days")
                .long("acme-renew-days")
                .env("SH0_ACME_RENEW_DAYS")
                .value_parser(value_parser!(u32))
                .default_value("30")
                .help("Renew a certificate when fewer than this many days of validity are left"),
        )
        .arg(
            Arg::new("no-acme")
                .long("no-acme")
                .action(ArgAction::SetTrue)
                .help("Obtain no certificates automatically; serve uploaded ones only"),
        )
        .arg(
            Arg::new("panel-domain")
                .long("panel-domain")
                .env("SH0_PANEL_DOMAIN")
                .value_parser(|s: &str| sh0::domain::DomainName::parse(s))
                .help("Serve the API, docs and MCP through the proxy at this domain, with a certificate"),
        )
        .arg(
            Arg::new("max-body-mb")
                .long("max-body-mb")
                .env("SH0_MAX_BODY_MB")
                .value_parser(value_parser!(u64))
                .default_value("512")
                .help("Largest request body the proxy passes to an app, in MB (larger ones get 413)"),
        )
        .arg(
            Arg::new("base-domain")
                .long("base-domain")
                .env("SH0_BASE_DOMAIN")
                .default_value("localhost")
                .help("Apps are served at <app>.<base-domain>"),
        )
        .arg(
            Arg::new("base-image")
                .long("base-image")
                .action(ArgAction::Append)
                .value_name("KEY=IMAGE")
                .help(format!(
                    "Base image of generated Dockerfiles, e.g. static=registry.local/busybox:1.36 (keys: {})",
                    sh0::build::BaseImages::default().keys().collect::<Vec<_>>().join(", ")
                )),
        )
        .arg(
            Arg::new("db-image")
                .long("db-image")
                .action(ArgAction::Append)
                .value_name("ENGINE[:VERSION]=IMAGE")
                .help("Image of a database engine, e.g. postgres=registry.local/postgres:16 or postgres:15=mirror/pg:15 (default: the official image, e.g. postgres:16)"),
        )
        .arg(
            Arg::new("ai-base-url")
                .long("ai-base-url")
                .env("SH0_AI_BASE_URL")
                .requires("ai-model")
                .help("The assistant's model: an OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1 (its key in SH0_AI_API_KEY; ai_settings_set overrides)"),
        )
        .arg(
            Arg::new("ai-model")
                .long("ai-model")
                .env("SH0_AI_MODEL")
                .requires("ai-base-url")
                .help("The model name at --ai-base-url"),
        )
        .arg(
            Arg::new("host")
                .long("host")
                .action(ArgAction::Append)
                .help("A host name the server is reached by (repeatable); localhost is always accepted"),
        );
    let mcp = Command::new("mcp").about(
        "Serve MCP over stdio for Claude Desktop / Code / Cursor, calling the server at SH0_API_URL with SH0_API_TOKEN",
    );
    let root = Command::new("sh0")
        .version(env!("CARGO_PKG_VERSION"))
        .about("sh0: push code, get a URL, on your own server")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(serve)
        .subcommand(mcp);
    let root = cli::commands::commands()
        .into_iter()
        .fold(root, |r, c| r.subcommand(c))
        .subcommand(sh0::server::admin_cli::command(default_data_dir()));
    cli::augment(root, registry)
}

fn client(adapter: &'static str) -> anyhow::Result<ApiClient> {
    let cfg = ClientConfig::load()
        .map_err(anyhow::Error::msg)
        .context("reading the sh0 client configuration")?;
    ApiClient::new(cfg.url(), cfg.token.clone(), adapter).map_err(|e| anyhow::anyhow!(e.message))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // One TLS crypto provider for the process: clients that do not pick one themselves
    // (the backup storage's) use it.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let registry = sh0::tools::registry();
    let matches = root_command(&registry).get_matches();
    match matches.subcommand() {
        Some(("serve", m)) => {
            init_tracing();
            let opts = ServeOptions {
                data_dir: m
                    .get_one::<PathBuf>("data-dir")
                    .cloned()
                    .unwrap_or_else(default_data_dir),
                listen: *m.get_one::<SocketAddr>("listen").context("--listen")?,
                hosts: m
                    .get_many::<String>("host")
                    .map(|h| h.cloned().collect())
                    .unwrap_or_default(),
                master_key: std::env::var("SH0_MASTER_KEY").ok().filter(|k| !k.is_empty()),
                base_domain: m
                    .get_one::<String>("base-domain")
                    .cloned()
                    .unwrap_or_else(|| "localhost".into()),
                http_port: *m.get_one::<u16>("http-port").context("--http-port")?,
                https_port: *m.get_one::<u16>("https-port").context("--https-port")?,
                acme: (!m.get_flag("no-acme")).then(|| sh0::proxy::AcmeSettings {
                    directory: m.get_one::<String>("acme-directory").cloned().unwrap_or_default(),
                    email: m.get_one::<String>("acme-email").cloned(),
                    ca_root: m.get_one::<PathBuf>("acme-ca-root").cloned(),
                    renew_before: std::time::Duration::from_secs(
                        u64::from(*m.get_one::<u32>("acme-renew-days").unwrap_or(&30)) * 86_400,
                    ),
                }),
                panel_domain: m.get_one::<sh0::domain::DomainName>("panel-domain").cloned(),
                max_body_bytes: m.get_one::<u64>("max-body-mb").copied().unwrap_or(512) * 1024 * 1024,
                base_images: sh0::build::BaseImages::default()
                    .with_overrides(
                        m.get_many::<String>("base-image")
                            .into_iter()
                            .flatten()
                            .map(String::as_str),
                    )
                    .map_err(anyhow::Error::msg)
                    .context("--base-image")?,
                db_images: sh0::databases::DbImages::parse(
                    &m.get_many::<String>("db-image")
                        .into_iter()
                        .flatten()
                        .cloned()
                        .collect::<Vec<_>>(),
                )
                .map_err(anyhow::Error::msg)
                .context("--db-image")?,
                ai: sh0::ai::AiFlags {
                    base_url: m.get_one::<String>("ai-base-url").cloned(),
                    model: m.get_one::<String>("ai-model").cloned(),
                    api_key: std::env::var("SH0_AI_API_KEY")
                        .ok()
                        .filter(|k| !k.is_empty())
                        .and_then(|k| sh0::domain::SecretString::try_from(k).ok()),
                },
            };
            serve(opts).await.context("sh0 serve")?;
        }
        Some(("mcp", _)) => {
            // stdout carries the protocol; logs always go to stderr.
            init_tracing();
            let server = mcp::McpServer::new(mcp::RemoteBackend::new(client("mcp")?));
            let running = rmcp::ServiceExt::serve(server, rmcp::transport::stdio())
                .await
                .context("starting MCP over stdio")?;
            running.waiting().await.context("MCP over stdio")?;
        }
        Some(("admin", m)) => std::process::exit(sh0::server::admin_cli::run(m).await),
        _ => {
            let code = match cli::commands::run(&matches).await {
                Some(code) => code,
                None => cli::run(&registry, &matches, &client("cli")?).await.unwrap_or(2),
            };
            std::process::exit(code);
        }
    }
    Ok(())
}

/// Logs go to stderr (stdout belongs to command output and to MCP over stdio). Libraries
/// that log whole messages below a level are held above it whatever `SH0_LOG` asks for:
/// the MCP library (tool arguments, secrets among them) at `warn`, the Docker client
/// (request bodies: containers' environments, database passwords) and the model client
/// (requests) at `info`. Colours only on a terminal, and never with `NO_COLOR` set: a log
/// file or a journal gets plain text.
fn init_tracing() {
    const HELD: &str = "rmcp=warn,bollard=info,async_openai=info";
    let user = std::env::var("SH0_LOG").unwrap_or_else(|_| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{user},{HELD}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("info,{HELD}")));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}
