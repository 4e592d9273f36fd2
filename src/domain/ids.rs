//! Typed identifiers. Each id carries a short prefix (`prj_`, `app_`, `key_`) so that a
//! human or a model reading an id knows what it names, and so an id can never be confused
//! with a name (names are DNS labels and cannot contain `_`).

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh, time-ordered id (UUIDv7, so ids sort by creation).
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Whether `s` has the shape of this id (prefix + 32 lowercase hex digits).
            pub fn is_valid(s: &str) -> bool {
                s.strip_prefix($prefix).is_some_and(|rest| {
                    rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                })
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                if Self::is_valid(&s) {
                    Ok(Self(s))
                } else {
                    Err(format!("`{s}` is not a valid {} id", $prefix.trim_end_matches('_')))
                }
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": concat!("^", $prefix, "[0-9a-f]{32}$"),
                    "description": $doc,
                })
            }
        }
    };
}

prefixed_id!(ProjectId, "prj_", "Project id (`prj_` followed by 32 hex digits).");
prefixed_id!(AppId, "app_", "App id (`app_` followed by 32 hex digits).");
prefixed_id!(KeyId, "key_", "API key id (`key_` followed by 32 hex digits).");
prefixed_id!(
    DeploymentId,
    "dep_",
    "Deployment id (`dep_` followed by 32 hex digits)."
);
prefixed_id!(
    UploadId,
    "upl_",
    "Id of an uploaded source archive (`upl_` followed by 32 hex digits), as the upload endpoints return it."
);
prefixed_id!(DomainId, "dom_", "Domain id (`dom_` followed by 32 hex digits).");
prefixed_id!(UserId, "usr_", "User id (`usr_` followed by 32 hex digits).");
prefixed_id!(SessionId, "ses_", "Session id (`ses_` followed by 32 hex digits).");
prefixed_id!(InviteId, "inv_", "Invitation id (`inv_` followed by 32 hex digits).");
prefixed_id!(JobId, "job_", "Job id (`job_` followed by 32 hex digits).");
prefixed_id!(ScheduleId, "sch_", "Schedule id (`sch_` followed by 32 hex digits).");
prefixed_id!(HookId, "hok_", "Deploy hook id (`hok_` followed by 32 hex digits).");
prefixed_id!(
    ConversationId,
    "cnv_",
    "Assistant conversation id (`cnv_` followed by 32 hex digits)."
);
prefixed_id!(
    ApprovalId,
    "apr_",
    "Id of a tool call waiting for its user's approval (`apr_` followed by 32 hex digits)."
);
prefixed_id!(
    CertificateId,
    "crt_",
    "Certificate id (`crt_` followed by 32 hex digits)."
);
prefixed_id!(
    GrantId,
    "ogr_",
    "OAuth grant id: one remote client's access for one user (`ogr_` followed by 32 hex digits)."
);
prefixed_id!(
    DatabaseId,
    "dbs_",
    "Managed database id (`dbs_` followed by 32 hex digits)."
);
prefixed_id!(BackupId, "bkp_", "Backup id (`bkp_` followed by 32 hex digits).");
prefixed_id!(
    AuthRequestId,
    "oar_",
    "A pending OAuth authorization request, waiting for its user's consent (`oar_` followed by 32 hex digits)."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = AppId::generate();
        let b = AppId::generate();
        assert!(AppId::is_valid(a.as_str()));
        assert_ne!(a, b);
        assert!(!ProjectId::is_valid(a.as_str()));
    }
}
