//! sh0's own maintenance, as the system principal through dispatch: each pass is a tool
//! call of a [`SystemTask`], so it is checked (the task holds only its permissions),
//! validated and audited like any caller's, and shows in the audit log as `system:<task>`.
//!
//! Today: ordering certificates that are missing or expiring, on start, whenever a domain
//! changes, and every ten minutes (the edge decides which names are due and backs off
//! after failures).

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Adapter, Credentials, Dispatcher, SystemTask};

impl Dispatcher {
    /// Runs the maintenance loop until `shutdown`.
    pub async fn run_maintenance(self, shutdown: CancellationToken) {
        let edge = self.services().edge.clone();
        if edge.acme().is_none() {
            return;
        }
        let renewal = Credentials::System(SystemTask::CertificateRenewal);
        loop {
            match edge.due() {
                Ok(hosts) => {
                    for host in hosts {
                        // A stop interrupts an order in flight; it is pending again next start.
                        let call = self.dispatch(&renewal, Adapter::System, "cert_renew", json!({ "domain": host }));
                        tokio::select! {
                            // The failure is recorded (audit, job, backoff); the other names go on.
                            _ = call => {}
                            _ = shutdown.cancelled() => return,
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "certificate check failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = edge.changed() => {}
            }
        }
    }
}
