//! Pure domain types: identifiers, validated names, and the rules that need no I/O.
//! Everything else depends on this module; it depends on nothing of sh0.

/// `as_str` and `TryFrom<String>` (the store's column reader) for an enum stored and shown
/// as text, which derives strum's `IntoStaticStr`, `EnumString` and `Display` with the
/// same case as its serde names.
macro_rules! text_enum {
    ($ty:ty) => {
        impl $ty {
            /// The name it is stored and shown under (strum's, the same as serde's).
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }
        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
                    .map_err(|_| format!("unknown {} `{s}`", stringify!($ty).to_lowercase()))
            }
        }
    };
}

pub mod access;
pub mod certificate;
pub mod chat;
pub use certificate::{AcmeState, CertSource};
pub mod git;
pub use git::{CommitSha, DeliveryVerdict, Forge, GitBranch, GitCommit, GitUrl, RepoPath};
pub mod hostname;
pub use hostname::DomainName;
pub mod ids;
pub mod names;
pub mod secret;

pub use access::{Role, Scope};
pub use ids::{
    AppId, ApprovalId, AuthRequestId, BackupId, CertificateId, ConversationId, DatabaseId, DeploymentId, DomainId,
    GrantId, HookId, InviteId, JobId, KeyId, ProjectId, ScheduleId, SessionId, UploadId, UserId,
};
pub mod email;
pub use email::Email;
pub use names::{EnvKey, ResourceName, ResourceRef};
pub use secret::{SecretString, ShownOnce};
pub mod model;
pub use model::{App, Project, RestartPolicy, now_rfc3339, rfc3339, rfc3339_after};
pub mod timestamp;
pub use timestamp::Timestamp;
pub mod backup;
pub use backup::{Backup, BackupStatus, Destination, DestinationKind};
pub mod database;
pub mod retention;
pub use database::{Database, DatabaseRef, Engine};
pub use retention::Retention;
pub mod deployment;
pub mod diagnosis;
pub use deployment::{Deployment, DeploymentStatus, HealthCheck, SourceKind, Trigger};
pub mod job;
pub use job::{CronSpec, Initiator, JobKind, JobStatus};
pub mod untrusted;
pub use untrusted::UntrustedText;
