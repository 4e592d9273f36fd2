//! The flows that create sessions, which no tool can express because the caller has no
//! principal yet: first-user setup with the bootstrap token, password login (with a second
//! factor), refresh-token rotation, logout, and accepting an invitation. Each is
//! rate-limited where guessing is possible, answers "wrong email or password" the same
//! way whether or not the account exists, and leaves one audit record.

use serde::Serialize;
use serde_json::{Value, json};
use std::time::Instant;
use time::{Duration, OffsetDateTime};

use super::{Credentials, Dispatcher, ErrorKind, PrincipalId, ToolError};
use crate::auth::{AccessClaims, hash_key, hash_password, random_token, verify_nothing, verify_password};
use crate::domain::{Email, Role, UserId, now_rfc3339, rfc3339_after};
use crate::store::{AuditEntry, NewUser, Refreshed, UserRow};

/// Access tokens live 15 minutes; the refresh token renews them for 30 days of inactivity.
pub const ACCESS_TTL: Duration = Duration::minutes(15);
pub const REFRESH_TTL: Duration = Duration::days(30);
/// The setting holding the bootstrap key's id: the one key that may create the first user.
pub const BOOTSTRAP_KEY_SETTING: &str = "bootstrap_key_id";

/// The client's address as the listener established it (the socket peer, or the address
/// sh0's own proxy vouched for); set on every request before any route runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

/// Where a request came from, for rate limits and the session list.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub address: String,
    pub user_agent: String,
}

/// A new or renewed session: the adapter turns these into cookies.
pub struct IssuedSession {
    pub access: String,
    pub refresh: String,
    pub csrf: String,
    pub user: UserView,
}

/// A user as the account endpoints show it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub two_factor: bool,
}

impl From<&UserRow> for UserView {
    fn from(u: &UserRow) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.to_string(),
            name: u.name.clone(),
            role: u.role,
            two_factor: u.totp_enabled,
        }
    }
}

fn wrong_credentials() -> ToolError {
    ToolError::new(ErrorKind::Unauthenticated, "wrong email or password")
}

/// The account flows, which run beside the tools (they create the credentials tools need).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountFlow {
    Setup,
    Login,
    AcceptInvite,
}

impl AccountFlow {
    /// The name their audit records carry.
    pub fn audit_name(self) -> &'static str {
        match self {
            Self::Setup => "auth_setup",
            Self::Login => "auth_login",
            Self::AcceptInvite => "auth_accept_invite",
        }
    }
}

impl Dispatcher {
    /// Runs an account flow and records it in the audit log (as the user it signed in, or
    /// anonymous), whatever the outcome. Like dispatch, it fails closed: a flow whose record
    /// cannot be written reports an error.
    fn audited(
        &self,
        flow: &'static str,
        args: Value,
        run: impl FnOnce() -> Result<IssuedSession, ToolError>,
    ) -> Result<IssuedSession, ToolError> {
        self.audited_as(
            flow,
            args,
            |r| r.as_ref().ok().map(|s| format!("user:{}", s.user.id)),
            run,
        )
    }

    /// A request to an account flow refused before the flow could run (a body that is not
    /// what the endpoint takes): audited like the flow, and answered with `error`.
    pub fn account_refused(&self, flow: AccountFlow, error: ToolError) -> ToolError {
        let refused: Result<(), ToolError> = self.audited_as(
            flow.audit_name(),
            json!({"refused": "malformed request"}),
            |_| None,
            || Err(error),
        );
        refused
            .err()
            .unwrap_or_else(|| ToolError::internal("a refusal succeeded"))
    }

    /// [`Self::audited`] for any flow: `who` names the principal from the outcome.
    fn audited_as<T>(
        &self,
        flow: &'static str,
        args: Value,
        who: impl FnOnce(&Result<T, ToolError>) -> Option<String>,
        run: impl FnOnce() -> Result<T, ToolError>,
    ) -> Result<T, ToolError> {
        let started = Instant::now();
        let result = run();
        let (outcome, kind) = match &result {
            Ok(_) => ("ok", None),
            Err(e) => ("error", Some(e.kind.as_str())),
        };
        let principal = who(&result).unwrap_or_else(|| "anonymous".to_owned());
        let at = now_rfc3339();
        let entry = AuditEntry {
            at: &at,
            principal: &principal,
            adapter: "rest",
            tool: flow,
            args: &args,
            outcome,
            error_kind: kind,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        if let Err(e) = self.services().store.audit_append(&entry) {
            return Err(ToolError::internal(format!("audit append failed ({flow}): {e}")));
        }
        result
    }

    /// Creates a session for `user` and signs its first access token.
    fn issue(&self, user: &UserRow, client: &ClientInfo) -> Result<IssuedSession, ToolError> {
        let store = &self.services().store;
        let refresh = random_token();
        let session = store.session_insert(
            &user.id,
            &hash_key(&refresh),
            &client.user_agent.chars().take(200).collect::<String>(),
            &client.address,
            &rfc3339_after(REFRESH_TTL),
        )?;
        store.user_touch_login(&user.id)?;
        self.sign(user, &session, refresh)
    }

    fn sign(
        &self,
        user: &UserRow,
        session: &crate::domain::SessionId,
        refresh: String,
    ) -> Result<IssuedSession, ToolError> {
        let now = OffsetDateTime::now_utc();
        let csrf = random_token();
        let access = self
            .services()
            .session_keys
            .sign(&AccessClaims {
                sub: user.id.to_string(),
                sid: session.to_string(),
                csrf: csrf.clone(),
                iat: now.unix_timestamp(),
                exp: (now + ACCESS_TTL).unix_timestamp(),
            })
            .map_err(ToolError::internal)?;
        Ok(IssuedSession {
            access,
            refresh,
            csrf,
            user: UserView::from(user),
        })
    }

    /// Creates the owner on a server without users. Only the bootstrap key may do this,
    /// and only once.
    pub fn setup(
        &self,
        creds: &Credentials,
        email: &str,
        password: &str,
        name: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession, ToolError> {
        self.audited(AccountFlow::Setup.audit_name(), json!({"email": email}), || {
            self.setup_inner(creds, email, password, name, client)
        })
    }

    fn setup_inner(
        &self,
        creds: &Credentials,
        email: &str,
        password: &str,
        name: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession, ToolError> {
        let store = &self.services().store;
        let principal = self.authenticate(creds)?;
        let bootstrap = store.setting_get(BOOTSTRAP_KEY_SETTING)?;
        let is_bootstrap = matches!(&principal.id, PrincipalId::Key(k) if Some(k.as_str()) == bootstrap.as_deref());
        if !is_bootstrap {
            return Err(ToolError::forbidden(
                "setup needs the bootstrap token from the server's data directory",
            ));
        }
        if store.user_count()? > 0 {
            return Err(ToolError::conflict("sh0 is set up already: log in instead"));
        }
        let email = Email::try_from(email.to_owned()).map_err(ToolError::invalid)?;
        crate::auth::check_policy(password, email.as_str()).map_err(ToolError::invalid)?;
        let hash = hash_password(password).map_err(ToolError::internal)?;
        let id = store.user_insert(&NewUser {
            email: &email,
            name: name.trim(),
            password_hash: &hash,
            role: Role::Owner,
            projects: &[],
        })?;
        let user = store
            .user_get(&id)?
            .ok_or_else(|| ToolError::internal("new user vanished"))?;
        self.issue(&user, client)
    }

    /// Password login, with a TOTP or backup code when the account has 2FA.
    pub fn login(
        &self,
        email: &str,
        password: &str,
        code: Option<&str>,
        client: &ClientInfo,
    ) -> Result<IssuedSession, ToolError> {
        let args = json!({"email": email, "address": client.address});
        self.audited(AccountFlow::Login.audit_name(), args, || {
            self.login_inner(email, password, code, client)
        })
    }

    fn login_inner(
        &self,
        email: &str,
        password: &str,
        code: Option<&str>,
        client: &ClientInfo,
    ) -> Result<IssuedSession, ToolError> {
        let services = self.services();
        let limits = &services.limiters;
        let account_key = email.trim().to_lowercase();
        // Both limits are checked before any work, whether or not the account exists.
        limits
            .login_address
            .check(&client.address)
            .and_then(|()| limits.login_account.check(&account_key))
            .map_err(|wait| ToolError::rate_limited("login attempts", wait))?;
        let user = match Email::try_from(email.to_owned()) {
            Ok(e) => services.store.user_by_email(&e)?,
            Err(_) => None,
        };
        let verified = match &user {
            Some(u) => verify_password(&services.store.user_secrets(&u.id)?.password_hash, password),
            None => {
                verify_nothing(password);
                false
            }
        };
        let Some(user) = user.filter(|_| verified) else {
            limits.login_address.fail(&client.address);
            limits.login_account.fail(&account_key);
            return Err(wrong_credentials());
        };
        if user.totp_enabled {
            let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
                return Err(ToolError::new(
                    ErrorKind::SecondFactorRequired,
                    "enter the 6-digit code from your authenticator app, or a backup code",
                ));
            };
            self.check_second_factor(&user.id, code)?;
        }
        limits.login_account.clear(&account_key);
        self.issue(&user, client)
    }

    fn check_second_factor(&self, user: &UserId, code: &str) -> Result<(), ToolError> {
        verify_second_factor(self.services(), user, code)
    }

    /// Swaps a refresh token for a new one and a new access token. A refresh token
    /// presented a second time ends its session.
    pub fn refresh(&self, refresh: &str) -> Result<IssuedSession, ToolError> {
        self.audited("auth_refresh", json!({}), || self.refresh_inner(refresh))
    }

    fn refresh_inner(&self, refresh: &str) -> Result<IssuedSession, ToolError> {
        let store = &self.services().store;
        let fresh = random_token();
        let expires = rfc3339_after(REFRESH_TTL);
        match store.session_refresh(&hash_key(refresh), &hash_key(&fresh), &expires)? {
            Refreshed::Rotated(session) => {
                let user = store
                    .user_get(&session.user_id)?
                    .ok_or_else(ToolError::unauthenticated)?;
                self.sign(&user, &session.id, fresh)
            }
            Refreshed::Reused => {
                tracing::warn!("a refresh token was used twice; its session is revoked");
                Err(ToolError::new(
                    ErrorKind::Unauthenticated,
                    "this session was ended because its refresh token was used twice; log in again",
                ))
            }
            Refreshed::Invalid => Err(ToolError::unauthenticated()),
        }
    }

    /// Ends the session a refresh token or an access token belongs to. Idempotent.
    pub fn logout(&self, access: Option<&str>, refresh: Option<&str>) -> Result<(), ToolError> {
        let claims = access.and_then(|a| self.services().session_keys.verify(a).ok());
        let who = claims.as_ref().map(|c| format!("user:{}/{}", c.sub, c.sid));
        self.audited_as("auth_logout", json!({}), |_| who, || self.logout_inner(claims, refresh))
    }

    fn logout_inner(&self, claims: Option<crate::auth::AccessClaims>, refresh: Option<&str>) -> Result<(), ToolError> {
        let store = &self.services().store;
        if let Some(claims) = claims
            && let Ok(sid) = crate::domain::SessionId::try_from(claims.sid)
        {
            store.session_revoke(&sid)?;
        }
        if let Some(r) = refresh {
            // Revoke by digest: rotating to a fresh token that nobody holds ends it.
            if let Refreshed::Rotated(s) =
                store.session_refresh(&hash_key(r), &hash_key(&random_token()), &now_rfc3339())?
            {
                store.session_revoke(&s.id)?;
            }
        }
        Ok(())
    }

    /// Who the credentials belong to: the user (if any), role, scope, reachable projects.
    pub fn me(&self, creds: &Credentials) -> Result<Value, ToolError> {
        let p = self.authenticate(creds)?;
        let who = p.id.to_string();
        self.audited_as("auth_me", json!({}), |_| Some(who), || self.me_inner(&p))
    }

    fn me_inner(&self, p: &super::Principal) -> Result<Value, ToolError> {
        let store = &self.services().store;
        let user = match &p.user {
            Some(u) => store.user_get(u)?.map(|u| UserView::from(&u)),
            None => None,
        };
        let projects: Vec<String> = store
            .project_list()?
            .into_iter()
            .filter(|proj| p.reaches(&proj.id))
            .map(|proj| proj.name.to_string())
            .collect();
        Ok(json!({
            "user": user,
            "credential": match &p.id {
                PrincipalId::Key(k) => json!({"kind": "api_key", "id": k}),
                PrincipalId::Session { session, .. } => json!({"kind": "session", "id": session}),
                PrincipalId::Schedule { schedule, .. } => json!({"kind": "schedule", "id": schedule}),
                PrincipalId::System(task) => json!({"kind": "system", "id": task.as_str()}),
                PrincipalId::Hook { hook, .. } => json!({"kind": "hook", "id": hook}),
                PrincipalId::Grant { grant, .. } => json!({"kind": "oauth_grant", "id": grant}),
                PrincipalId::Chat { conversation, .. } => json!({"kind": "chat", "id": conversation}),
            },
            "role": p.role,
            "scope": p.scope,
            "every_project": p.access.unlimited(),
            "projects": projects,
            "must_enrol_2fa": p.must_enrol_2fa,
        }))
    }

    /// Creates the invited user and logs them in. Every failure reads the same, so an
    /// invitation link reveals nothing about other accounts.
    pub fn accept_invite(
        &self,
        token: &str,
        password: &str,
        name: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession, ToolError> {
        self.audited(AccountFlow::AcceptInvite.audit_name(), json!({}), || {
            self.accept_inner(token, password, name, client)
        })
    }

    fn accept_inner(
        &self,
        token: &str,
        password: &str,
        name: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession, ToolError> {
        let services = self.services();
        let unusable = || ToolError::not_found("this invitation is unknown, used or expired");
        services
            .limiters
            .login_address
            .check(&client.address)
            .map_err(|wait| ToolError::rate_limited("attempts", wait))?;
        let Some(invite) = services.store.invite_find(&hash_key(token))? else {
            services.limiters.login_address.fail(&client.address);
            return Err(unusable());
        };
        crate::auth::check_policy(password, invite.email.as_str()).map_err(ToolError::invalid)?;
        let hash = hash_password(password).map_err(ToolError::internal)?;
        let id = services
            .store
            .invite_accept(&invite, name.trim(), &hash)
            .map_err(|e| match e {
                crate::store::StoreError::Sqlite(_)
                | crate::store::StoreError::Corrupt(_)
                | crate::store::StoreError::File(_) => ToolError::from(e),
                _ => unusable(),
            })?;
        let user = services
            .store
            .user_get(&id)?
            .ok_or_else(|| ToolError::internal("new user vanished"))?;
        self.issue(&user, client)
    }
}

/// Accepts a current TOTP code (once) or an unused backup code, under the second-factor
/// attempt limit. Login and the account tools that need a code share it.
pub fn verify_second_factor(services: &super::Services, user: &UserId, code: &str) -> Result<(), ToolError> {
    if second_factor_attempt(services, user, || second_factor_ok(services, user, code))? {
        Ok(())
    } else {
        Err(ToolError::new(
            ErrorKind::Unauthenticated,
            "the two-factor code is wrong or was used already",
        ))
    }
}

/// Runs one second-factor guess under the per-user attempt limit: refused while locked,
/// a wrong guess (`false`) counts, a right one clears the count, an error leaves it alone.
pub fn second_factor_attempt(
    services: &super::Services,
    user: &UserId,
    guess: impl FnOnce() -> Result<bool, ToolError>,
) -> Result<bool, ToolError> {
    let limit = &services.limiters.second_factor;
    limit
        .check(user.as_str())
        .map_err(|wait| ToolError::rate_limited("two-factor codes", wait))?;
    let right = guess()?;
    if right {
        limit.clear(user.as_str());
    } else {
        limit.fail(user.as_str());
    }
    Ok(right)
}

fn second_factor_ok(services: &super::Services, user: &UserId, code: &str) -> Result<bool, ToolError> {
    let secrets = services.store.user_secrets(user)?;
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        let Some(sealed) = secrets.totp_sealed else {
            return Ok(false);
        };
        let secret = services
            .master_key
            .open(&sealed, &crate::auth::totp_context(user))
            .map_err(ToolError::internal)?;
        let now = OffsetDateTime::now_utc().unix_timestamp() as u64;
        return Ok(
            match crate::auth::totp::accept(&secret, &digits, now, secrets.totp_last_step) {
                // Recorded only if newer than the last accepted step: a racing replay loses.
                Some(step) => services.store.totp_use_step(user, step)?,
                None => false,
            },
        );
    }
    let normalized = crate::auth::normalize_backup_code(code);
    Ok(normalized.len() == 12 && services.store.backup_code_use(user, &hash_key(&normalized))?)
}
