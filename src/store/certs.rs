//! Certificates (chain in PEM, private key sealed with the master key), the ACME state of
//! each domain, and the sealed ACME account credentials.

use crate::domain::Timestamp;
use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreResult, parse_col};
use crate::domain::{AcmeState, CertSource, CertificateId, DomainName, now_rfc3339};

#[derive(Debug, Clone)]
pub struct CertRow {
    pub id: CertificateId,
    /// The domain it was issued or uploaded for.
    pub hostname: DomainName,
    pub source: CertSource,
    /// Every DNS name the certificate covers (`*.example.com` for a wildcard).
    pub names: Vec<String>,
    pub chain_pem: String,
    /// The private key in PEM, sealed under the master key (see `auth::cert_context`).
    pub key_sealed: Vec<u8>,
    pub issuer: String,
    pub serial: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub created_at: Timestamp,
}

const CERT_COLUMNS: &str =
    "id, hostname, source, names, chain_pem, key_sealed, issuer, serial, not_before, not_after, created_at";

fn read_cert(r: &Row<'_>) -> rusqlite::Result<super::StoreResult<CertRow>> {
    let names: String = r.get(3)?;
    let build = || -> StoreResult<CertRow> {
        Ok(CertRow {
            id: parse_col(r.get(0)?)?,
            hostname: parse_col(r.get(1)?)?,
            source: parse_col(r.get(2)?)?,
            names: serde_json::from_str(&names).map_err(|e| super::StoreError::Corrupt(e.to_string()))?,
            chain_pem: r.get(4)?,
            key_sealed: r.get(5)?,
            issuer: r.get(6)?,
            serial: r.get(7)?,
            not_before: r.get(8)?,
            not_after: r.get(9)?,
            created_at: r.get(10)?,
        })
    };
    Ok(build())
}

/// The ACME state of one domain.
#[derive(Debug, Clone)]
pub struct AcmeStatus {
    pub hostname: String,
    pub state: AcmeState,
    /// Failed attempts in a row (drives the backoff); 0 after a success.
    pub attempts: u32,
    /// Orders placed for this name, ever.
    pub orders: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

fn read_status(r: &Row<'_>) -> rusqlite::Result<StoreResult<AcmeStatus>> {
    let state: String = r.get(1)?;
    let build = || -> StoreResult<AcmeStatus> {
        Ok(AcmeStatus {
            hostname: r.get(0)?,
            state: parse_col(state.clone())?,
            attempts: r.get(2)?,
            orders: r.get(3)?,
            last_error: r.get(4)?,
            next_attempt_at: r.get(5)?,
            updated_at: r.get(6)?,
        })
    };
    Ok(build())
}

impl Store {
    /// Stores a certificate, replacing the one of the same name and source.
    pub fn cert_put(&self, c: &CertRow) -> StoreResult<()> {
        self.conn().execute(
            &format!(
                "INSERT INTO certificates ({CERT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (hostname, source) DO UPDATE SET id = excluded.id, names = excluded.names,
                   chain_pem = excluded.chain_pem, key_sealed = excluded.key_sealed, issuer = excluded.issuer,
                   serial = excluded.serial, not_before = excluded.not_before, not_after = excluded.not_after,
                   created_at = excluded.created_at"
            ),
            params![
                c.id.as_str(),
                c.hostname.as_str(),
                c.source.as_str(),
                serde_json::to_string(&c.names).unwrap_or_else(|_| "[]".into()),
                c.chain_pem,
                c.key_sealed,
                c.issuer,
                c.serial,
                c.not_before,
                c.not_after,
                c.created_at
            ],
        )?;
        Ok(())
    }

    pub fn cert_list(&self) -> StoreResult<Vec<CertRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {CERT_COLUMNS} FROM certificates ORDER BY hostname, source"
        ))?;
        let rows = stmt.query_map([], read_cert)?;
        rows.map(|r| r?).collect()
    }

    pub fn cert_get(&self, id: &CertificateId) -> StoreResult<Option<CertRow>> {
        self.conn()
            .query_row(
                &format!("SELECT {CERT_COLUMNS} FROM certificates WHERE id = ?1"),
                [id.as_str()],
                read_cert,
            )
            .optional()?
            .transpose()
    }

    pub fn cert_delete(&self, id: &CertificateId) -> StoreResult<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM certificates WHERE id = ?1", [id.as_str()])?
            > 0)
    }

    pub fn acme_status_all(&self) -> StoreResult<Vec<AcmeStatus>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT hostname, state, attempts, orders, last_error, next_attempt_at, updated_at FROM acme_status",
        )?;
        let rows = stmt.query_map([], read_status)?;
        rows.map(|r| r?).collect()
    }

    /// Records that an order for `hostname` starts now.
    pub fn acme_mark_issuing(&self, hostname: &str) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO acme_status (hostname, state, orders, updated_at) VALUES (?1, 'issuing', 1, ?2)
             ON CONFLICT (hostname) DO UPDATE SET state = 'issuing', orders = orders + 1, updated_at = ?2",
            params![hostname, now_rfc3339()],
        )?;
        Ok(())
    }

    pub fn acme_record_success(&self, hostname: &str) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE acme_status SET state = 'valid', attempts = 0, last_error = NULL, next_attempt_at = NULL,
             updated_at = ?2 WHERE hostname = ?1",
            params![hostname, now_rfc3339()],
        )?;
        Ok(())
    }

    pub fn acme_record_failure(&self, hostname: &str, error: &str, next_attempt_at: &str) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE acme_status SET state = 'failed', attempts = attempts + 1, last_error = ?2,
             next_attempt_at = ?3, updated_at = ?4 WHERE hostname = ?1",
            params![hostname, error, next_attempt_at, now_rfc3339()],
        )?;
        Ok(())
    }

    /// Orders left `issuing` by a stop are pending again.
    pub fn acme_reset_interrupted(&self) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE acme_status SET state = 'pending', updated_at = ?1 WHERE state = 'issuing'",
            [now_rfc3339()],
        )?;
        Ok(())
    }
}
