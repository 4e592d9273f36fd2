//! Turning credentials into a principal: API keys (by digest), browser sessions (a signed
//! access token naming a live session). A key of a user acts with the lesser of the key's
//! and the user's current role, so demoting or removing a user reaches their keys at once.

use subtle::ConstantTimeEq;

use super::{Credentials, Principal, PrincipalId, ProjectAccess, Services, ToolError};
use crate::auth::hash_key;
use crate::domain::{ProjectId, Role, ScheduleId, Scope, SessionId, UserId};
use crate::store::StoreResult;

/// The setting that makes 2FA mandatory for every user.
pub const REQUIRE_2FA_SETTING: &str = "require_2fa";

/// A principal, and for sessions the CSRF token the request must echo to change anything.
pub(super) struct Authenticated {
    pub principal: Principal,
    pub csrf: Option<CsrfCheck>,
}

/// Whether the request may change something: bearer credentials carry no ambient
/// authority; a session must echo its CSRF token.
pub(super) fn csrf_passes(csrf: Option<&CsrfCheck>) -> bool {
    csrf.is_none_or(CsrfCheck::passes)
}

/// The CSRF token a session signed into its access token, and the one the request sent.
pub(super) struct CsrfCheck {
    pub expected: String,
    pub presented: Option<String>,
}

impl CsrfCheck {
    pub fn passes(&self) -> bool {
        self.presented
            .as_deref()
            .is_some_and(|p| bool::from(p.as_bytes().ct_eq(self.expected.as_bytes())))
    }
}

pub(super) fn authenticate(services: &Services, creds: &Credentials) -> Result<Authenticated, ToolError> {
    match creds {
        Credentials::None => Err(ToolError::unauthenticated()),
        Credentials::Bearer(token) => Ok(Authenticated {
            principal: by_key(services, token)?,
            csrf: None,
        }),
        Credentials::Schedule(id) => Ok(Authenticated {
            principal: by_schedule(services, id)?,
            csrf: None,
        }),
        // sh0's own maintenance: every project (it keeps all of them running), and only
        // its task's permissions (`Principal::holds`).
        Credentials::System(task) => Ok(Authenticated {
            principal: Principal {
                id: PrincipalId::System(*task),
                user: None,
                role: Role::Owner,
                scope: Scope::Admin,
                access: ProjectAccess {
                    every_project: true,
                    ..ProjectAccess::default()
                },
                must_enrol_2fa: false,
            },
            csrf: None,
        }),
        Credentials::Hook { hook, token } => Ok(Authenticated {
            principal: by_hook(services, hook, token)?,
            csrf: None,
        }),
        Credentials::Grant { token, resource } => Ok(Authenticated {
            principal: by_grant(services, token, resource)?,
            csrf: None,
        }),
        Credentials::Session { access, csrf, .. } => {
            let (principal, expected) = by_session(services, access)?;
            Ok(Authenticated {
                principal,
                csrf: Some(CsrfCheck {
                    expected,
                    presented: csrf.clone(),
                }),
            })
        }
    }
}

fn access_for(services: &Services, user: Option<&UserId>, role: Role) -> StoreResult<ProjectAccess> {
    Ok(ProjectAccess {
        every_project: role >= Role::Admin,
        members_of: match user {
            Some(u) if role < Role::Admin => services.store.user_projects(u)?.into_iter().collect(),
            _ => Default::default(),
        },
        only: None,
    })
}

fn by_key(services: &Services, token: &str) -> Result<Principal, ToolError> {
    // Only the digest is compared, through an indexed lookup on a uniformly random
    // 256-bit hash, so timing reveals nothing useful about the key.
    let key = services.store.key_by_hash(&hash_key(token))?;
    let Some(k) = key.filter(|k| k.revoked_at.is_none() && !k.expired_at(time::OffsetDateTime::now_utc())) else {
        return Err(ToolError::unauthenticated());
    };
    let role = match &k.user_id {
        Some(u) => match services.store.user_get(u)? {
            Some(user) => k.role.min(user.role),
            None => return Err(ToolError::unauthenticated()),
        },
        None => k.role,
    };
    let mut access = access_for(services, k.user_id.as_ref(), role)?;
    access.only = k.project_id.clone();
    Ok(Principal {
        id: PrincipalId::Key(k.id),
        user: k.user_id,
        role,
        scope: k.scope,
        access,
        must_enrol_2fa: false,
    })
}

/// A schedule acts as its owner with the owner's current role (demote the user and the
/// schedule is demoted too), never beyond the role and scope of the credential that made it. A stopped
/// schedule, or one whose owner is gone, cannot act at all.
fn by_schedule(services: &Services, id: &ScheduleId) -> Result<Principal, ToolError> {
    let refused = |why: &str| ToolError::new(super::ErrorKind::Unauthenticated, why);
    let schedule = match services.store.schedule_find(id.as_str()) {
        Ok(s) => s,
        Err(crate::store::StoreError::NotFound(_)) => return Err(refused("the schedule no longer exists")),
        Err(e) => return Err(e.into()),
    };
    if !schedule.enabled {
        return Err(refused("the schedule is stopped"));
    }
    let Some(owner) = services.store.user_get(&schedule.owner_id)? else {
        return Err(refused("the schedule's owner was removed"));
    };
    // Never more than the credential that made it, never more than the owner now.
    let role = owner.role.min(schedule.role);
    Ok(Principal {
        access: access_for(services, Some(&owner.id), role)?,
        id: PrincipalId::Schedule {
            schedule: schedule.id,
            user: owner.id.clone(),
        },
        user: Some(owner.id),
        role,
        scope: schedule.scope,
        must_enrol_2fa: false,
    })
}

/// A hook acts as itself, in its app's project only, with the lesser of its maker's
/// current role and the role it was made with (never more than `developer`), and holds
/// only the permission to deploy (`Principal::holds`). A wrong token and an unknown hook
/// get the same answer; a hook whose maker was removed acts no more.
fn by_hook(services: &Services, id: &crate::domain::HookId, token: &str) -> Result<Principal, ToolError> {
    let refused = |why: &str| ToolError::new(super::ErrorKind::Unauthenticated, why);
    let Some((hook, digest)) = services.store.hook_get(id)? else {
        return Err(refused("the hook's URL or token is wrong"));
    };
    if !bool::from(hash_key(token).as_bytes().ct_eq(digest.as_bytes())) {
        return Err(refused("the hook's URL or token is wrong"));
    }
    let Some(maker) = services.store.user_get(&hook.created_by)? else {
        return Err(refused("the user who made this hook was removed; make a new one"));
    };
    let app = services
        .store
        .app_find(&crate::domain::ResourceRef::App(hook.app_id.clone()))?;
    let role = maker.role.min(hook.role).min(Role::Developer);
    let mut access = access_for(services, Some(&maker.id), maker.role)?;
    access.only = Some(app.project_id);
    Ok(Principal {
        id: PrincipalId::Hook {
            hook: hook.id,
            user: maker.id.clone(),
        },
        user: Some(maker.id),
        role,
        scope: Scope::Write,
        access,
        must_enrol_2fa: false,
    })
}

/// An OAuth access token: its grant must be live and made for the resource the request
/// reached (a token for another audience is refused). It acts as the grant's user with the
/// user's current role, at most the granted scope, and in the granted project only.
fn by_grant(services: &Services, token: &str, resource: &str) -> Result<Principal, ToolError> {
    let Some(g) = services.store.oauth_grant_by_access(&hash_key(token))? else {
        return Err(ToolError::unauthenticated());
    };
    if g.resource != resource.trim_end_matches('/') {
        return Err(ToolError::new(
            super::ErrorKind::Unauthenticated,
            "this token was issued for another resource",
        ));
    }
    let Some(user) = services.store.user_get(&g.user_id)? else {
        return Err(ToolError::unauthenticated());
    };
    let mut access = access_for(services, Some(&user.id), user.role)?;
    access.only = g.project_id;
    // A user who must set up 2FA first cannot get around it through an agent.
    let required = services.store.setting_get(REQUIRE_2FA_SETTING)?.as_deref() == Some("true");
    Ok(Principal {
        id: PrincipalId::Grant {
            grant: g.id,
            user: user.id.clone(),
        },
        user: Some(user.id),
        role: user.role,
        scope: g.scope,
        access,
        must_enrol_2fa: required && !user.totp_enabled,
    })
}

fn by_session(services: &Services, access: &str) -> Result<(Principal, String), ToolError> {
    let claims = services
        .session_keys
        .verify(access)
        .map_err(|_| ToolError::unauthenticated())?;
    let (Ok(session), Ok(user)) = (SessionId::try_from(claims.sid), UserId::try_from(claims.sub)) else {
        return Err(ToolError::unauthenticated());
    };
    // Revocation takes effect at once: the session row is read on every request.
    let live = services
        .store
        .session_get(&session)?
        .is_some_and(|s| s.user_id == user && s.active_at(time::OffsetDateTime::now_utc()));
    let Some(row) = live.then(|| services.store.user_get(&user)).transpose()?.flatten() else {
        return Err(ToolError::unauthenticated());
    };
    let required = services.store.setting_get(REQUIRE_2FA_SETTING)?.as_deref() == Some("true");
    let principal = Principal {
        access: access_for(services, Some(&user), row.role)?,
        id: PrincipalId::Session {
            user: user.clone(),
            session,
        },
        user: Some(user),
        role: row.role,
        scope: Scope::Admin,
        must_enrol_2fa: required && !row.totp_enabled,
    };
    Ok((principal, claims.csrf))
}

/// Projects a user may be given: each must exist.
pub fn resolve_projects(services: &Services, refs: &[crate::domain::ResourceRef]) -> Result<Vec<ProjectId>, ToolError> {
    refs.iter()
        .map(|r| services.store.project_find(r).map(|p| p.id).map_err(ToolError::from))
        .collect()
}
