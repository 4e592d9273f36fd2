//! The health gate: a new container receives traffic only after an HTTP GET on its health
//! path answers below 500 (any non-5xx: a 404 on `/` still proves the server is up).

use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::docker::DockerClient;
use crate::domain::HealthCheck;
use crate::domain::diagnosis::{HealthAnswer, HealthFacts};

#[derive(Debug)]
pub enum HealthOutcome {
    Healthy,
    /// Why, in a sentence, and the facts for the analyzer.
    Unhealthy(String, HealthFacts),
    Cancelled,
}

/// For this long after start, poll every `FAST_POLL_MS` instead of the configured interval.
const FAST_PHASE: Duration = Duration::from_secs(2);
const FAST_POLL_MS: u64 = 20;

pub async fn wait_healthy(
    docker: &DockerClient,
    container: &str,
    port: u16,
    addr: SocketAddr,
    check: &HealthCheck,
    cancel: &CancellationToken,
    mut log: impl FnMut(String),
) -> HealthOutcome {
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(check.timeout_ms.into()))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            let facts = HealthFacts {
                path: check.path.clone(),
                last: None,
                attempts: 0,
                container_exited: false,
            };
            return HealthOutcome::Unhealthy(format!("health client: {e}"), facts);
        }
    };
    let url = format!("http://{addr}{}", check.path);
    let started = std::time::Instant::now();
    let mut last: String;
    let mut answer: HealthAnswer;
    // Attempts at the configured interval; the quick polls of the first seconds are extra.
    let mut counted = 0;
    let mut polls: u32 = 0;
    loop {
        if cancel.is_cancelled() {
            return HealthOutcome::Cancelled;
        }
        polls += 1;
        match client.get(&url).send().await {
            Ok(resp) if resp.status().as_u16() < 500 => {
                log(format!(
                    "health check passed: GET {} -> {}",
                    check.path,
                    resp.status().as_u16()
                ));
                return HealthOutcome::Healthy;
            }
            Ok(resp) => {
                let code = resp.status().as_u16();
                answer = HealthAnswer::Status { code };
                last = format!("GET {} answered {code}", check.path);
            }
            Err(e) => {
                let (why, a) = if e.is_timeout() {
                    ("timed out", HealthAnswer::TimedOut)
                } else {
                    ("no connection", HealthAnswer::NoConnection)
                };
                answer = a;
                last = format!("GET {} failed: {why}", check.path);
            }
        }
        // Most apps come up within a fraction of a second: poll quickly at first, then at
        // the configured interval.
        let fast = started.elapsed() < FAST_PHASE;
        if !fast {
            counted += 1;
            if counted >= check.retries.max(1) {
                break;
            }
            if counted.is_multiple_of(10) {
                log(format!(
                    "waiting for health check ({counted}/{}): {last}",
                    check.retries
                ));
            }
        }
        // A container that exited will never become healthy: fail now, not after every retry.
        if (!fast || polls.is_multiple_of(10)) && docker.host_port(container, port).await.is_err() {
            let facts = HealthFacts {
                path: check.path.clone(),
                last: Some(answer),
                attempts: counted,
                container_exited: true,
            };
            return HealthOutcome::Unhealthy(format!("the container exited ({last})"), facts);
        }
        let pause = if fast {
            FAST_POLL_MS.min(check.interval_ms.into())
        } else {
            check.interval_ms.into()
        };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(pause)) => {}
            _ = cancel.cancelled() => return HealthOutcome::Cancelled,
        }
    }
    let facts = HealthFacts {
        path: check.path.clone(),
        last: Some(answer),
        attempts: counted,
        container_exited: false,
    };
    HealthOutcome::Unhealthy(
        format!("health check failed after {} attempts: {last}", check.retries),
        facts,
    )
}
