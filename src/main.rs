//! The `sh0` binary: wiring only. `serve` runs the server, `mcp` the stdio MCP bridge, and
//! every other command is generated from the tool registry.

use anyhow::Context;
use clap::{Arg, ArgAction, Command, value_parser};
use std::net::SocketAddr;
use std::path::PathBuf;

use sh0::adapters::{cli, mcp};
use sh0::client::{ApiClient, ClientConfig};
use sh0::registry::Registry;
use sh0::server::{ServeOptions, serve};

fn default_data_dir() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("sh0")
}

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
    let root = cli::commands::commands().into_iter().fold(root, |r, c| r.subcommand(c));
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
    let registry = Registry::builtin();
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
                base_images: sh0::build::BaseImages::default()
                    .with_overrides(
                        m.get_many::<String>("base-image")
                            .into_iter()
                            .flatten()
                            .map(String::as_str),
                    )
                    .map_err(anyhow::Error::msg)
                    .context("--base-image")?,
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

/// Logs go to stderr (stdout belongs to command output and to MCP over stdio). The MCP
/// library logs whole messages (tool arguments, secrets among them) below `warn`, so it is
/// held at `warn` whatever `SH0_LOG` asks for.
fn init_tracing() {
    let user = std::env::var("SH0_LOG").unwrap_or_else(|_| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{user},rmcp=warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rmcp=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
