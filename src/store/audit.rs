//! The audit log: one row per dispatched call, written by the registry's dispatch only.
//! Records form a hash chain: each one's hash covers its fields and the previous record's
//! hash, so changing or deleting a record breaks every link after it (`audit_verify`).

use rusqlite::{OptionalExtension, params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Store, StoreResult};

/// What dispatch appends. `args` is already redacted.
pub struct AuditEntry<'a> {
    pub at: &'a str,
    pub principal: &'a str,
    pub adapter: &'a str,
    pub tool: &'a str,
    pub args: &'a serde_json::Value,
    pub outcome: &'a str,
    pub error_kind: Option<&'a str>,
    pub duration_ms: u64,
}

/// A stored audit record, as `audit_list` returns it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AuditRecord {
    pub seq: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// Who called: `key:<id>` for an API key; users appear as `user:<id>/…` (a session
    /// or a schedule of theirs); sh0 itself as `system:<task>`.
    pub principal: String,
    /// Which adapter the call came through: `rest`, `dashboard`, `mcp`, `cli`, `chat`, `schedule`, `system`, `hook`, `git`.
    pub adapter: String,
    pub tool: String,
    /// The arguments, with secret values replaced by `[redacted]`.
    pub args: serde_json::Value,
    /// `ok` or `error`.
    pub outcome: String,
    pub error_kind: Option<String>,
    pub duration_ms: i64,
}

/// Narrowing for `audit_list`.
#[derive(Debug, Default)]
pub struct AuditFilter<'a> {
    pub tool: Option<&'a str>,
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// The result of walking the chain.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChainReport {
    /// Records checked.
    pub records: i64,
    /// Records from before the chain existed (never hashed), at the start of the log.
    pub unchained: i64,
    /// The first record whose hash does not match its content or its predecessor; `null`
    /// when the whole chain is intact.
    pub first_broken_seq: Option<i64>,
    /// The newest record's hash: keep it elsewhere to detect a truncated log later.
    pub head_hash: Option<String>,
}

/// The hashed fields of a record (everything but its sequence number).
struct Hashed<'a> {
    at: &'a str,
    principal: &'a str,
    adapter: &'a str,
    tool: &'a str,
    args: &'a str,
    outcome: &'a str,
    error_kind: Option<&'a str>,
    duration_ms: i64,
}

impl Hashed<'_> {
    /// SHA-256 over the fields and the previous record's hash, as hex.
    fn hash(&self, prev: &str) -> String {
        let canonical = serde_json::json!([
            prev,
            self.at,
            self.principal,
            self.adapter,
            self.tool,
            self.args,
            self.outcome,
            self.error_kind,
            self.duration_ms
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// The `prev_hash` of the first chained record.
const GENESIS: &str = "";

impl Store {
    pub fn audit_append(&self, e: &AuditEntry<'_>) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let prev: Option<Option<String>> = tx
            .query_row("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| r.get(0))
            .optional()?;
        let prev = prev.flatten().unwrap_or_else(|| GENESIS.to_owned());
        let args = e.args.to_string();
        let hash = Hashed {
            at: e.at,
            principal: e.principal,
            adapter: e.adapter,
            tool: e.tool,
            args: &args,
            outcome: e.outcome,
            error_kind: e.error_kind,
            duration_ms: e.duration_ms as i64,
        }
        .hash(&prev);
        tx.execute(
            "INSERT INTO audit (at, principal, adapter, tool, args, outcome, error_kind, duration_ms, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                e.at,
                e.principal,
                e.adapter,
                e.tool,
                args,
                e.outcome,
                e.error_kind,
                e.duration_ms as i64,
                prev,
                hash
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Walks the whole chain, oldest first, recomputing every hash.
    pub fn audit_verify(&self) -> StoreResult<ChainReport> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT seq, at, principal, adapter, tool, args, outcome, error_kind, duration_ms, prev_hash, hash \
             FROM audit ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut report = ChainReport {
            records: 0,
            unchained: 0,
            first_broken_seq: None,
            head_hash: None,
        };
        // The hash the next record must name as its predecessor (`None` until the chain starts).
        let mut expected_prev: Option<String> = None;
        while let Some(r) = rows.next()? {
            report.records += 1;
            let seq: i64 = r.get(0)?;
            let (prev, stored): (Option<String>, Option<String>) = (r.get(9)?, r.get(10)?);
            let (Some(prev), Some(stored)) = (prev, stored) else {
                // Unhashed: a record from before the chain, or one slipped in after it started.
                match expected_prev {
                    None => report.unchained += 1,
                    Some(_) => {
                        report.first_broken_seq.get_or_insert(seq);
                    }
                }
                continue;
            };
            let (at, principal, adapter, tool, args, outcome): (String, String, String, String, String, String) =
                (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?);
            let error_kind: Option<String> = r.get(7)?;
            let computed = Hashed {
                at: &at,
                principal: &principal,
                adapter: &adapter,
                tool: &tool,
                args: &args,
                outcome: &outcome,
                error_kind: error_kind.as_deref(),
                duration_ms: r.get(8)?,
            }
            .hash(&prev);
            // The first chained record follows the genesis hash; every other one its predecessor.
            let linked = prev == expected_prev.as_deref().unwrap_or(GENESIS);
            if computed != stored || !linked {
                report.first_broken_seq.get_or_insert(seq);
            }
            report.head_hash = Some(stored.clone());
            expected_prev = Some(stored);
        }
        Ok(report)
    }

    /// Newest first.
    pub fn audit_list(&self, f: &AuditFilter<'_>) -> StoreResult<Vec<AuditRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT seq, at, principal, adapter, tool, args, outcome, error_kind, duration_ms FROM audit \
             WHERE (?1 IS NULL OR tool = ?1) AND (?2 IS NULL OR seq < ?2) ORDER BY seq DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![f.tool, f.before_seq, f.limit], |r| {
            let args: String = r.get(5)?;
            Ok(AuditRecord {
                seq: r.get(0)?,
                at: r.get(1)?,
                principal: r.get(2)?,
                adapter: r.get(3)?,
                tool: r.get(4)?,
                args: serde_json::from_str(&args).unwrap_or(serde_json::Value::Null),
                outcome: r.get(6)?,
                error_kind: r.get(7)?,
                duration_ms: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn audit_count(&self) -> StoreResult<i64> {
        Ok(self.conn().query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))?)
    }
}
