//! Git sources: the repository URL, branch, commit and path inside a repository, each a
//! newtype whose rules keep it from ever being read as an option or a transport by the
//! `git` program (no leading `-`, no `ext::`/`file://`, no whitespace or control
//! characters), and the forges that send webhooks.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// A validated string newtype: `parse` holds the rule, the schema carries its pattern.
macro_rules! checked_string {
    ($ty:ident, $pattern:expr, $max:expr, $desc:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s)
            }
        }
        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "minLength": 1,
                    "maxLength": $max,
                    "pattern": $pattern,
                    "description": $desc,
                })
            }
        }
    };
}

checked_string!(
    GitUrl,
    r"^(https?://[A-Za-z0-9.\[\]:-]+(/[!-~]*)?|ssh://([A-Za-z0-9._-]+@)?[A-Za-z0-9.\[\]-]+(:[0-9]+)?/[!-~]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/][!-~]*)$",
    2048,
    "Repository URL: `https://host/owner/repo.git`, `ssh://git@host[:port]/owner/repo.git` or \
     `git@host:owner/repo.git`. No credentials in the URL (give a token separately)."
);

impl GitUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        let shown: String = s.chars().take(120).collect();
        let bad = |why: &str| Err(format!("`{shown}` is not a repository URL sh0 clones: {why}"));
        if s.is_empty() || s.len() > 2048 {
            return bad("it must be 1-2048 characters");
        }
        if s.starts_with('-') {
            return bad("it must not start with `-`");
        }
        if s.bytes().any(|b| !(b'!'..=b'~').contains(&b)) {
            return bad("it must be printable ASCII without spaces");
        }
        if s.contains("::") {
            return bad("transport helpers (`ext::`, `fd::`) are not allowed");
        }
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("ssh://") {
            let url = match url::Url::parse(s) {
                Ok(u) => u,
                Err(e) => return bad(&e.to_string()),
            };
            if url.host_str().is_none_or(str::is_empty) {
                return bad("it has no host");
            }
            if url.scheme() != "ssh" && (!url.username().is_empty() || url.password().is_some()) {
                return bad("put the token in `token`, not in the URL (a URL is shown; a token is sealed)");
            }
            if url.password().is_some() {
                return bad("an ssh URL carries no password; sh0 uses the app's deploy key");
            }
            // ssh would read a user or host starting with `-` as an option.
            let host = url.host_str().unwrap_or_default();
            let user = url.username();
            if [host, user]
                .iter()
                .any(|w| w.starts_with('-') || w.to_ascii_lowercase().starts_with("%2d"))
            {
                return bad("its user or host starts with `-`");
            }
            if url.path().len() <= 1 {
                return bad("it names no repository");
            }
            return Ok(Self(s.to_owned()));
        }
        if lower.contains("://") {
            return bad("use https:// or ssh:// (file://, git:// and others are refused)");
        }
        // scp-like `user@host:path`.
        let Some((user_host, path)) = s.split_once(':') else {
            return bad("use https://, ssh:// or `git@host:owner/repo.git`");
        };
        let Some((user, host)) = user_host.split_once('@') else {
            return bad("the scp-like form needs a user: `git@host:owner/repo.git`");
        };
        let word = |w: &str, extra: &[u8]| {
            !w.is_empty()
                && !w.starts_with('-')
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || extra.contains(&b))
        };
        if !word(user, b"_") || !word(host, b"") || path.is_empty() || path.starts_with('-') {
            return bad("use `user@host:owner/repo.git`");
        }
        Ok(Self(s.to_owned()))
    }

    /// Whether a credential sent to it is protected: https and ssh, or plain http to a
    /// loopback address (nothing leaves the machine).
    pub fn keeps_secrets(&self) -> bool {
        match url::Url::parse(&self.0) {
            Ok(u) if u.scheme() == "http" => match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            },
            _ => true,
        }
    }

    /// Whether git reaches it over SSH (and so needs the deploy key).
    pub fn is_ssh(&self) -> bool {
        let lower = self.0.to_ascii_lowercase();
        !(lower.starts_with("http://") || lower.starts_with("https://"))
    }
}

checked_string!(
    GitBranch,
    r"^[A-Za-z0-9_][A-Za-z0-9._/+-]*$",
    255,
    "Branch name, e.g. `main` (letters, digits and `._/+-`, not starting with `-` or `.`)."
);

impl GitBranch {
    /// A subset of `git check-ref-format --branch`: what a forge's branch names use, and
    /// nothing git or a shell could read as anything but a name.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 255
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'+' | b'-'))
            && !s.contains("..")
            && !s.contains("//")
            && !s.contains("/.")
            && !s.ends_with('/')
            && !s.ends_with('.')
            && !s.ends_with(".lock");
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "`{}` is not a branch name sh0 accepts: use letters, digits and `._/+-`, starting with a letter, a \
                 digit or `_`, without `..`, `//` or a trailing `/`, `.` or `.lock`",
                s.chars().take(80).collect::<String>()
            ))
        }
    }

    /// The full ref name, `refs/heads/<branch>`.
    pub fn refname(&self) -> String {
        format!("refs/heads/{}", self.0)
    }
}

checked_string!(
    CommitSha,
    r"^[0-9a-f]{40}([0-9a-f]{24})?$",
    64,
    "A full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits."
);

impl CommitSha {
    pub fn parse(s: &str) -> Result<Self, String> {
        if (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "`{}` is not a full commit id (40 or 64 lowercase hex digits)",
                s.chars().take(80).collect::<String>()
            ))
        }
    }

    /// The first 12 digits, for people.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

checked_string!(
    RepoPath,
    r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$",
    255,
    "A path inside the repository, relative, `/`-separated, e.g. `apps/web` (no `..`, no leading `/` or `.`)."
);

impl RepoPath {
    pub fn parse(s: &str) -> Result<Self, String> {
        let part_ok = |p: &str| {
            !p.is_empty()
                && p.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        if s.len() <= 255 && s.split('/').all(part_ok) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "`{}` is not a path inside the repository: use `/`-separated names of letters, digits and `._-` (no \
                 `..`, no leading `/` or `.`)",
                s.chars().take(80).collect::<String>()
            ))
        }
    }
}

/// The forge a webhook delivery came from, known by its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum Forge {
    Github,
    Gitlab,
    /// Gitea and Forgejo (same signature scheme and payloads).
    Gitea,
    Bitbucket,
    /// sh0's own scheme (`X-Sh0-Signature: sha256=<hmac>`), for any other sender.
    Generic,
    /// No forge's headers: refused.
    Unknown,
}

/// What sh0 made of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum DeliveryVerdict {
    /// Signed with the webhook's secret, and acted upon (or ignored as the event says).
    Accepted,
    /// No signature or token.
    Unsigned,
    /// A signature or token that does not match.
    BadSignature,
    /// Correctly signed, but a delivery already received (same id or same body): nothing ran.
    Replayed,
    /// Larger than sh0 reads: refused unread.
    TooLarge,
    /// Signed, but not a payload sh0 understands.
    Malformed,
}

/// A commit as a deployment records it. The author and message come from the repository:
/// untrusted text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GitCommit {
    pub sha: CommitSha,
    /// `Name <email>`.
    pub author: super::UntrustedText,
    /// The first line of the message.
    pub message: super::UntrustedText,
}

text_enum!(Forge);
text_enum!(DeliveryVerdict);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "https://github.com/o/r.git",
            "http://127.0.0.1:8080/r.git",
            "ssh://git@127.0.0.1:2222/srv/r.git",
            "git@github.com:o/r.git",
        ] {
            assert!(GitUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "-uhttps://x/y",
            "ext::sh -c touch% /tmp/pwned",
            "file:///etc",
            "https://user:tok@github.com/o/r",
            "git://github.com/o/r",
            "/srv/repo.git",
            "git@host:-oProxyCommand=x",
            "ssh://-oProxyCommand=x@host/r",
            "ssh://%2doProxyCommand=x@host/r",
            "https://github.com/o/r with space",
            "fd::17",
        ] {
            assert!(GitUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn branches_and_paths() {
        for ok in ["main", "feature/x-1", "release+1.2", "_tmp"] {
            assert!(GitBranch::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "--upload-pack=touch /tmp/pwned",
            "-x",
            ".hidden",
            "a..b",
            "a/",
            "a.lock",
            "a b",
            "a@{1}",
            "",
        ] {
            assert!(GitBranch::parse(bad).is_err(), "{bad}");
        }
        assert!(RepoPath::parse("apps/web").is_ok());
        for bad in ["../x", "a/../b", "/abs", ".git", "a//b", "-x"] {
            assert!(RepoPath::parse(bad).is_err(), "{bad}");
        }
        assert!(CommitSha::parse(&"a".repeat(40)).is_ok());
        assert!(CommitSha::parse("HEAD").is_err());
    }
}
