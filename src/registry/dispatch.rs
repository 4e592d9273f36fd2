//! `Dispatcher::dispatch`, the only door to a tool. In order: authenticate the
//! credentials, find the tool, refuse a session's change without its CSRF token, check the
//! permission against role and scope (and a pending 2FA enrolment), validate the input
//! against every schema constraint, check that the project it reaches is the caller's,
//! take the `confirm` argument off a destructive call, run the tool (which applies the
//! confirmation gate once the input names a real resource), and append one audit record,
//! whatever the outcome.

use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Instant;

use super::schema::CONFIRM_FIELD;
use super::{
    Credentials, ErrorKind, EventSink, Permission, Principal, Registry, Safety, Services, ToolContext, ToolError,
};
use crate::store::AuditEntry;

/// Which adapter a call came through; recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    Rest,
    Mcp,
    Cli,
    Chat,
    /// The scheduler, running a schedule's tool call.
    Schedule,
    /// sh0's maintenance loop, as the system principal.
    System,
    /// A deploy hook's or a git webhook's endpoint.
    Hook,
    /// `git push` to sh0 (smart HTTP).
    Git,
    /// The dashboard in a browser (REST with a session, labelled by the page).
    Dashboard,
}

impl Adapter {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::Mcp => "mcp",
            Self::Cli => "cli",
            Self::Chat => "chat",
            Self::Schedule => "schedule",
            Self::System => "system",
            Self::Hook => "hook",
            Self::Git => "git",
            Self::Dashboard => "dashboard",
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
            "dashboard" => Some(Self::Dashboard),
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

    /// The registry, shared (for a context made outside `run`).
    pub(super) fn registry_shared(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// The tool named `name`, or the one answer for an unknown name.
    pub(super) fn tool(&self, name: &str) -> Result<&super::ToolDescriptor, ToolError> {
        self.registry.get(name).ok_or_else(|| {
            ToolError::not_found(format!("no tool named `{}`", name.chars().take(64).collect::<String>()))
        })
    }

    /// Resolves credentials to a principal, or `Unauthenticated`.
    pub fn authenticate(&self, creds: &Credentials) -> Result<Principal, ToolError> {
        super::authn::authenticate(&self.services, creds).map(|a| a.principal)
    }

    /// The tools this caller may call, for listings (MCP `tools/list`, the CLI catalog).
    pub fn visible_tools(&self, creds: &Credentials) -> Result<Vec<&'static str>, ToolError> {
        let principal = self.authenticate(creds)?;
        Ok(self
            .registry
            .iter()
            .filter(|d| principal.may_call(d.meta()))
            .filter(|d| !principal.must_enrol_2fa || d.meta().permission == Permission::Account)
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
        self.dispatch_streaming(creds, adapter, tool, args, None).await
    }

    /// [`Self::dispatch`], with the call's progress events sent to `events`.
    pub async fn dispatch_streaming(
        &self,
        creds: &Credentials,
        adapter: Adapter,
        tool: &str,
        args: Value,
        events: Option<EventSink>,
    ) -> Result<Value, ToolError> {
        let authenticated = super::authn::authenticate(&self.services, creds)?;
        let principal = authenticated.principal;
        let desc = self.tool(tool)?;
        let started = Instant::now();
        let redacted = super::audit::redact(&args, desc.input_schema());
        // A browser session changes nothing without its CSRF token. This follows from the
        // credential's kind and the tool's safety, not from a list of paths.
        let csrf_refused =
            desc.meta().safety != Safety::Read && !super::authn::csrf_passes(authenticated.csrf.as_ref());
        let result = if csrf_refused {
            Err(csrf_missing())
        } else {
            self.run(desc, principal.clone(), adapter, args, events).await
        };
        self.record(&principal, adapter, desc.meta().name, &redacted, &result, started)?;
        result
    }

    /// Calls a tool as a principal that an earlier call of the same request already
    /// authenticated (the assistant acting in a conversation): everything of `dispatch`
    /// after authentication, audited under that principal.
    pub(crate) async fn dispatch_as(
        &self,
        principal: &Principal,
        adapter: Adapter,
        tool: &str,
        args: Value,
    ) -> Result<Value, ToolError> {
        let desc = self.tool(tool)?;
        let started = Instant::now();
        let redacted = super::audit::redact(&args, desc.input_schema());
        let result = self.run(desc, principal.clone(), adapter, args, None).await;
        self.record(principal, adapter, desc.meta().name, &redacted, &result, started)?;
        result
    }

    /// Appends the audit record of a call. An unrecorded call must not report success, so
    /// a failed append turns the outcome into an error: fail closed.
    pub(super) fn record<T>(
        &self,
        principal: &Principal,
        adapter: Adapter,
        tool: &str,
        redacted: &Value,
        result: &Result<T, ToolError>,
        started: Instant,
    ) -> Result<(), ToolError> {
        self.record_as(&principal.id.to_string(), adapter, tool, redacted, result, started)
    }

    /// [`Self::record`] for a caller that could not be authenticated, named by `who`.
    pub(super) fn record_as<T>(
        &self,
        who: &str,
        adapter: Adapter,
        tool: &str,
        redacted: &Value,
        result: &Result<T, ToolError>,
        started: Instant,
    ) -> Result<(), ToolError> {
        let (outcome, kind) = match result {
            Ok(_) => ("ok", None),
            Err(e) => ("error", Some(e.kind.as_str())),
        };
        let at = crate::domain::now_rfc3339();
        let entry = AuditEntry {
            at: &at,
            principal: who,
            adapter: adapter.as_str(),
            tool,
            args: redacted,
            outcome,
            error_kind: kind,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        self.services
            .store
            .audit_append(&entry)
            .map_err(|e| ToolError::internal(format!("audit append failed: {e}")))
    }

    /// What depends only on the tool and the caller: the permission, a pending 2FA
    /// enrolment, and a project-limited key's reach.
    pub(super) fn authorize(principal: &Principal, meta: &super::ToolMeta) -> Result<(), ToolError> {
        if !principal.may_call(meta) {
            return Err(ToolError::forbidden(format!(
                "`{}` needs the `{}` permission, which your credential lacks",
                meta.name,
                meta.permission.as_str()
            )));
        }
        // The assistant changes nothing its human has not approved, whatever calls dispatch.
        if matches!(principal.id, super::PrincipalId::Chat { approved: false, .. }) && meta.safety != Safety::Read {
            return Err(ToolError::forbidden(format!(
                "`{}` changes things: the assistant runs it only once its user approves this call",
                meta.name
            )));
        }
        if principal.must_enrol_2fa && meta.permission != Permission::Account {
            return Err(ToolError::forbidden(
                "the owner requires two-factor authentication: set it up with totp_enroll and totp_confirm first",
            ));
        }
        super::access::check_limit(principal, meta)
    }

    async fn run(
        &self,
        desc: &super::ToolDescriptor,
        principal: Principal,
        adapter: Adapter,
        args: Value,
        events: Option<EventSink>,
    ) -> Result<Value, ToolError> {
        let meta = desc.meta();
        Self::authorize(&principal, meta)?;
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
        super::access::check(&self.services.store, &principal, meta, &args)?;
        let confirm = if meta.safety == Safety::Destructive {
            args.as_object_mut()
                .and_then(|m| m.remove(CONFIRM_FIELD))
                .and_then(|v| v.as_str().map(str::to_owned))
        } else {
            None
        };
        let ctx = ToolContext {
            services: self.services.clone(),
            registry: self.registry.clone(),
            principal,
            adapter,
            events,
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

pub(super) fn csrf_missing() -> ToolError {
    ToolError::forbidden(
        "this session needs its CSRF token: send the sh0_csrf cookie's value in an X-CSRF-Token header",
    )
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

#[cfg(test)]
mod tests {
    use super::super::{PrincipalId, ProjectAccess, Target, ToolMeta};
    use super::*;
    use crate::domain::{Role, Scope};

    fn meta(safety: Safety, permission: Permission) -> ToolMeta {
        ToolMeta {
            name: "t",
            title: "t",
            description: "t",
            safety,
            permission,
            target: Target::Server,
            http: None,
            idempotent: false,
        }
    }

    fn assistant(approved: bool) -> Principal {
        Principal {
            id: PrincipalId::Chat {
                human: Box::new(PrincipalId::Key(
                    "key_00000000000000000000000000000001".to_owned().try_into().unwrap(),
                )),
                conversation: "cnv_00000000000000000000000000000001".to_owned().try_into().unwrap(),
                approved,
            },
            user: None,
            role: Role::Owner,
            scope: Scope::Admin,
            access: ProjectAccess {
                every_project: true,
                ..ProjectAccess::default()
            },
            must_enrol_2fa: false,
        }
    }

    /// Whatever calls dispatch as the assistant: its reads run, its changes only once
    /// approved, and what no model may have is refused even to an owner's approved call.
    #[test]
    fn the_assistant_changes_nothing_unapproved_and_never_holds_what_is_withheld() {
        for (safety, approved, ok) in [
            (Safety::Read, false, true),
            (Safety::Write, false, false),
            (Safety::Destructive, false, false),
            (Safety::Write, true, true),
            (Safety::Destructive, true, true),
        ] {
            let got = Dispatcher::authorize(&assistant(approved), &meta(safety, Permission::AppsWrite));
            assert_eq!(got.is_ok(), ok, "{safety:?} approved={approved}: {got:?}");
        }
        for p in [
            Permission::EnvReveal,
            Permission::KeysManage,
            Permission::Account,
            Permission::SecretsRotate,
            Permission::UsersManage,
            Permission::SecurityPolicy,
            Permission::AiSettings,
            Permission::BuildSettings,
            Permission::Chat,
        ] {
            let got = Dispatcher::authorize(&assistant(true), &meta(Safety::Read, p));
            assert_eq!(got.map_err(|e| e.kind), Err(ErrorKind::Forbidden), "{p:?}");
        }
    }
}
