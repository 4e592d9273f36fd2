//! A string that must never be shown: its schema is marked `writeOnly` and
//! `x-sh0-secret`, which is how the registry knows to redact it in audit records, and its
//! `Debug` prints nothing, so it cannot leak into a log line by accident.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// Maximum size of a secret value (64 KiB: room for a PEM bundle, not for a database dump).
pub const SECRET_MAX_LEN: usize = 65_536;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretString(String);

impl SecretString {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SecretString {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.len() > SECRET_MAX_LEN {
            return Err(format!("value is longer than {SECRET_MAX_LEN} bytes"));
        }
        if s.contains('\0') {
            return Err("value contains a NUL byte, which no process environment can hold".into());
        }
        Ok(Self(s))
    }
}

impl From<SecretString> for String {
    fn from(s: SecretString) -> String {
        s.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl JsonSchema for SecretString {
    fn schema_name() -> Cow<'static, str> {
        "SecretString".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "maxLength": SECRET_MAX_LEN,
            "writeOnly": true,
            "x-sh0-secret": true,
            "description": "A secret value: stored encrypted, never logged or shown unless explicitly revealed.",
        })
    }
}

/// A secret sh0 shows its caller once (a new key, a hook's token, a TOTP secret): plain in
/// the caller's answer, but marked `x-sh0-secret` in the output schema, so adapters that
/// pass answers on — the assistant, to its model — withhold it.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ShownOnce(pub String);

impl fmt::Debug for ShownOnce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShownOnce([redacted])")
    }
}

impl JsonSchema for ShownOnce {
    fn schema_name() -> Cow<'static, str> {
        "ShownOnce".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "readOnly": true,
            "x-sh0-secret": true,
            "description": "A secret shown this once: store it now; it cannot be shown again.",
        })
    }
}
