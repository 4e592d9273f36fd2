//! The routing table: host name -> target. Readers take a snapshot (`Arc<HashMap>`) without
//! blocking writers; a change builds a new map and swaps it in, so a request sees either
//! the old route or the new one, never a mix.
//!
//! Draining: a request holds an `Arc<Upstream>` for as long as it (and its response body,
//! or its upgraded connection) lives. Once a route is swapped, the old upstream's strong
//! count falls to one (the drainer's) exactly when its last request is done — no counter
//! to race with.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A running container that serves an app.
#[derive(Debug)]
pub struct Upstream {
    pub app: String,
    pub deployment: String,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone)]
pub enum Target {
    Up(Arc<Upstream>),
    /// The app exists but has no healthy container (not deployed yet, stopped, failed).
    Unavailable {
        app: String,
    },
}

pub struct RoutingTable {
    base_domain: String,
    routes: RwLock<Arc<HashMap<String, Target>>>,
}

impl RoutingTable {
    pub fn new(base_domain: &str) -> Self {
        Self {
            base_domain: base_domain.trim_matches('.').to_ascii_lowercase(),
            routes: RwLock::default(),
        }
    }

    /// The default host name of an app: `<app>.<base-domain>`.
    pub fn default_host(&self, app: &str) -> String {
        format!("{app}.{}", self.base_domain)
    }

    pub fn base_domain(&self) -> &str {
        &self.base_domain
    }

    /// Looks a request's `Host` up (case-insensitive, port ignored).
    pub fn lookup(&self, host: &str) -> Option<Target> {
        let host = host
            .rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(h, _)| h);
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.snapshot().get(&host).cloned()
    }

    fn snapshot(&self) -> Arc<HashMap<String, Target>> {
        self.routes.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut HashMap<String, Target>)) {
        let mut guard = self.routes.write().unwrap_or_else(|p| p.into_inner());
        let mut next = (**guard).clone();
        f(&mut next);
        *guard = Arc::new(next);
    }

    /// Points the app's host at `target`; returns the upstream it replaced, if any.
    pub fn set(&self, app: &str, target: Target) -> Option<Arc<Upstream>> {
        let host = self.default_host(app);
        let mut previous = None;
        self.update(|m| {
            if let Some(Target::Up(old)) = m.insert(host, target) {
                previous = Some(old);
            }
        });
        previous
    }

    /// Removes the app's host; returns its upstream, if it had one.
    pub fn remove(&self, app: &str) -> Option<Arc<Upstream>> {
        let host = self.default_host(app);
        let mut previous = None;
        self.update(|m| {
            if let Some(Target::Up(old)) = m.remove(&host) {
                previous = Some(old);
            }
        });
        previous
    }

    /// The upstream currently serving `app`.
    pub fn upstream_of(&self, app: &str) -> Option<Arc<Upstream>> {
        match self.snapshot().get(&self.default_host(app)) {
            Some(Target::Up(u)) => Some(u.clone()),
            _ => None,
        }
    }
}

/// Waits until no request holds `old` any more, or `max` has passed. Returns whether it
/// drained completely.
pub async fn drain(old: Arc<Upstream>, max: Duration) -> bool {
    let start = Instant::now();
    while Arc::strong_count(&old) > 1 {
        if start.elapsed() >= max {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_and_port_and_swaps_atomically() {
        let t = RoutingTable::new("Example.COM");
        assert!(t.lookup("web.example.com").is_none());
        let up = Arc::new(Upstream {
            app: "web".into(),
            deployment: "d1".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
        });
        assert!(t.set("web", Target::Up(up.clone())).is_none());
        assert!(matches!(t.lookup("WEB.example.com:8080"), Some(Target::Up(_))));
        let up2 = Arc::new(Upstream {
            app: "web".into(),
            deployment: "d2".into(),
            addr: "127.0.0.1:2".parse().unwrap(),
        });
        let old = t.set("web", Target::Up(up2)).unwrap();
        assert_eq!(old.deployment, "d1");
        assert!(t.remove("web").is_some());
        assert!(t.lookup("web.example.com").is_none());
    }

    #[tokio::test]
    async fn drain_waits_for_holders() {
        let up = Arc::new(Upstream {
            app: "a".into(),
            deployment: "d".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
        });
        let held = up.clone();
        let waiter = tokio::spawn(drain(up, Duration::from_secs(5)));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(!waiter.is_finished());
        drop(held);
        assert!(waiter.await.unwrap());
    }
}
