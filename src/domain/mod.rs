//! Pure domain types: identifiers, validated names, and the rules that need no I/O.
//! Everything else depends on this module; it depends on nothing of sh0.

pub mod access;
pub mod certificate;
pub use certificate::{AcmeState, CertSource};
pub mod hostname;
pub use hostname::DomainName;
pub mod ids;
pub mod names;
pub mod secret;

pub use access::{Role, Scope};
pub use ids::{AppId, CertificateId, DeploymentId, DomainId, KeyId, ProjectId, UploadId};
pub use names::{EnvKey, ResourceName, ResourceRef};
pub use secret::SecretString;
pub mod model;
pub use model::{App, Project, RestartPolicy, now_rfc3339};
pub mod deployment;
pub use deployment::{Deployment, DeploymentStatus, HealthCheck, SourceKind, Trigger};
pub mod untrusted;
pub use untrusted::UntrustedText;
