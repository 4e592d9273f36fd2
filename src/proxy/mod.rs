//! The built-in reverse proxy: host-based routing to app containers, with atomic
//! routing-table swaps and connection draining for blue-green deploys.

mod body;
mod server;
pub mod table;

pub use server::{ProxyServer, serve_http};
pub use table::{RoutingTable, Target, Upstream};
