//! Pure domain types: identifiers, validated names, and the rules that need no I/O.
//! Everything else depends on this module; it depends on nothing of sh0.

/// `as_str`, `Display` and `TryFrom<String>` for an enum stored and shown as text.
macro_rules! text_enum {
    ($ty:ty { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
        }
        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                match s.as_str() {
                    $($text => Ok(Self::$variant),)*
                    _ => Err(format!("unknown {} `{s}`", stringify!($ty).to_lowercase())),
                }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod access;
pub mod certificate;
pub use certificate::{AcmeState, CertSource};
pub mod hostname;
pub use hostname::DomainName;
pub mod ids;
pub mod names;
pub mod secret;

pub use access::{Role, Scope};
pub use ids::{
    AppId, CertificateId, DeploymentId, DomainId, HookId, InviteId, JobId, KeyId, ProjectId, ScheduleId, SessionId,
    UploadId, UserId,
};
pub mod email;
pub use email::Email;
pub use names::{EnvKey, ResourceName, ResourceRef};
pub use secret::SecretString;
pub mod model;
pub use model::{App, Project, RestartPolicy, now_rfc3339, rfc3339, rfc3339_after};
pub mod timestamp;
pub use timestamp::Timestamp;
pub mod deployment;
pub use deployment::{Deployment, DeploymentStatus, HealthCheck, SourceKind, Trigger};
pub mod job;
pub use job::{CronSpec, Initiator, JobKind, JobStatus};
pub mod untrusted;
pub use untrusted::UntrustedText;
