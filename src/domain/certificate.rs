//! Where a certificate came from and where an ACME order stands: the states the edge
//! reports through `cert_list` and `domain_list`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Who provides a certificate. An uploaded one wins over an ACME one for the same name
/// and is never renewed by sh0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum CertSource {
    Acme,
    Uploaded,
}

/// The automatic-certificate state of one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum AcmeState {
    /// Waiting for its first (or next) order.
    Pending,
    /// An order is running now.
    Issuing,
    /// A certificate was issued; renewal happens before it expires.
    Valid,
    /// The last order failed; `last_error` says why and `next_attempt_at` when it is retried.
    Failed,
}

text_enum!(CertSource);
text_enum!(AcmeState);
