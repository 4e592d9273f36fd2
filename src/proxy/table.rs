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

/// What a custom host name leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostRoute {
    /// Served by this app.
    App(String),
    /// A permanent redirect to this host (www to apex and back).
    Redirect(String),
}

/// The answer for a request's host.
#[derive(Debug, Clone)]
pub enum Route {
    Serve(Target),
    Redirect(String),
}

/// One immutable generation of the table.
#[derive(Debug, Default, Clone)]
struct Routes {
    /// App name -> its target; the app's default host is `<app>.<base-domain>`.
    apps: HashMap<String, Target>,
    /// Custom domains.
    hosts: HashMap<String, HostRoute>,
    /// The panel's own domain, served by the API listener.
    panel: Option<(String, Target)>,
}

pub struct RoutingTable {
    base_domain: String,
    routes: RwLock<Arc<Routes>>,
}

/// The name metrics record requests to the panel under (never a valid app name).
pub const PANEL_APP: &str = "(panel)";

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

    /// Looks a request's `Host` up (case-insensitive, port ignored): custom domains first,
    /// then the panel's domain, then `<app>.<base-domain>`.
    pub fn lookup(&self, host: &str) -> Option<Route> {
        let host = normalize_host(host);
        let routes = self.snapshot();
        match routes.hosts.get(&host) {
            Some(HostRoute::App(app)) => {
                let target = routes
                    .apps
                    .get(app)
                    .cloned()
                    .unwrap_or(Target::Unavailable { app: app.clone() });
                return Some(Route::Serve(target));
            }
            Some(HostRoute::Redirect(to)) => return Some(Route::Redirect(to.clone())),
            None => {}
        }
        if let Some((panel, target)) = &routes.panel
            && *panel == host
        {
            return Some(Route::Serve(target.clone()));
        }
        let app = host.strip_suffix(&self.base_domain)?.strip_suffix('.')?;
        routes.apps.get(app).cloned().map(Route::Serve)
    }

    fn snapshot(&self) -> Arc<Routes> {
        self.routes.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Routes)) {
        let mut guard = self.routes.write().unwrap_or_else(|p| p.into_inner());
        let mut next = (**guard).clone();
        f(&mut next);
        *guard = Arc::new(next);
    }

    /// Points the app at `target`; returns the upstream it replaced, if any.
    pub fn set(&self, app: &str, target: Target) -> Option<Arc<Upstream>> {
        let mut previous = None;
        self.update(|r| {
            if let Some(Target::Up(old)) = r.apps.insert(app.to_owned(), target) {
                previous = Some(old);
            }
        });
        previous
    }

    /// Points the app at `target` only if `keep(current)` holds for its current target,
    /// atomically with the check (a swap in between cannot be overwritten). An app with no
    /// entry (removed) is left alone. Returns whether it changed.
    pub fn set_if(&self, app: &str, keep: impl FnOnce(&Target) -> bool, target: Target) -> bool {
        let mut changed = false;
        self.update(|r| {
            if let Some(current) = r.apps.get_mut(app)
                && keep(current)
            {
                *current = target;
                changed = true;
            }
        });
        changed
    }

    /// Removes the app; returns its upstream, if it had one.
    pub fn remove(&self, app: &str) -> Option<Arc<Upstream>> {
        let mut previous = None;
        self.update(|r| {
            if let Some(Target::Up(old)) = r.apps.remove(app) {
                previous = Some(old);
            }
        });
        previous
    }

    /// Replaces every custom domain at once (they are few; the edge rebuilds them from the store).
    pub fn set_hosts(&self, hosts: HashMap<String, HostRoute>) {
        self.update(|r| r.hosts = hosts);
    }

    /// Serves the panel (the API listener at `addr`) at `host`.
    pub fn set_panel(&self, host: &str, addr: SocketAddr) {
        let target = Target::Up(Arc::new(Upstream {
            app: PANEL_APP.to_owned(),
            deployment: String::new(),
            addr,
        }));
        self.update(|r| r.panel = Some((normalize_host(host), target)));
    }

    /// The upstream currently serving `app`.
    pub fn upstream_of(&self, app: &str) -> Option<Arc<Upstream>> {
        match self.snapshot().apps.get(app) {
            Some(Target::Up(u)) => Some(u.clone()),
            _ => None,
        }
    }
}

/// Lowercase, without a port or a trailing dot.
pub fn normalize_host(host: &str) -> String {
    let host = host
        .rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    host.trim_end_matches('.').to_ascii_lowercase()
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
        assert!(matches!(
            t.lookup("WEB.example.com:8080"),
            Some(Route::Serve(Target::Up(_)))
        ));
        t.set_hosts(HashMap::from([
            ("shop.test".to_string(), HostRoute::App("web".into())),
            ("www.shop.test".to_string(), HostRoute::Redirect("shop.test".into())),
            ("new.test".to_string(), HostRoute::App("new".into())),
        ]));
        assert!(matches!(t.lookup("Shop.Test."), Some(Route::Serve(Target::Up(_)))));
        assert!(matches!(t.lookup("www.shop.test"), Some(Route::Redirect(h)) if h == "shop.test"));
        assert!(matches!(
            t.lookup("new.test"),
            Some(Route::Serve(Target::Unavailable { .. }))
        ));
        assert!(t.lookup("example.com").is_none());
        assert!(t.lookup("a.web.example.com").is_none());
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
