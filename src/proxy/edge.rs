//! The edge service: keeps the proxy's custom hosts and certificates in step with the store,
//! validates certificates users upload, and obtains and renews the others through ACME,
//! one order at a time, with backoff after failures. Each order is a job of the runner
//! (kind `certificate_order`, target the host name) with its log and cancellation; which
//! names are due is decided here, and the maintenance loop orders them through `cert_renew`
//! as sh0's system principal. Serving never waits for any of it: routes and certificates
//! are swapped in atomically when ready.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{Mutex, Notify};

pub use super::acme::AcmeSettings;
use super::acme::{AcmeClient, AcmeError};
use super::certs::{CertError, ParsedCert, name_matches};
use super::{HostRoute, ProxyState, RoutingTable};
use crate::auth::{MasterKey, SecretsError, cert_context};
use crate::domain::{
    AcmeState, CertSource, CertificateId, DomainName, Initiator, JobKind, JobStatus, Timestamp, rfc3339,
};
use crate::jobs::{JobError, JobSpec, Jobs};
use crate::store::{AcmeStatus, CertRow, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error(transparent)]
    Acme(#[from] AcmeError),
    #[error("a stored certificate key could not be opened: {0}")]
    Secrets(#[from] SecretsError),
    #[error("{0} was detached while its certificate was being ordered; the certificate was discarded")]
    NoLongerWanted(String),
    /// Automatic certificates are off (no HTTPS port, or ACME disabled).
    #[error("automatic certificates are disabled on this server (start it with an HTTPS port and ACME enabled)")]
    AcmeDisabled,
    #[error("an order for {0} is already running")]
    Busy(String),
    #[error("the order was cancelled")]
    Cancelled,
}

impl From<JobError> for EdgeError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Busy { target, .. } => Self::Busy(target),
            JobError::Full(_) => Self::Busy("another name".into()),
            JobError::Store(e) => Self::Store(e),
        }
    }
}

/// How often the maintenance loop looks for certificates to obtain or renew.
pub const CHECK_EVERY: Duration = Duration::from_secs(600);

struct Inner {
    store: Arc<Store>,
    master_key: MasterKey,
    jobs: Jobs,
    routes: Arc<RoutingTable>,
    state: ProxyState,
    acme: Option<AcmeSettings>,
    /// The panel's own domain, which gets a certificate like an app's.
    panel: Option<DomainName>,
    client: Mutex<Option<Arc<AcmeClient>>>,
    /// Held for the length of an order: one at a time keeps well inside CA rate limits.
    ordering: Mutex<()>,
    wake: Notify,
}

/// The edge's handle; cheap to clone.
#[derive(Clone)]
pub struct Edge {
    inner: Arc<Inner>,
}

impl Edge {
    pub fn new(
        store: Arc<Store>,
        master_key: MasterKey,
        jobs: Jobs,
        routes: Arc<RoutingTable>,
        state: ProxyState,
        acme: Option<AcmeSettings>,
        panel: Option<DomainName>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                master_key,
                jobs,
                routes,
                state,
                acme,
                panel,
                client: Mutex::default(),
                ordering: Mutex::default(),
                wake: Notify::new(),
            }),
        }
    }

    pub fn state(&self) -> &ProxyState {
        &self.inner.state
    }

    pub fn acme(&self) -> Option<&AcmeSettings> {
        self.inner.acme.as_ref()
    }

    pub fn panel(&self) -> Option<&DomainName> {
        self.inner.panel.as_ref()
    }

    /// At start: orders a stop interrupted are pending again; routes and certificates load.
    pub fn load(&self) -> Result<(), EdgeError> {
        self.inner.store.acme_reset_interrupted()?;
        if let Some(panel) = &self.inner.panel {
            self.inner.state.certs.set_default(panel.as_str());
        }
        self.sync_routes()?;
        self.reload_certs()
    }

    /// Rebuilds the proxy's custom hosts from the store.
    pub fn sync_routes(&self) -> Result<(), EdgeError> {
        let store = &self.inner.store;
        let names: HashMap<_, _> = store
            .app_list(None)?
            .into_iter()
            .map(|a| (a.id, a.name.to_string()))
            .collect();
        let hosts = store
            .domain_list(None)?
            .into_iter()
            .filter_map(|d| {
                let route = match d.redirect_to {
                    Some(to) => HostRoute::Redirect(to.to_string()),
                    None => HostRoute::App(names.get(&d.app_id)?.clone()),
                };
                Some((d.hostname.to_string(), route))
            })
            .collect();
        self.inner.routes.set_hosts(hosts);
        Ok(())
    }

    /// Rebuilds the set of certificates the HTTPS listener serves. An uploaded certificate
    /// wins over an ACME one for the same name; expired ones are left out, so plain HTTP
    /// keeps working for their names instead of redirecting to a broken HTTPS.
    pub fn reload_certs(&self) -> Result<(), EdgeError> {
        let now = OffsetDateTime::now_utc();
        let mut rows = self.inner.store.cert_list()?;
        rows.sort_by_key(|r| r.source == CertSource::Uploaded);
        let mut served = HashMap::new();
        for row in rows {
            match self.open(&row) {
                Ok(parsed) if parsed.not_after > now => {
                    for name in parsed.names {
                        served.insert(name, parsed.key.clone());
                    }
                }
                Ok(_) => tracing::warn!(certificate = %row.id, host = %row.hostname, "certificate expired; not served"),
                Err(e) => tracing::error!(certificate = %row.id, error = %e, "stored certificate unusable"),
            }
        }
        self.inner.state.certs.replace(served);
        Ok(())
    }

    fn open(&self, row: &CertRow) -> Result<ParsedCert, EdgeError> {
        let key = self
            .inner
            .master_key
            .open(&row.key_sealed, &cert_context(row.hostname.as_str(), row.source))?;
        let key = String::from_utf8(key).map_err(|_| SecretsError::Decrypt)?;
        Ok(ParsedCert::parse(&row.chain_pem, &key)?)
    }

    /// Validates a certificate the user brings for `domain` and serves it at once. Nothing
    /// is stored when it is refused.
    pub fn upload(&self, domain: &DomainName, chain_pem: &str, key_pem: &str) -> Result<CertRow, EdgeError> {
        let parsed = ParsedCert::parse(chain_pem, key_pem)?;
        parsed.check_usable_for(domain.as_str(), OffsetDateTime::now_utc())?;
        let row = self.put(domain, CertSource::Uploaded, chain_pem, key_pem, &parsed)?;
        self.reload_certs()?;
        Ok(row)
    }

    fn put(
        &self,
        domain: &DomainName,
        source: CertSource,
        chain_pem: &str,
        key_pem: &str,
        parsed: &ParsedCert,
    ) -> Result<CertRow, EdgeError> {
        let context = cert_context(domain.as_str(), source);
        self.inner
            .master_key
            .seal_into(key_pem.as_bytes(), &context, |key_sealed| {
                let row = CertRow {
                    id: CertificateId::generate(),
                    hostname: domain.clone(),
                    source,
                    names: parsed.names.clone(),
                    chain_pem: chain_pem.to_owned(),
                    key_sealed,
                    issuer: parsed.issuer.clone(),
                    serial: parsed.serial.clone(),
                    not_before: Timestamp::from(parsed.not_before),
                    not_after: Timestamp::from(parsed.not_after),
                    created_at: Timestamp::now(),
                };
                self.inner.store.cert_put(&row).map(|()| row)
            })
            .map_err(EdgeError::from)
    }

    /// Deletes a certificate; an ACME one for a name that still wants one is ordered again.
    pub fn delete_cert(&self, id: &CertificateId) -> Result<bool, EdgeError> {
        let deleted = self.inner.store.cert_delete(id)?;
        self.reload_certs()?;
        self.wake();
        Ok(deleted)
    }

    /// Domains changed in the store (already committed): routes now, certificates soon. A
    /// failure here is logged, not returned, because the change itself stands; the
    /// background pass re-syncs within minutes.
    pub fn domains_changed(&self) {
        if let Err(e) = self.sync_routes().and_then(|()| self.reload_certs()) {
            tracing::error!(error = %e, "could not apply a domain change to the proxy yet");
        }
        self.wake();
    }

    /// Tells the background loop to look for work now.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// The names that want an automatic certificate: every domain and the panel's.
    fn wanted(&self) -> Result<Vec<DomainName>, EdgeError> {
        let mut names: Vec<DomainName> = self
            .inner
            .store
            .domain_list(None)?
            .into_iter()
            .map(|d| d.hostname)
            .collect();
        names.extend(self.inner.panel.clone());
        Ok(names)
    }

    /// The ACME state of every name, by name.
    pub fn acme_statuses(&self) -> Result<HashMap<String, AcmeStatus>, EdgeError> {
        Ok(self
            .inner
            .store
            .acme_status_all()?
            .into_iter()
            .map(|s| (s.hostname.clone(), s))
            .collect())
    }

    /// Waits until a domain changes (or `CHECK_EVERY` passes): the maintenance loop then
    /// looks for orders to place.
    pub async fn changed(&self) {
        tokio::select! {
            _ = self.inner.wake.notified() => {}
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }

    /// The names whose certificate should be ordered now: missing, expiring, not backing
    /// off after a failure; none while the CA's rate limit pauses the account or ACME is
    /// off. Catches up with the store first (routes, and certificates that expired).
    pub fn due(&self) -> Result<Vec<DomainName>, EdgeError> {
        let Some(acme) = &self.inner.acme else {
            return Ok(Vec::new());
        };
        self.sync_routes()?;
        self.reload_certs()?;
        let now = OffsetDateTime::now_utc();
        if let Some(until) = self.account_paused(now)? {
            tracing::debug!(until = %rfc3339(until), "ACME orders paused: the CA rate-limited this account");
            return Ok(Vec::new());
        }
        let certs = self.inner.store.cert_list()?;
        let statuses = self.acme_statuses()?;
        Ok(self
            .wanted()?
            .into_iter()
            .filter(|host| {
                order_due(
                    host.as_str(),
                    &certs,
                    statuses.get(host.as_str()),
                    now,
                    acme.renew_before,
                )
            })
            .collect())
    }

    /// Whether `host` is sh0's own panel domain (whose certificate no project holds).
    pub fn is_panel(&self, host: &DomainName) -> bool {
        self.inner.panel.as_ref() == Some(host)
    }

    /// Places an order for `host` now, as a job started by `by` (in `project`, the one
    /// holding the domain), and serves the certificate it yields. `cert_renew` calls it,
    /// for people and for the maintenance loop.
    pub async fn issue(
        &self,
        host: &DomainName,
        project: Option<&crate::domain::ProjectId>,
        by: &Initiator,
    ) -> Result<CertRow, EdgeError> {
        let settings = self.inner.acme.as_ref().ok_or(EdgeError::AcmeDisabled)?;
        let job = self.inner.jobs.begin(JobSpec {
            kind: JobKind::CertificateOrder,
            target: host.as_str(),
            project,
            by,
        })?;
        job.log(format!("waiting for the orders before it ({})", settings.directory));
        let _one = tokio::select! {
            one = self.inner.ordering.lock() => one,
            _ = job.cancellation().cancelled() => {
                job.finish(JobStatus::Cancelled, Some("cancelled before the order was placed"));
                return Err(EdgeError::Cancelled);
            }
        };
        let result = self.order(host, settings, &job).await;
        match &result {
            Ok(row) => {
                job.log(format!("issued; valid until {}", row.not_after));
                job.finish(JobStatus::Succeeded, None);
            }
            Err(e) => {
                let message = e.to_string();
                job.log(format!("failed: {message}"));
                job.finish(JobStatus::Failed, Some(&message));
            }
        }
        result
    }

    async fn order(
        &self,
        host: &DomainName,
        settings: &AcmeSettings,
        job: &crate::jobs::JobHandle,
    ) -> Result<CertRow, EdgeError> {
        if let Some(until) = self.account_paused(OffsetDateTime::now_utc())? {
            return Err(EdgeError::Acme(AcmeError::RateLimited(format!(
                "the certificate authority rate-limited this server's ACME account; orders resume at {}",
                rfc3339(until)
            ))));
        }
        let store = &self.inner.store;
        store.acme_mark_issuing(host.as_str())?;
        tracing::info!(%host, directory = %settings.directory, "ordering a certificate");
        job.log(format!("ordering a certificate for {host} (HTTP-01)"));
        let order = async {
            let client = self.client(settings).await?;
            let issued = client.order(host.as_str(), &self.inner.state.challenges).await?;
            let parsed = ParsedCert::parse(&issued.chain_pem, &issued.key_pem)?;
            parsed.check_usable_for(host.as_str(), OffsetDateTime::now_utc())?;
            // The domain may have been removed while the order ran: keep nothing for it.
            if !self.wanted()?.contains(host) {
                return Err(EdgeError::NoLongerWanted(host.to_string()));
            }
            self.put(host, CertSource::Acme, &issued.chain_pem, &issued.key_pem, &parsed)
        };
        // Once placed, an order runs to its end: cut off half-way it would leave challenge
        // answers served and a certificate the CA issued (and counted) thrown away.
        if job.is_cancelled() {
            job.log("cancellation came after the order was placed; it completes");
        }
        match order.await {
            Ok(row) => {
                store.acme_record_success(host.as_str())?;
                self.reload_certs()?;
                tracing::info!(%host, not_after = %row.not_after, "certificate issued");
                Ok(row)
            }
            Err(e) => {
                self.note_failure(host, &e)?;
                Err(e)
            }
        }
    }

    /// Records a failed order: the name backs off, and a rate-limit answer pauses every
    /// order of the account (the CA's limits are per account, and one bogus name after
    /// another would otherwise keep hitting them).
    fn note_failure(&self, host: &DomainName, e: &EdgeError) -> Result<(), EdgeError> {
        let store = &self.inner.store;
        let attempts = self.acme_statuses()?.get(host.as_str()).map_or(0, |s| s.attempts) + 1;
        let now = OffsetDateTime::now_utc();
        let next = now + backoff(attempts, e);
        store.acme_record_failure(host.as_str(), &e.to_string(), &rfc3339(next))?;
        tracing::warn!(%host, error = %e, retry_at = %rfc3339(next), "certificate order failed");
        if matches!(e, EdgeError::Acme(AcmeError::RateLimited(_))) {
            store.setting_put(ACCOUNT_PAUSE_SETTING, &rfc3339(now + ACCOUNT_PAUSE))?;
        }
        Ok(())
    }

    /// When orders resume, if the CA's rate limit paused them.
    fn account_paused(&self, now: OffsetDateTime) -> Result<Option<OffsetDateTime>, EdgeError> {
        Ok(self
            .inner
            .store
            .setting_get(ACCOUNT_PAUSE_SETTING)?
            .and_then(|t| Timestamp::parse(&t).ok())
            .map(Timestamp::at)
            .filter(|until| *until > now))
    }

    async fn client(&self, settings: &AcmeSettings) -> Result<Arc<AcmeClient>, EdgeError> {
        let mut cached = self.inner.client.lock().await;
        if let Some(c) = cached.as_ref() {
            return Ok(c.clone());
        }
        let client = Arc::new(AcmeClient::connect(settings, &self.inner.store, &self.inner.master_key).await?);
        *cached = Some(client.clone());
        Ok(client)
    }
}

/// The setting that holds when ACME orders resume after a rate-limit answer.
const ACCOUNT_PAUSE_SETTING: &str = "acme_paused_until";
/// How long every order of the account waits after the CA said it is rate limited.
const ACCOUNT_PAUSE: Duration = Duration::from_secs(3600);

/// Whether `host` needs an order now: no usable certificate covers it, or its ACME
/// certificate is within `renew_before` of its expiry — and it is not backing off after a
/// failure. A valid uploaded certificate is the user's choice: sh0 orders nothing over it.
fn order_due(
    host: &str,
    certs: &[CertRow],
    status: Option<&AcmeStatus>,
    now: OffsetDateTime,
    renew_before: Duration,
) -> bool {
    let until = |c: &CertRow| c.not_after.at();
    let uploaded = certs
        .iter()
        .any(|c| c.source == CertSource::Uploaded && c.names.iter().any(|n| name_matches(n, host)) && until(c) > now);
    let fresh = certs
        .iter()
        .any(|c| c.source == CertSource::Acme && c.hostname.as_str() == host && until(c) - renew_before > now);
    let waiting = status
        .filter(|s| s.state == AcmeState::Failed)
        .and_then(|s| s.next_attempt_at)
        .is_some_and(|next| next.at() > now);
    !uploaded && !fresh && !waiting
}

/// How long to wait after the `attempts`-th failure in a row: a minute, doubling, at most
/// six hours; at least an hour when the CA said we are rate limited.
fn backoff(attempts: u32, error: &EdgeError) -> Duration {
    let exp = Duration::from_secs(60).saturating_mul(1u32 << attempts.saturating_sub(1).min(9));
    let wait = exp.min(Duration::from_secs(6 * 3600));
    match error {
        EdgeError::Acme(AcmeError::RateLimited(_)) => wait.max(Duration::from_secs(3600)),
        _ => wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(host: &str, source: CertSource, names: &[&str], not_after: OffsetDateTime) -> CertRow {
        CertRow {
            id: CertificateId::generate(),
            hostname: DomainName::parse(host).unwrap(),
            source,
            names: names.iter().map(|n| n.to_string()).collect(),
            chain_pem: String::new(),
            key_sealed: Vec::new(),
            issuer: String::new(),
            serial: String::new(),
            not_before: Timestamp::from(not_after - time::Duration::days(90)),
            not_after: Timestamp::from(not_after),
            created_at: Timestamp::now(),
        }
    }

    fn failed(next: OffsetDateTime) -> AcmeStatus {
        AcmeStatus {
            hostname: "a.test".into(),
            state: AcmeState::Failed,
            attempts: 1,
            orders: 1,
            last_error: Some("connection refused".into()),
            next_attempt_at: Some(Timestamp::from(next)),
            updated_at: Timestamp::now(),
        }
    }

    #[test]
    fn orders_are_due_without_a_usable_certificate_or_inside_the_renewal_window() {
        let now = OffsetDateTime::now_utc();
        let window = Duration::from_secs(30 * 86_400);
        let days = time::Duration::days;
        assert!(order_due("a.test", &[], None, now, window), "no certificate");
        let fresh = cert("a.test", CertSource::Acme, &["a.test"], now + days(60));
        assert!(!order_due("a.test", &[fresh], None, now, window), "60 days left");
        let expiring = cert("a.test", CertSource::Acme, &["a.test"], now + days(29));
        assert!(
            order_due("a.test", std::slice::from_ref(&expiring), None, now, window),
            "29 days left"
        );
        let uploaded = cert("x.test", CertSource::Uploaded, &["*.test"], now + days(5));
        assert!(
            !order_due("a.test", &[expiring.clone(), uploaded], None, now, window),
            "uploaded wins"
        );
        let stale_upload = cert("a.test", CertSource::Uploaded, &["a.test"], now - days(1));
        assert!(
            order_due("a.test", &[stale_upload], None, now, window),
            "expired upload"
        );
        let backing_off = failed(now + days(0) + time::Duration::minutes(5));
        assert!(
            !order_due("a.test", &[], Some(&backing_off), now, window),
            "backing off"
        );
        let retry_now = failed(now - time::Duration::minutes(1));
        assert!(
            order_due("a.test", &[expiring], Some(&retry_now), now, window),
            "retry time passed"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let other = EdgeError::AcmeDisabled;
        assert_eq!(backoff(1, &other), Duration::from_secs(60));
        assert_eq!(backoff(3, &other), Duration::from_secs(240));
        assert_eq!(backoff(30, &other), Duration::from_secs(6 * 3600));
        let limited = EdgeError::Acme(AcmeError::RateLimited("slow down".into()));
        assert_eq!(backoff(1, &limited), Duration::from_secs(3600));
    }

    #[test]
    fn a_rate_limit_pauses_every_order_of_the_account() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open_in_memory().unwrap());
        let key = MasterKey::load_or_create(dir.path(), None).unwrap();
        let edge = Edge::new(
            store.clone(),
            key,
            Jobs::new(store),
            Arc::new(RoutingTable::new("localhost")),
            ProxyState::default(),
            None,
            None,
        );
        let now = OffsetDateTime::now_utc();
        let a = DomainName::parse("a.example.test").unwrap();
        edge.note_failure(&a, &EdgeError::AcmeDisabled).unwrap();
        assert_eq!(
            edge.account_paused(now).unwrap(),
            None,
            "an ordinary failure backs off one name"
        );
        let limited = EdgeError::Acme(AcmeError::RateLimited("too many certificates".into()));
        edge.note_failure(&a, &limited).unwrap();
        let until = edge.account_paused(now).unwrap().expect("paused");
        assert!(until > now + Duration::from_secs(3500), "{until}");
        assert_eq!(edge.account_paused(until).unwrap(), None, "until the hour is over");
    }
}
