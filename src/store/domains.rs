//! Custom domains of apps: each name routes to one app, or redirects to another of its names.

use crate::domain::Timestamp;
use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError, StoreResult, parse_col, unique_conflict};
use crate::domain::{AppId, DomainId, DomainName};

/// A domain attached to an app.
#[derive(Debug, Clone)]
pub struct DomainRow {
    pub id: DomainId,
    pub app_id: AppId,
    pub hostname: DomainName,
    /// When set, requests for this name get a permanent redirect to that name.
    pub redirect_to: Option<DomainName>,
    pub created_at: Timestamp,
}

const COLUMNS: &str = "id, app_id, hostname, redirect_to, created_at";

fn read_row(r: &Row<'_>) -> rusqlite::Result<StoreResult<DomainRow>> {
    let redirect: Option<String> = r.get(3)?;
    let build = || -> StoreResult<DomainRow> {
        Ok(DomainRow {
            id: parse_col(r.get(0)?)?,
            app_id: parse_col(r.get(1)?)?,
            hostname: parse_col(r.get(2)?)?,
            redirect_to: redirect.map(parse_col).transpose()?,
            created_at: r.get(4)?,
        })
    };
    Ok(build())
}

impl Store {
    /// Adds names to an app in one transaction: all of them, or none when one is taken or
    /// the app would have more than `limit` names.
    pub fn domains_insert(
        &self,
        app: &AppId,
        names: &[(DomainName, Option<DomainName>)],
        limit: usize,
    ) -> StoreResult<Vec<DomainRow>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let have: i64 = tx.query_row("SELECT COUNT(*) FROM domains WHERE app_id = ?1", [app.as_str()], |r| {
            r.get(0)
        })?;
        if usize::try_from(have).unwrap_or(usize::MAX).saturating_add(names.len()) > limit {
            return Err(StoreError::Conflict(format!(
                "an app has at most {limit} domains (this one has {have}): remove one first"
            )));
        }
        let mut rows = Vec::with_capacity(names.len());
        for (hostname, redirect_to) in names {
            let row = DomainRow {
                id: DomainId::generate(),
                app_id: app.clone(),
                hostname: hostname.clone(),
                redirect_to: redirect_to.clone(),
                created_at: Timestamp::now(),
            };
            tx.execute(
                "INSERT INTO domains (id, app_id, hostname, redirect_to, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    row.id.as_str(),
                    app.as_str(),
                    hostname.as_str(),
                    redirect_to.as_ref().map(DomainName::as_str),
                    row.created_at
                ],
            )
            .map_err(|e| unique_conflict(e, || format!("the domain {hostname} is already attached to an app")))?;
            rows.push(row);
        }
        tx.commit()?;
        Ok(rows)
    }

    /// Every domain, or those of one app, ordered by name.
    pub fn domain_list(&self, app: Option<&AppId>) -> StoreResult<Vec<DomainRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM domains WHERE ?1 IS NULL OR app_id = ?1 ORDER BY hostname"
        ))?;
        let rows = stmt.query_map([app.map(AppId::as_str)], read_row)?;
        rows.map(|r| r?).collect()
    }

    pub fn domain_get(&self, hostname: &DomainName) -> StoreResult<Option<DomainRow>> {
        let conn = self.conn();
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM domains WHERE hostname = ?1"),
            [hostname.as_str()],
            read_row,
        )
        .optional()?
        .transpose()
    }

    /// Removes a name and the names that redirect to it, with their ACME state, in one
    /// transaction. Returns the names removed.
    pub fn domain_delete(&self, hostname: &DomainName) -> StoreResult<Vec<DomainName>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut names: Vec<String> = tx
            .prepare("SELECT hostname FROM domains WHERE redirect_to = ?1")?
            .query_map([hostname.as_str()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        names.insert(0, hostname.to_string());
        for name in &names {
            delete_domain_rows(&tx, name)?;
        }
        tx.commit()?;
        names.into_iter().map(parse_col).collect()
    }
}

/// Deletes one domain inside `tx`, with its ACME state and automatic certificate (uploaded
/// certificates stay: the user brought them and may attach the name again).
pub(super) fn delete_domain_rows(tx: &rusqlite::Transaction<'_>, hostname: &str) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM domains WHERE hostname = ?1", [hostname])?;
    tx.execute("DELETE FROM acme_status WHERE hostname = ?1", [hostname])?;
    tx.execute(
        "DELETE FROM certificates WHERE hostname = ?1 AND source = 'acme'",
        [hostname],
    )?;
    Ok(())
}
