//! `Dispatcher::dispatch`, the only door to a tool. In order: authenticate the
//! credentials, find the tool, check the permission against role and scope, take the
//! `confirm` argument off a destructive call, validate the input against every schema
//! constraint, run the tool (which applies the confirmation gate once the input names a
//! real resource), and append one audit record, whatever the outcome.

use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Instant;

use super::schema::CONFIRM_FIELD;
use super::{Credentials, ErrorKind, Principal, PrincipalId, Registry, Safety, Services, ToolContext, ToolError};
use crate::auth::hash_key;
use crate::store::AuditEntry;

/// Which adapter a call came through; recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    Rest,
    Mcp,
    Cli,
    Chat,
}

impl Adapter {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::Mcp => "mcp",
            Self::Cli => "cli",
            Self::Chat => "chat",
        }
    }

    /// Parses the `X-Sh0-Adapter` hint that sh0's own clients (the CLI, the stdio MCP
    /// bridge) send over REST. It is a label for the audit log, not an authority.
    pub fn from_hint(hint: &str) -> Option<Self> {
        match hint {
            "cli" => Some(Self::Cli),
            "mcp" => Some(Self::Mcp),
            "chat" => Some(Self::Chat),
            "rest" => Some(Self::Rest),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct Dispatcher {
    registry: Arc<Registry>,
    services: Arc<Services>,
}

impl Dispatcher {
    pub fn new(registry: Arc<Registry>, services: Arc<Services>) -> Self {
        Self { registry, services }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Resolves credentials to a principal, or `Unauthenticated`.
    pub fn authenticate(&self, creds: &Credentials) -> Result<Principal, ToolError> {
        let Credentials::Bearer(token) = creds else {
            return Err(ToolError::unauthenticated());
        };
        // Only the digest is compared, through an indexed lookup on a uniformly random
        // 256-bit hash, so timing reveals nothing useful about the key.
        let key = self
            .services
            .store
            .key_by_hash(&hash_key(token))
            .map_err(ToolError::from)?;
        match key {
            Some(k) if k.revoked_at.is_none() && !k.expired_at(time::OffsetDateTime::now_utc()) => Ok(Principal {
                id: PrincipalId::Key(k.id),
                role: k.role,
                scope: k.scope,
            }),
            _ => Err(ToolError::unauthenticated()),
        }
    }

    /// The tools this caller may call, for listings (MCP `tools/list`, the CLI catalog).
    pub fn visible_tools(&self, creds: &Credentials) -> Result<Vec<&'static str>, ToolError> {
        let principal = self.authenticate(creds)?;
        Ok(self
            .registry
            .iter()
            .filter(|d| principal.holds(d.meta().permission))
            .map(|d| d.meta().name)
            .collect())
    }

    pub async fn dispatch(
        &self,
        creds: &Credentials,
        adapter: Adapter,
        tool: &str,
        args: Value,
    ) -> Result<Value, ToolError> {
        let principal = self.authenticate(creds)?;
        let Some(desc) = self.registry.get(tool) else {
            return Err(ToolError::not_found(format!(
                "no tool named `{}`",
                tool.chars().take(64).collect::<String>()
            )));
        };
        let started = Instant::now();
        let redacted = super::audit::redact(&args, desc.input_schema());
        let result = self.run(desc, principal.clone(), adapter, args).await;
        let (outcome, kind) = match &result {
            Ok(_) => ("ok", None),
            Err(e) => ("error", Some(e.kind.as_str())),
        };
        let at = crate::domain::now_rfc3339();
        let entry = AuditEntry {
            at: &at,
            principal: &principal.id.to_string(),
            adapter: adapter.as_str(),
            tool: desc.meta().name,
            args: &redacted,
            outcome,
            error_kind: kind,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        if let Err(e) = self.services.store.audit_append(&entry) {
            // An unrecorded call must not report success: fail closed.
            return Err(ToolError::internal(format!("audit append failed: {e}")));
        }
        result
    }

    async fn run(
        &self,
        desc: &super::ToolDescriptor,
        principal: Principal,
        adapter: Adapter,
        args: Value,
    ) -> Result<Value, ToolError> {
        let meta = desc.meta();
        if !principal.holds(meta.permission) {
            return Err(ToolError::forbidden(format!(
                "`{}` needs the `{}` permission, which your credential lacks",
                meta.name,
                meta.permission.as_str()
            )));
        }
        let mut args = match args {
            Value::Null => Value::Object(Map::new()),
            Value::Object(m) => Value::Object(m),
            other => {
                return Err(ToolError::invalid(format!(
                    "arguments must be a JSON object, not {}",
                    json_type(&other)
                )));
            }
        };
        desc.validate(&args).map_err(ToolError::invalid)?;
        let confirm = if meta.safety == Safety::Destructive {
            args.as_object_mut()
                .and_then(|m| m.remove(CONFIRM_FIELD))
                .and_then(|v| v.as_str().map(str::to_owned))
        } else {
            None
        };
        let ctx = ToolContext {
            services: self.services.clone(),
            principal,
            adapter,
        };
        let result = desc.tool.invoke(&ctx, args, confirm.as_deref()).await;
        if let Err(e) = &result
            && e.kind == ErrorKind::Internal
        {
            tracing::warn!(tool = meta.name, "tool failed with an internal error");
        }
        result
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
