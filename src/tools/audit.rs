//! `audit_list`: read the audit log.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::registry::HttpMethod::Get;
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};
use crate::store::{AuditFilter, AuditRecord, ChainReport};

pub struct AuditList;
pub struct AuditVerify;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditVerifyInput {}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditListInput {
    /// Only records of this tool.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64), regex(pattern = "^[a-z][a-z0-9_]*$"))]
    pub tool: Option<String>,
    /// Only records older than this sequence number (for paging backwards).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub before: Option<i64>,
    /// How many records, newest first (default 50, at most 500).
    #[serde(default)]
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
pub struct AuditListOutput {
    pub records: Vec<AuditRecord>,
}

#[async_trait]
impl Tool for AuditList {
    type Input = AuditListInput;
    type Output = AuditListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "audit_list",
            title: "Read the audit log",
            description: "List audit records, newest first: who called which tool through which adapter, with \
                          secret arguments redacted, the outcome and the duration. Page with `before`.",
            safety: Safety::Read,
            permission: Permission::AuditRead,
            target: Target::Server,
            http: Some(HttpRoute::new(Get, "/api/v1/audit")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AuditListInput) -> Result<AuditListOutput, ToolError> {
        let filter = AuditFilter {
            tool: input.tool.as_deref(),
            before_seq: input.before,
            limit: input.limit.unwrap_or(50),
        };
        Ok(AuditListOutput {
            records: ctx.store().audit_list(&filter)?,
        })
    }
}

#[async_trait]
impl Tool for AuditVerify {
    type Input = AuditVerifyInput;
    type Output = ChainReport;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "audit_verify",
            title: "Verify the audit log",
            description: "Check that the audit log has not been tampered with: every record's hash covers its \
                          content and the previous record's hash, so an edited or deleted record breaks the chain \
                          from there on. Returns the first broken record (null when intact) and the newest hash. \
                          The hashes are not keyed: someone able to write the database file could recompute \
                          them, so keep the newest hash elsewhere now and then; a rewritten or truncated log \
                          no longer reproduces it.",
            safety: Safety::Read,
            permission: Permission::AuditRead,
            target: Target::Server,
            http: Some(HttpRoute::new(Get, "/api/v1/audit/verify")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, _: AuditVerifyInput) -> Result<ChainReport, ToolError> {
        Ok(ctx.store().audit_verify()?)
    }
}
