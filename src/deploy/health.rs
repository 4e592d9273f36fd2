//! The health gate: a new container receives traffic only after an HTTP GET on its health
//! path answers below 500 (any non-5xx: a 404 on `/` still proves the server is up).

use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::docker::DockerClient;
use crate::domain::HealthCheck;

#[derive(Debug)]
pub enum HealthOutcome {
    Healthy,
    Unhealthy(String),
    Cancelled,
}

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
        Err(e) => return HealthOutcome::Unhealthy(format!("health client: {e}")),
    };
    let url = format!("http://{addr}{}", check.path);
    let mut last = String::from("no answer");
    for attempt in 1..=check.retries.max(1) {
        if cancel.is_cancelled() {
            return HealthOutcome::Cancelled;
        }
        match client.get(&url).send().await {
            Ok(resp) if resp.status().as_u16() < 500 => {
                log(format!(
                    "health check passed: GET {} -> {}",
                    check.path,
                    resp.status().as_u16()
                ));
                return HealthOutcome::Healthy;
            }
            Ok(resp) => last = format!("GET {} answered {}", check.path, resp.status().as_u16()),
            Err(e) => {
                last = format!(
                    "GET {} failed: {}",
                    check.path,
                    if e.is_timeout() { "timed out" } else { "no connection" }
                )
            }
        }
        // A container that exited will never become healthy: fail now, not after every retry.
        if docker.host_port(container, port).await.is_err() {
            return HealthOutcome::Unhealthy(format!("the container exited ({last})"));
        }
        if attempt % 10 == 0 {
            log(format!(
                "waiting for health check ({attempt}/{}): {last}",
                check.retries
            ));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(check.interval_ms.into())) => {}
            _ = cancel.cancelled() => return HealthOutcome::Cancelled,
        }
    }
    HealthOutcome::Unhealthy(format!("health check failed after {} attempts: {last}", check.retries))
}
