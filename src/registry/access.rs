//! Project access, decided before a tool runs: the project a call reaches is found from the
//! input property its metadata names, and a caller outside that project gets exactly the
//! answer a missing resource gets, so a denial does not even reveal that the resource
//! exists. Listing tools filter with `Principal::reaches` themselves.

use serde_json::Value;

use super::{Permission, Principal, ResourceKind, Safety, Target, ToolError, ToolMeta};
use crate::domain::{DeploymentId, DomainName, ProjectId, ResourceRef, Role, Scope};
use crate::store::Store;

/// Refuses a key limited to one project what reaches beyond it: a server-wide change, and
/// a server-wide view meant for administrators or for credentials (the audit log, users,
/// keys, sessions), which would show other projects. Like the permission check, it
/// depends only on the tool, so it comes before the input is looked at.
pub(super) fn check_limit(principal: &Principal, meta: &ToolMeta) -> Result<(), ToolError> {
    if principal.access.only.is_none() {
        return Ok(());
    }
    if matches!(meta.permission, Permission::JobsRead | Permission::JobsWrite) {
        // Schedules and jobs belong to the user, across projects.
        return Err(ToolError::forbidden(format!(
            "`{}` reaches your schedules and jobs in every project, and this key is limited to one project",
            meta.name
        )));
    }
    if meta.target != Target::Server {
        return Ok(());
    }
    if meta.safety != Safety::Read {
        return Err(ToolError::forbidden(format!(
            "`{}` changes the whole server, and this key is limited to one project",
            meta.name
        )));
    }
    if meta.permission.min_role() >= Role::Admin || meta.permission.min_scope() == Scope::Admin {
        return Err(ToolError::forbidden(format!(
            "`{}` shows the whole server, and this key is limited to one project",
            meta.name
        )));
    }
    Ok(())
}

/// Refuses a call that reaches a project the principal may not reach.
pub(super) fn check(store: &Store, principal: &Principal, meta: &ToolMeta, args: &Value) -> Result<(), ToolError> {
    match meta.target {
        Target::Server | Target::Listing => Ok(()),
        Target::Resource { field, resource } => match args.get(field).and_then(Value::as_str) {
            None => Ok(()),
            Some(value) => match project_of(store, resource, value) {
                Some(p) if principal.reaches(&p) => Ok(()),
                _ => Err(missing(resource, value)),
            },
        },
    }
}

/// The one answer for "no such resource" and "not yours".
fn missing(resource: ResourceKind, value: &str) -> ToolError {
    let kind = match resource {
        ResourceKind::Project => "project",
        ResourceKind::App => "app",
        ResourceKind::Deployment => "deployment",
        ResourceKind::Domain => "domain",
        ResourceKind::Database => "database",
        ResourceKind::Backup => "backup",
    };
    ToolError::not_found(format!(
        "{kind} `{}` not found",
        value.chars().take(80).collect::<String>()
    ))
}

/// The project holding a resource, or `None` when there is no such resource (or the store
/// fails, which is logged and answered as not found: refusing is the safe side).
fn project_of(store: &Store, resource: ResourceKind, value: &str) -> Option<ProjectId> {
    let found = match resource {
        ResourceKind::Project => {
            let r = ResourceRef::try_from(value.to_owned()).ok()?;
            store.project_find(&r).map(|p| p.id)
        }
        ResourceKind::App => {
            let r = ResourceRef::try_from(value.to_owned()).ok()?;
            store.app_find(&r).map(|a| a.project_id)
        }
        ResourceKind::Deployment => {
            let id = DeploymentId::try_from(value.to_owned()).ok()?;
            store
                .deployment_get(&id)
                .and_then(|d| store.app_find(&ResourceRef::App(d.deployment.app_id)))
                .map(|a| a.project_id)
        }
        ResourceKind::Database => {
            let r = crate::domain::DatabaseRef::try_from(value.to_owned()).ok()?;
            store.database_find(&r).map(|d| d.project_id)
        }
        ResourceKind::Backup => {
            let id = crate::domain::BackupId::try_from(value.to_owned()).ok()?;
            store.backup_get(&id).map(|b| b.project_id)
        }
        ResourceKind::Domain => {
            let name = DomainName::try_from(value.to_owned()).ok()?;
            let row = store.domain_get(&name).ok()??;
            store.app_find(&ResourceRef::App(row.app_id)).map(|a| a.project_id)
        }
    };
    match found {
        Ok(p) => Some(p),
        Err(crate::store::StoreError::NotFound(_)) => None,
        Err(e) => {
            tracing::error!(error = %e, "resolving the project of a call failed");
            None
        }
    }
}
