//! An email address, the name a user logs in with. Stored and compared in lowercase, so
//! `Ada@Example.com` and `ada@example.com` are one account. Validation is deliberately
//! loose (one `@`, a dotted domain, no spaces or control characters): the only real
//! proof of an address is a message that arrives, and sh0 does not send mail.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

pub const EMAIL_PATTERN: &str = r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f.]+(\.[^@\s\x00-\x1f\x7f.]+)+$";

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let lower = s.trim().to_lowercase();
        let re = regex::Regex::new(EMAIL_PATTERN).expect("valid pattern");
        if lower.len() <= 254 && re.is_match(&lower) {
            Ok(Self(lower))
        } else {
            Err(format!(
                "`{}` is not an email address",
                s.chars().take(80).collect::<String>()
            ))
        }
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for Email {
    fn schema_name() -> Cow<'static, str> {
        "Email".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 3,
            "maxLength": 254,
            "pattern": EMAIL_PATTERN,
            "description": "An email address; case does not matter.",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            Email::try_from("Ada@Example.COM".to_string()).unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@example.com",
        ] {
            assert!(Email::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }
}
