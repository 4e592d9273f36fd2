//! The caller's own account: their sessions (list, end one) and two-factor authentication
//! (enrol with an authenticator app, confirm with a first code to get backup codes, turn
//! off with a code). These act on whoever calls, so nobody can reach another user's.

use crate::domain::Timestamp;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::NoInput;
use crate::auth::{backup_code, hash_key, normalize_backup_code, totp, totp_context};
use crate::domain::{SessionId, ShownOnce};
use crate::registry::HttpMethod::{Delete, Get, Post};
use crate::registry::{
    HttpRoute, Permission, PrincipalId, Safety, Target, Tool, ToolContext, ToolError, ToolMeta, second_factor_attempt,
    verify_second_factor,
};

pub struct SessionList;
pub struct SessionRevoke;
pub struct TotpEnroll;
pub struct TotpConfirm;
pub struct TotpDisable;

#[derive(Serialize, JsonSchema)]
pub struct SessionView {
    pub id: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub address: String,
    pub user_agent: String,
    /// Whether this is the session making the request.
    pub current: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct SessionListOutput {
    pub sessions: Vec<SessionView>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRevokeInput {
    /// Session id, from session_list.
    pub session: SessionId,
}

#[derive(Serialize, JsonSchema)]
pub struct SessionRevoked {
    pub revoked: String,
}

#[derive(Serialize, JsonSchema)]
pub struct TotpEnrolment {
    /// The `otpauth://` URI for an authenticator app.
    pub otpauth_uri: ShownOnce,
    /// The same secret in base32, for typing in by hand.
    pub secret: ShownOnce,
    /// The URI as a QR code (SVG).
    pub qr_svg: ShownOnce,
    pub next_step: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCodeInput {
    /// A 6-digit code from the authenticator app (totp_disable also takes a backup code).
    /// Write-only: never stored in the audit log.
    #[schemars(length(min = 6, max = 20), regex(pattern = r"^[0-9A-Za-z -]+$"), extend("writeOnly" = true))]
    pub code: String,
}

#[derive(Serialize, JsonSchema)]
pub struct TotpConfirmed {
    /// Ten single-use codes for when the authenticator is lost. Shown once: store them.
    pub backup_codes: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct TotpDisabled {
    pub two_factor: bool,
}

#[async_trait]
impl Tool for SessionList {
    type Input = NoInput;
    type Output = SessionListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "session_list",
            title: "List your sessions",
            description: "List your active login sessions (browsers), with where and when they were used. \
                          `current` marks the one making the request.",
            safety: Safety::Read,
            permission: Permission::Account,
            target: Target::Server,
            http: Some(HttpRoute::new(Get, "/api/v1/sessions")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, _: NoInput) -> Result<SessionListOutput, ToolError> {
        let user = ctx.principal.user()?;
        let current = match &ctx.principal.id {
            PrincipalId::Session { session, .. } => Some(session),
            PrincipalId::Key(_)
            | PrincipalId::Schedule { .. }
            | PrincipalId::System(_)
            | PrincipalId::Hook { .. }
            | PrincipalId::Grant { .. }
            | PrincipalId::Chat { .. } => None,
        };
        Ok(SessionListOutput {
            sessions: ctx
                .store()
                .session_list(user)?
                .into_iter()
                .map(|s| SessionView {
                    current: current == Some(&s.id),
                    id: s.id.to_string(),
                    created_at: s.created_at,
                    last_seen_at: s.last_seen_at,
                    expires_at: s.expires_at,
                    address: s.address,
                    user_agent: s.user_agent,
                })
                .collect(),
        })
    }
}

#[async_trait]
impl Tool for SessionRevoke {
    type Input = SessionRevokeInput;
    type Output = SessionRevoked;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "session_revoke",
            title: "End a session",
            description: "End one of your sessions: its cookies stop working on the next request.",
            safety: Safety::Write,
            permission: Permission::Account,
            target: Target::Server,
            http: Some(HttpRoute::new(Delete, "/api/v1/sessions/{session}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: SessionRevokeInput) -> Result<SessionRevoked, ToolError> {
        let user = ctx.principal.user()?;
        let mine = ctx.store().session_get(&input.session)?.filter(|s| &s.user_id == user);
        if mine.is_none() {
            return Err(ToolError::not_found(format!("session {} not found", input.session)));
        }
        ctx.store().session_revoke(&input.session)?;
        Ok(SessionRevoked {
            revoked: input.session.to_string(),
        })
    }
}

#[async_trait]
impl Tool for TotpEnroll {
    type Input = NoInput;
    type Output = TotpEnrolment;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "totp_enroll",
            title: "Set up two-factor authentication",
            description: "Start setting up two-factor authentication: returns an otpauth URI (and QR code) for an \
                          authenticator app. 2FA is on once totp_confirm accepts a first code. Starting again \
                          replaces a pending setup; with 2FA on, turn it off first.",
            safety: Safety::Write,
            permission: Permission::Account,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/account/totp")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, _: NoInput) -> Result<TotpEnrolment, ToolError> {
        let user_id = ctx.principal.user()?;
        let user = ctx
            .store()
            .user_get(user_id)?
            .ok_or_else(|| ToolError::not_found("your account is gone"))?;
        if user.totp_enabled {
            return Err(ToolError::conflict(
                "two-factor authentication is on already; turn it off with totp_disable first",
            ));
        }
        let secret = totp::generate_secret();
        let e = totp::enrolment(&secret, user.email.as_str()).map_err(ToolError::internal)?;
        ctx.services
            .master_key
            .seal_into(&secret, &totp_context(user_id), |sealed| {
                ctx.store().totp_set_pending(user_id, &sealed)
            })?;
        Ok(TotpEnrolment {
            otpauth_uri: ShownOnce(e.uri),
            secret: ShownOnce(e.secret_base32),
            qr_svg: ShownOnce(e.qr_svg),
            next_step: "add it to an authenticator app, then call totp_confirm with the code it shows".into(),
        })
    }
}

#[async_trait]
impl Tool for TotpConfirm {
    type Input = TotpCodeInput;
    type Output = TotpConfirmed;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "totp_confirm",
            title: "Confirm two-factor authentication",
            description: "Finish setting up two-factor authentication with a first code from the authenticator \
                          app. Returns ten single-use backup codes, shown once.",
            safety: Safety::Write,
            permission: Permission::Account,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/account/totp/confirm")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: TotpCodeInput) -> Result<TotpConfirmed, ToolError> {
        let user_id = ctx.principal.user()?;
        let mut step = None;
        let matched = second_factor_attempt(&ctx.services, user_id, || {
            let secrets = ctx.store().user_secrets(user_id)?;
            let enabled = ctx.store().user_get(user_id)?.is_some_and(|u| u.totp_enabled);
            let Some(sealed) = secrets.totp_sealed.filter(|_| !enabled) else {
                return Err(ToolError::conflict("there is no pending setup: call totp_enroll first"));
            };
            let secret = ctx
                .services
                .master_key
                .open(&sealed, &totp_context(user_id))
                .map_err(ToolError::internal)?;
            let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
            step = totp::accept(&secret, &input.code, now, None);
            Ok(step.is_some())
        })?;
        let (true, Some(step)) = (matched, step) else {
            return Err(ToolError::invalid(
                "the code does not match: check the app's clock and try the next one",
            ));
        };
        let codes: Vec<String> = (0..10).map(|_| backup_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| hash_key(&normalize_backup_code(c))).collect();
        ctx.store().totp_enable(user_id, step, &hashes)?;
        Ok(TotpConfirmed { backup_codes: codes })
    }
}

#[async_trait]
impl Tool for TotpDisable {
    type Input = TotpCodeInput;
    type Output = TotpDisabled;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "totp_disable",
            title: "Turn off two-factor authentication",
            description: "Turn off two-factor authentication, proven with a current code or a backup code. Its \
                          backup codes stop working.",
            safety: Safety::Write,
            permission: Permission::Account,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/account/totp/disable")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: TotpCodeInput) -> Result<TotpDisabled, ToolError> {
        let user_id = ctx.principal.user()?;
        if !ctx.store().user_get(user_id)?.is_some_and(|u| u.totp_enabled) {
            return Err(ToolError::conflict("two-factor authentication is not on"));
        }
        verify_second_factor(&ctx.services, user_id, &input.code)?;
        ctx.store().totp_disable(user_id)?;
        Ok(TotpDisabled { two_factor: false })
    }
}
