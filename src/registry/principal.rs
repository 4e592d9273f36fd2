//! Who is calling. Adapters only extract `Credentials` from their transport; turning them
//! into a `Principal` is dispatch's job, so every adapter authenticates the same way.

use std::collections::BTreeSet;

use crate::domain::{ConversationId, GrantId, HookId, KeyId, ProjectId, Role, ScheduleId, Scope, SessionId, UserId};

/// What a request presented.
#[derive(Clone, Default)]
pub enum Credentials {
    #[default]
    None,
    /// `Authorization: Bearer <api key>`.
    Bearer(String),
    /// A browser session: the access token from the session cookie, the CSRF token from
    /// the `X-CSRF-Token` header, and whether the request came from the server's own origin. Only the REST adapter
    /// builds these; dispatch requires the CSRF token for every tool that is not `Read`,
    /// and a stream (a WebSocket) requires an `Origin` that is one of the server's names.
    Session {
        access: String,
        csrf: Option<String>,
        /// The request carried an `Origin` equal to its own `Host` ([`same_origin`]).
        same_origin: bool,
    },
    /// A run of a schedule: it acts as the schedule's owner, with their role at the time of
    /// the run and at most the scope of the credential that created it. Only the
    /// registry's scheduler makes these; no request can carry one.
    Schedule(ScheduleId),
    /// sh0 itself, doing one maintenance task with that task's permissions and no more.
    /// Only the registry's maintenance loop makes these; no request can carry one.
    System(SystemTask),
    /// A deploy hook's URL and secret (`X-Sh0-Hook-Token`): it deploys its one app, as the
    /// hook, with at most its maker's current role. Only [`Dispatcher::fire_hook`] uses
    /// these.
    ///
    /// [`Dispatcher::fire_hook`]: super::Dispatcher::fire_hook
    Hook { hook: HookId, token: String },
    /// An OAuth access token presented to the MCP endpoint at `resource` (the URL the
    /// request reached): valid only when its grant was made for that very resource
    /// (RFC 8707 audience). Only the MCP adapter builds these.
    Grant { token: String, resource: String },
}

/// The maintenance sh0 does on its own, each a principal holding only what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemTask {
    /// Ordering certificates that are missing or expiring (`cert_renew`).
    CertificateRenewal,
}

impl SystemTask {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CertificateRenewal => "certificate_renewal",
        }
    }

    /// The permissions the task holds — and nothing else, whatever a role would grant.
    pub fn permissions(self) -> &'static [super::Permission] {
        match self {
            Self::CertificateRenewal => &[super::Permission::CertsWrite],
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("Credentials::None"),
            Self::Bearer(_) => f.write_str("Credentials::Bearer([redacted])"),
            Self::Session { .. } => f.write_str("Credentials::Session([redacted])"),
            Self::Schedule(id) => write!(f, "Credentials::Schedule({id})"),
            Self::System(task) => write!(f, "Credentials::System({})", task.as_str()),
            Self::Hook { hook, .. } => write!(f, "Credentials::Hook({hook}, [redacted])"),
            Self::Grant { resource, .. } => write!(f, "Credentials::Grant([redacted], {resource})"),
        }
    }
}

impl Credentials {
    /// Parses an `Authorization` header value.
    pub fn from_authorization(header: Option<&str>) -> Self {
        match header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))) {
            Some(token) if !token.trim().is_empty() => Self::Bearer(token.trim().to_owned()),
            _ => Self::None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalId {
    Key(KeyId),
    Session {
        user: UserId,
        session: SessionId,
    },
    /// A schedule acting for its owner.
    Schedule {
        schedule: ScheduleId,
        user: UserId,
    },
    /// sh0 itself, doing its own maintenance.
    System(SystemTask),
    /// A deploy hook, made by `user`.
    Hook {
        hook: HookId,
        user: UserId,
    },
    /// A remote client acting for `user` through the OAuth grant they consented to.
    Grant {
        grant: GrantId,
        user: UserId,
    },
    /// The assistant, in one conversation, acting for the human it belongs to (`human`,
    /// the principal that sent the message or approved the call) and never beyond them;
    /// it is also denied what no model may see or do (see `Permission::chat_withheld`).
    Chat {
        human: Box<PrincipalId>,
        conversation: ConversationId,
        /// The human approved this call (or lets their assistant change things unasked).
        /// Without it, dispatch runs only the assistant's reads.
        approved: bool,
    },
}

impl std::fmt::Display for PrincipalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key(id) => write!(f, "key:{id}"),
            Self::Session { user, session } => write!(f, "user:{user}/{session}"),
            Self::Schedule { schedule, user } => write!(f, "user:{user}/schedule:{schedule}"),
            Self::System(task) => write!(f, "system:{}", task.as_str()),
            Self::Hook { hook, .. } => write!(f, "hook:{hook}"),
            Self::Grant { grant, user } => write!(f, "user:{user}/grant:{grant}"),
            Self::Chat {
                human, conversation, ..
            } => write!(f, "{human}/chat:{conversation}"),
        }
    }
}

/// Which projects a principal may reach.
#[derive(Debug, Clone, Default)]
pub struct ProjectAccess {
    /// Owners and admins reach every project; developers and viewers their memberships.
    pub every_project: bool,
    pub members_of: BTreeSet<ProjectId>,
    /// A key limited to one project reaches at most that one.
    pub only: Option<ProjectId>,
}

impl ProjectAccess {
    /// Every project, with no key limit.
    pub fn unlimited(&self) -> bool {
        self.every_project && self.only.is_none()
    }

    pub fn reaches(&self, p: &ProjectId) -> bool {
        (self.every_project || self.members_of.contains(p)) && self.only.as_ref().is_none_or(|o| o == p)
    }
}

/// An authenticated caller: identity, role, the scope its credential grants, and the
/// projects it may reach.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: PrincipalId,
    /// The user it acts for; `None` for the bootstrap owner key.
    pub user: Option<UserId>,
    pub role: Role,
    pub scope: Scope,
    pub access: ProjectAccess,
    /// A user who must set up 2FA before anything else (the owner requires it).
    pub must_enrol_2fa: bool,
}

impl Principal {
    /// Whether this caller may see or touch `project` (and everything in it).
    pub fn reaches(&self, project: &ProjectId) -> bool {
        self.access.reaches(project)
    }

    /// The user id, or an error for the bootstrap key, which belongs to nobody.
    pub fn user(&self) -> Result<&UserId, super::ToolError> {
        self.user.as_ref().ok_or_else(|| {
            super::ToolError::invalid(
                "this acts on your own account, and the bootstrap key belongs to no user: \
                 log in, or use a key created by a user",
            )
        })
    }
}

/// Whether a request comes from a page of the server itself: it names an `Origin` whose
/// authority (host and port) is the request's own `Host`. Browsers always send `Origin` on
/// WebSocket upgrades and cross-origin requests, and a page cannot forge it.
pub fn same_origin(origin: Option<&str>, host: Option<&str>) -> bool {
    let (Some(origin), Some(host)) = (origin, host) else {
        return false;
    };
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or("");
    !authority.is_empty() && !authority.contains('/') && authority.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn origin_must_be_the_request_host() {
        assert!(same_origin(Some("http://127.0.0.1:9000"), Some("127.0.0.1:9000")));
        assert!(same_origin(
            Some("https://Panel.example.com"),
            Some("panel.example.com")
        ));
        assert!(!same_origin(Some("https://evil.example"), Some("127.0.0.1:9000")));
        assert!(!same_origin(Some("http://127.0.0.1:9001"), Some("127.0.0.1:9000")));
        assert!(!same_origin(Some("null"), Some("null")));
        assert!(!same_origin(None, Some("127.0.0.1:9000")));
        assert!(!same_origin(Some("http://a/b"), Some("a/b")));
    }
}
