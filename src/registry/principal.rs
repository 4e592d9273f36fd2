//! Who is calling. Adapters only extract `Credentials` from their transport; turning them
//! into a `Principal` is dispatch's job, so every adapter authenticates the same way.
//! Users with sessions arrive as another `PrincipalId` variant and `Credentials` kind.

use crate::domain::{KeyId, Role, Scope};

/// What a request presented.
#[derive(Clone, Default)]
pub enum Credentials {
    #[default]
    None,
    /// `Authorization: Bearer <api key>`.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("Credentials::None"),
            Self::Bearer(_) => f.write_str("Credentials::Bearer([redacted])"),
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
}

impl std::fmt::Display for PrincipalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key(id) => write!(f, "key:{id}"),
        }
    }
}

/// An authenticated caller: identity, role, and the scope its credential grants.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: PrincipalId,
    pub role: Role,
    pub scope: Scope,
}
