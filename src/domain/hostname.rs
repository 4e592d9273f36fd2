//! Domain names users attach to apps. A name becomes a routing key, an ACME identifier and
//! the subject of a certificate, so it is held to the DNS rules once, here: lowercase ASCII
//! (internationalised names in their `xn--` form), at least two labels, each an RFC 1123
//! label, 253 characters at most, no trailing dot, no wildcard, not an IP address.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// The schema pattern for [`DomainName`]; deserialization applies the same rule.
/// Case-insensitive, with an optional trailing dot: both are folded away by parsing.
pub const DOMAIN_PATTERN: &str =
    "^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.?$";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DomainName(String);

impl DomainName {
    /// Parses a name, folding ASCII case (DNS is case-insensitive) and one trailing dot.
    pub fn parse(s: &str) -> Result<Self, String> {
        let shown = || s.chars().take(80).collect::<String>();
        let name = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return Err(format!("`{}` is not a domain name: use 1-253 characters", shown()));
        }
        if !name.is_ascii() {
            return Err(format!(
                "`{}` is not an ASCII domain name: give an internationalised name in its xn-- (punycode) form",
                shown()
            ));
        }
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 {
            return Err(format!(
                "`{}` is not a fully qualified domain name: it needs at least two labels, like example.com",
                shown()
            ));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !labels.iter().all(|l| label_ok(l)) {
            return Err(format!(
                "`{}` is not a valid domain name: each dot-separated label is 1-63 letters, digits or `-`, \
                 not starting or ending with `-` (wildcards are not supported)",
                shown()
            ));
        }
        if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!("`{}` is an IP address, not a domain name", shown()));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name with a leading `www.` removed, or with one added: the partner a www/apex
    /// redirect pairs this name with.
    pub fn www_partner(&self) -> Option<DomainName> {
        match self.0.strip_prefix("www.") {
            Some(apex) => Self::parse(apex).ok(),
            None => Self::parse(&format!("www.{}", self.0)).ok(),
        }
    }
}

impl TryFrom<String> for DomainName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<DomainName> for String {
    fn from(n: DomainName) -> String {
        n.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for DomainName {
    fn schema_name() -> Cow<'static, str> {
        "DomainName".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 3,
            "maxLength": 254,
            "pattern": DOMAIN_PATTERN,
            "description": "A fully qualified domain name in lowercase ASCII (punycode for internationalised names), \
                            e.g. shop.example.com.",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names() {
        for ok in [
            "example.com",
            "a.b.c.example.co.uk",
            "xn--bcher-kva.example",
            "web.localhost",
        ] {
            assert_eq!(DomainName::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(DomainName::parse("Example.COM.").unwrap().as_str(), "example.com");
        for bad in [
            "",
            "localhost",
            "*.example.com",
            "a..b",
            "-a.com",
            "a-.com",
            "bücher.example",
            "10.0.0.1",
            "a_b.com",
            "exa mple.com",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad}");
        }
        let apex = DomainName::parse("example.com").unwrap();
        assert_eq!(apex.www_partner().unwrap().as_str(), "www.example.com");
        assert_eq!(apex.www_partner().unwrap().www_partner().unwrap(), apex);
    }
}
