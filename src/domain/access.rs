//! Roles and key scopes: the vocabulary of access. The policy that combines them with a
//! tool's permission lives in the registry; these are only the values.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A server-wide role, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    Viewer,
    Developer,
    Admin,
    Owner,
}

/// What an API key may do at most, whatever its holder's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

text_enum!(Role);
text_enum!(Scope);
