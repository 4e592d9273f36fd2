//! The built-in reverse proxy, the whole edge of the server: host-based routing to app
//! containers with atomic swaps and draining, custom domains and redirects, TLS with a
//! certificate per name, ACME issuance and renewal, and access metrics.

pub mod acme;
mod body;
pub mod certs;
pub mod challenges;
pub mod edge;
pub mod forwarded;
pub mod metrics;
mod server;
pub mod table;
pub mod tls;
pub mod workers;

pub use edge::{AcmeSettings, Edge, EdgeError};
pub use forwarded::{CLIENT_ADDR_HEADER, PROXY_SECRET_HEADER, ProxySecret};
pub use metrics::Metrics;
pub use server::{ProxyConfig, ProxyServer, ProxyState, serve_http, serve_https};
pub use table::{HostRoute, Route, RoutingTable, Target, Upstream};
pub use workers::Workers;
