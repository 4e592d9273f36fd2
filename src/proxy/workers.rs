//! The proxy's listeners run on worker threads, one per core, like nginx's worker
//! processes: each has a single-threaded runtime, its own `SO_REUSEPORT` listener (the
//! kernel spreads connections across them) and its own pool of upstream connections. A
//! request and the upstream connection serving it then stay on one thread, so handing the
//! request to the pooled connection's task is a local wake-up, not a cross-thread one.
//! Routes, certificates, metrics and ACME answers are shared by all workers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use socket2::{Domain, Socket, Type};
use tokio_util::sync::CancellationToken;

use super::server::{ProxyServer, serve_listener};

/// The worker threads of one listening address.
pub struct Workers {
    pub addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

/// How many workers: one per core the process may use.
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn reuseport_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

impl Workers {
    /// Binds `count` listeners on `addr` (all on the port the first one got, when `addr`
    /// asks for any port) and serves `proxy` on them, over TLS when `tls` is given, until
    /// `shutdown`. Binding errors come back before any thread starts.
    pub fn spawn(
        addr: SocketAddr,
        count: usize,
        proxy: &ProxyServer,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: &CancellationToken,
    ) -> std::io::Result<Self> {
        let first = reuseport_listener(addr)?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..count.max(1) {
            listeners.push(reuseport_listener(addr)?);
        }
        let threads = listeners
            .into_iter()
            .enumerate()
            .map(|(i, listener)| {
                // Each worker gets its own upstream pool, so its connections stay on its thread.
                let proxy = proxy.for_worker();
                let tls = tls.clone();
                let shutdown = shutdown.clone();
                std::thread::Builder::new()
                    .name(format!("sh0-proxy-{}-{i}", addr.port()))
                    .spawn(move || {
                        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                            Ok(rt) => rt,
                            Err(e) => return tracing::error!(error = %e, "proxy worker runtime"),
                        };
                        rt.block_on(async move {
                            match tokio::net::TcpListener::from_std(listener) {
                                Ok(listener) => serve_listener(listener, proxy, tls, shutdown).await,
                                Err(e) => tracing::error!(error = %e, "proxy worker listener"),
                            }
                        });
                    })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self { addr, threads })
    }

    /// Waits until every worker has finished (after `shutdown`, once their connections
    /// drained).
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}
