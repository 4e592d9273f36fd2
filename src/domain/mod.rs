//! Pure domain types: identifiers, validated names, and the rules that need no I/O.
//! Everything else depends on this module; it depends on nothing of sh0.

pub mod access;
pub mod ids;
pub mod names;
pub mod secret;

pub use access::{Role, Scope};
pub use ids::{AppId, KeyId, ProjectId};
pub use names::{EnvKey, ResourceName, ResourceRef};
pub use secret::SecretString;
pub mod model;
pub use model::{App, Project, now_rfc3339};
