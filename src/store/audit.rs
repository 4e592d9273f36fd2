//! The audit log: one row per dispatched call, written by the registry's dispatch only.

use rusqlite::params;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    /// Who called: `key:<id>` for an API key; users appear as `user:<id>`.
    pub principal: String,
    /// Which adapter the call came through: `rest`, `mcp`, `cli`, `chat`.
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

impl Store {
    pub fn audit_append(&self, e: &AuditEntry<'_>) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO audit (at, principal, adapter, tool, args, outcome, error_kind, duration_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                e.at,
                e.principal,
                e.adapter,
                e.tool,
                e.args.to_string(),
                e.outcome,
                e.error_kind,
                e.duration_ms as i64
            ],
        )?;
        Ok(())
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
