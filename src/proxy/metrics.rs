//! Access metrics per app: request count, status classes and a latency histogram, kept in
//! atomics so recording costs a map read and a few relaxed increments per request.

use schemars::JsonSchema;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Upper bounds of the latency buckets, in milliseconds (the last bucket is unbounded).
pub const BUCKETS_MS: [u64; 13] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000];

#[derive(Default)]
struct AppCounters {
    status: [AtomicU64; 5],
    /// Responses the proxy answered itself instead of the app (413, 502, 503, 504).
    proxy_errors: AtomicU64,
    buckets: [AtomicU64; BUCKETS_MS.len() + 1],
    total_us: AtomicU64,
}

/// Metrics of every app since the server started.
#[derive(Default)]
pub struct Metrics {
    apps: RwLock<HashMap<String, Arc<AppCounters>>>,
}

/// One latency bucket: requests that took at most `le_ms` (`null`: longer than the last bound).
#[derive(Debug, Serialize, JsonSchema)]
pub struct LatencyBucket {
    pub le_ms: Option<u64>,
    pub count: u64,
}

/// What the proxy has seen of one app since the server started.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AppTraffic {
    pub app: String,
    pub requests: u64,
    /// Responses by status class: `1xx` .. `5xx`.
    pub status: HashMap<String, u64>,
    /// Of those, errors the proxy answered itself: request too large (413), app unreachable
    /// (502), unhealthy (503) or too slow (504).
    pub proxy_errors: u64,
    /// Time to the response head, mean and estimated percentiles (a bucket's upper bound).
    pub latency_mean_ms: f64,
    pub latency_p50_ms: Option<u64>,
    pub latency_p90_ms: Option<u64>,
    pub latency_p99_ms: Option<u64>,
    pub latency_buckets: Vec<LatencyBucket>,
}

impl Metrics {
    fn counters(&self, app: &str) -> Arc<AppCounters> {
        if let Some(c) = self.apps.read().unwrap_or_else(|p| p.into_inner()).get(app) {
            return c.clone();
        }
        self.apps
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(app.to_owned())
            .or_default()
            .clone()
    }

    /// Records one answered request.
    pub fn record(&self, app: &str, status: u16, elapsed: Duration, by_proxy: bool) {
        let c = self.counters(app);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        c.status[class].fetch_add(1, Relaxed);
        if by_proxy {
            c.proxy_errors.fetch_add(1, Relaxed);
        }
        let us = elapsed.as_micros() as u64;
        let bucket = BUCKETS_MS.iter().position(|b| us <= b * 1000);
        c.buckets[bucket.unwrap_or(BUCKETS_MS.len())].fetch_add(1, Relaxed);
        c.total_us.fetch_add(elapsed.as_micros() as u64, Relaxed);
    }

    /// Forgets an app (deleted).
    pub fn forget(&self, app: &str) {
        self.apps.write().unwrap_or_else(|p| p.into_inner()).remove(app);
    }

    /// A snapshot of every app, or of one, ordered by name.
    pub fn snapshot(&self, only: Option<&str>) -> Vec<AppTraffic> {
        let apps = self.apps.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<AppTraffic> = apps
            .iter()
            .filter(|(name, _)| only.is_none_or(|o| o == name.as_str()))
            .map(|(name, c)| traffic(name, c))
            .collect();
        out.sort_by(|a, b| a.app.cmp(&b.app));
        out
    }
}

fn traffic(name: &str, c: &AppCounters) -> AppTraffic {
    let status: Vec<u64> = c.status.iter().map(|s| s.load(Relaxed)).collect();
    let requests: u64 = status.iter().sum();
    let counts: Vec<u64> = c.buckets.iter().map(|b| b.load(Relaxed)).collect();
    let bound = |i: usize| BUCKETS_MS.get(i).copied();
    let percentile = |q: f64| -> Option<u64> {
        if requests == 0 {
            return None;
        }
        let rank = (q * requests as f64).ceil() as u64;
        let mut seen = 0;
        for (i, n) in counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bound(i).or(Some(u64::MAX));
            }
        }
        None
    };
    AppTraffic {
        app: name.to_owned(),
        requests,
        status: status
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("{}xx", i + 1), *n))
            .collect(),
        proxy_errors: c.proxy_errors.load(Relaxed),
        latency_mean_ms: if requests == 0 {
            0.0
        } else {
            c.total_us.load(Relaxed) as f64 / requests as f64 / 1000.0
        },
        latency_p50_ms: percentile(0.50),
        latency_p90_ms: percentile(0.90),
        latency_p99_ms: percentile(0.99),
        latency_buckets: counts
            .iter()
            .enumerate()
            .map(|(i, n)| LatencyBucket {
                le_ms: bound(i),
                count: *n,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_classes_and_percentiles() {
        let m = Metrics::default();
        for _ in 0..98 {
            m.record("web", 200, Duration::from_micros(1500), false);
        }
        m.record("web", 404, Duration::from_millis(30), false);
        m.record("web", 502, Duration::from_millis(3), true);
        let t = &m.snapshot(Some("web"))[0];
        assert_eq!(t.requests, 100);
        assert_eq!(t.status["2xx"], 98);
        assert_eq!(t.status["4xx"], 1);
        assert_eq!(t.proxy_errors, 1);
        assert_eq!(t.latency_p50_ms, Some(2));
        assert_eq!(t.latency_p99_ms, Some(5));
        assert!(m.snapshot(Some("other")).is_empty());
    }
}
