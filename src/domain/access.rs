//! Roles and key scopes: the vocabulary of access. The policy that combines them with a
//! tool's permission lives in the registry; these are only the values.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A server-wide role, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Developer,
    Admin,
    Owner,
}

/// What an API key may do at most, whatever its holder's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

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

text_enum!(Role { Viewer => "viewer", Developer => "developer", Admin => "admin", Owner => "owner" });
text_enum!(Scope { Read => "read", Write => "write", Admin => "admin" });
