//! The built-in tools, one file per domain. Adding a tool here is all it takes for it to
//! appear in MCP, REST, OpenAPI, the CLI and the catalog.

mod account;
mod ai;
mod apps;
mod audit;
mod backup_destinations;
mod backup_schedules;
mod backups;
mod base_images;
mod certs;
mod chat;
mod checks;
mod database_access;
mod databases;
mod deployments;
mod diagnose;
mod domain_verify;
mod domains;
mod env;
mod git;
mod hooks;
mod jobs;
mod keys;
mod oauth;
mod previews;
mod projects;
mod runtime;
mod schedules;
pub mod secrets;
mod security_policy;
mod system;
mod traffic;
mod users;
mod webhooks;

use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

use crate::registry::{DynTool, erase};

// The input of tools that take none (no doc comment: it would become schema text).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

/// The registry of every built-in tool: the composition root (`main`, the server) hands it
/// to the dispatcher and the adapters; the registry itself knows no tool.
pub fn registry() -> crate::registry::Registry {
    crate::registry::Registry::new(all())
}

pub fn all() -> Vec<Arc<dyn DynTool>> {
    vec![
        erase(system::SystemInfo),
        erase(projects::ProjectCreate),
        erase(projects::ProjectList),
        erase(projects::ProjectGet),
        erase(projects::ProjectUpdate),
        erase(projects::ProjectDelete),
        erase(apps::AppCreate),
        erase(apps::AppList),
        erase(apps::AppGet),
        erase(apps::AppUpdate),
        erase(apps::AppDelete),
        erase(deployments::AppDeploy),
        erase(deployments::DeploymentGet),
        erase(deployments::DeploymentList),
        erase(deployments::DeploymentCancel),
        erase(deployments::AppRollback),
        erase(diagnose::DeploymentDiagnose),
        erase(diagnose::DeploymentExplain),
        erase(ai::AiSettingsGet),
        erase(ai::AiSettingsSet),
        erase(chat::ChatCreate),
        erase(chat::ChatList),
        erase(chat::ChatGet),
        erase(chat::ChatDelete),
        erase(chat::ChatSend),
        erase(chat::ChatApprove),
        erase(chat::ChatPolicySet),
        erase(runtime::AppStart),
        erase(runtime::AppStop),
        erase(runtime::AppRestart),
        erase(runtime::AppLogs),
        erase(env::EnvSet),
        erase(env::EnvUnset),
        erase(env::EnvList),
        erase(audit::AuditList),
        erase(audit::AuditVerify),
        erase(keys::KeyCreate),
        erase(keys::KeyList),
        erase(keys::KeyRevoke),
        erase(secrets::SecretsRotate),
        erase(checks::ProjectCheck),
        erase(domains::DomainAdd),
        erase(domains::DomainList),
        erase(domains::DomainRemove),
        erase(domain_verify::DomainVerify),
        erase(certs::CertList),
        erase(certs::CertUpload),
        erase(certs::CertDelete),
        erase(certs::CertRenew),
        erase(traffic::AppTraffic),
        erase(users::UserInvite),
        erase(users::UserList),
        erase(users::UserUpdateRole),
        erase(users::UserRemove),
        erase(security_policy::SecurityPolicyGet),
        erase(security_policy::SecurityPolicySet),
        erase(base_images::BaseImagesList),
        erase(base_images::BaseImagesSet),
        erase(account::SessionList),
        erase(account::SessionRevoke),
        erase(account::TotpEnroll),
        erase(account::TotpConfirm),
        erase(account::TotpDisable),
        erase(oauth::OAuthConsent),
        erase(oauth::OAuthGrantList),
        erase(oauth::OAuthGrantRevoke),
        erase(schedules::ScheduleCreate),
        erase(schedules::ScheduleList),
        erase(schedules::ScheduleGet),
        erase(schedules::ScheduleUpdate),
        erase(schedules::ScheduleDelete),
        erase(hooks::HookCreate),
        erase(hooks::HookList),
        erase(hooks::HookDelete),
        erase(jobs::JobList),
        erase(jobs::JobGet),
        erase(jobs::JobCancel),
        erase(git::AppGitSet),
        erase(git::AppGitGet),
        erase(git::AppGitUnset),
        erase(git::DeployKeyGet),
        erase(git::DeployKeyRotate),
        erase(webhooks::WebhookGet),
        erase(webhooks::WebhookRotate),
        erase(webhooks::WebhookDeliveries),
        erase(previews::PreviewList),
        erase(previews::PreviewDeploy),
        erase(previews::PreviewClose),
        erase(databases::DatabaseCreate),
        erase(databases::DatabaseList),
        erase(databases::DatabaseGet),
        erase(databases::DatabaseStart),
        erase(databases::DatabaseStop),
        erase(databases::DatabaseRestart),
        erase(databases::DatabaseDelete),
        erase(database_access::DatabaseCredentials),
        erase(database_access::DatabaseLink),
        erase(database_access::DatabaseQuery),
        erase(backups::BackupCreate),
        erase(backups::BackupList),
        erase(backups::BackupGet),
        erase(backups::BackupRestore),
        erase(backups::BackupDelete),
        erase(backup_schedules::BackupScheduleSet),
        erase(backup_destinations::DestinationAdd),
        erase(backup_destinations::DestinationList),
        erase(backup_destinations::DestinationTest),
        erase(backup_destinations::DestinationRemove),
    ]
}
