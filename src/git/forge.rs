//! Webhook deliveries as each forge sends them: which forge (by its headers), whether the
//! webhook's secret signed it (HMAC-SHA256 over the raw body, compared in constant time,
//! or GitLab's token header), and what it says (a push, a pull/merge request opened,
//! updated or closed). Pure: no I/O.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::{CommitSha, DeliveryVerdict, Forge, GitBranch};

/// A delivery's headers, by lowercase name.
pub trait Headers {
    fn get(&self, name: &str) -> Option<&str>;
}

impl Headers for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        std::collections::HashMap::get(self, name).map(String::as_str)
    }
}

/// The forge, from the headers it always sends. Gitea and Forgejo also send GitHub's
/// headers, so they are looked for first.
pub fn detect(h: &impl Headers) -> Forge {
    if h.get("x-gitea-event").is_some() || h.get("x-forgejo-event").is_some() {
        Forge::Gitea
    } else if h.get("x-github-event").is_some() {
        Forge::Github
    } else if h.get("x-gitlab-event").is_some() {
        Forge::Gitlab
    } else if h.get("x-event-key").is_some() && (h.get("x-hook-uuid").is_some() || h.get("x-request-uuid").is_some()) {
        Forge::Bitbucket
    } else if h.get("x-sh0-event").is_some() {
        Forge::Generic
    } else {
        Forge::Unknown
    }
}

/// The event name and the delivery id the forge sent.
pub fn event_and_id(forge: Forge, h: &impl Headers) -> (String, Option<String>) {
    let pick = |names: &[&str]| names.iter().find_map(|n| h.get(n)).map(str::to_owned);
    let (event, id) = match forge {
        Forge::Github => (pick(&["x-github-event"]), pick(&["x-github-delivery"])),
        Forge::Gitea => (
            pick(&["x-forgejo-event", "x-gitea-event"]),
            pick(&["x-forgejo-delivery", "x-gitea-delivery"]),
        ),
        Forge::Gitlab => (
            pick(&["x-gitlab-event"]),
            pick(&["x-gitlab-event-uuid", "idempotency-key", "x-gitlab-webhook-uuid"]),
        ),
        Forge::Bitbucket => (pick(&["x-event-key"]), pick(&["x-request-uuid", "x-hook-uuid"])),
        Forge::Generic => (pick(&["x-sh0-event"]), pick(&["x-sh0-delivery"])),
        Forge::Unknown => (None, None),
    };
    let clip = |s: String| s.chars().filter(|c| !c.is_control()).take(64).collect::<String>();
    (event.map(clip).unwrap_or_default(), id.map(clip))
}

/// Whether `secret` signed `body` the way `forge` signs: `Accepted`, `Unsigned` or
/// `BadSignature`.
pub fn verify(forge: Forge, h: &impl Headers, body: &[u8], secret: &str) -> DeliveryVerdict {
    let hmac_hex = |header: Option<&str>, prefix: &str| -> DeliveryVerdict {
        let Some(value) = header else {
            return DeliveryVerdict::Unsigned;
        };
        let Some(given) = value.trim().strip_prefix(prefix).and_then(|hex| hex::decode(hex).ok()) else {
            return DeliveryVerdict::BadSignature;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return DeliveryVerdict::BadSignature;
        };
        mac.update(body);
        match mac.verify_slice(&given) {
            Ok(()) => DeliveryVerdict::Accepted,
            Err(_) => DeliveryVerdict::BadSignature,
        }
    };
    match forge {
        Forge::Github => hmac_hex(h.get("x-hub-signature-256"), "sha256="),
        Forge::Bitbucket => hmac_hex(h.get("x-hub-signature"), "sha256="),
        Forge::Generic => hmac_hex(h.get("x-sh0-signature"), "sha256="),
        Forge::Gitea => hmac_hex(h.get("x-forgejo-signature").or_else(|| h.get("x-gitea-signature")), ""),
        Forge::Gitlab => match h.get("x-gitlab-token") {
            None => DeliveryVerdict::Unsigned,
            Some(t) if bool::from(t.as_bytes().ct_eq(secret.as_bytes())) => DeliveryVerdict::Accepted,
            Some(_) => DeliveryVerdict::BadSignature,
        },
        Forge::Unknown => DeliveryVerdict::Unsigned,
    }
}

/// What a pull/merge request event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullAction {
    /// Opened or reopened.
    Open,
    /// New commits.
    Update,
    /// Closed or merged.
    Close,
}

/// What a verified delivery says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A branch moved to `sha` (`None`: the branch was deleted).
    Push { branch: String, sha: Option<CommitSha> },
    Pull {
        number: u32,
        action: PullAction,
        /// The branch the request targets.
        base: String,
        /// The request's branch, when it is a name sh0 accepts.
        head_branch: Option<GitBranch>,
        /// The request's head commit (Bitbucket sends only a short one: then none).
        head_sha: Option<CommitSha>,
        /// The request's branch lives in another repository (or the payload does not say
        /// it does not): its code is anyone's, so it gets no preview with the app's secrets.
        from_fork: bool,
    },
    /// The forge checking the URL.
    Ping,
    /// Anything else: acknowledged and ignored.
    Other(String),
}

/// Reads the payload of a signed delivery; an error says what is missing.
pub fn parse(forge: Forge, event: &str, body: &[u8]) -> Result<Event, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let s = |p: &str| v.pointer(p).and_then(Value::as_str);
    let need = |p: &str| s(p).ok_or_else(|| format!("the payload has no `{p}`"));
    let push_of = |r: &str, after: Option<&str>| -> Result<Event, String> {
        let Some(branch) = r.strip_prefix("refs/heads/") else {
            return Ok(Event::Other(format!(
                "push to `{}` (not a branch)",
                r.chars().take(80).collect::<String>()
            )));
        };
        let sha = after.filter(|a| a.bytes().any(|b| b != b'0'));
        let sha = sha.map(CommitSha::parse).transpose()?;
        Ok(Event::Push {
            branch: branch.to_owned(),
            sha,
        })
    };
    let number = |p: &str| -> Result<u32, String> {
        v.pointer(p)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("the payload has no `{p}`"))
    };
    let branch = |name: Option<&str>| name.and_then(|n| GitBranch::parse(n).ok());
    let sha = |h: Option<&str>| h.and_then(|h| CommitSha::parse(h).ok());
    // Same repository only when both sides are named and equal.
    let fork = |head: Option<&Value>, base: Option<&Value>| match (head, base) {
        (Some(h), Some(b)) if !h.is_null() => h != b,
        _ => true,
    };
    match (forge, event) {
        (Forge::Github | Forge::Gitea, "ping") => Ok(Event::Ping),
        (Forge::Github | Forge::Gitea | Forge::Generic, "push") => push_of(need("/ref")?, s("/after")),
        (Forge::Gitlab, "Push Hook") => push_of(need("/ref")?, s("/after")),
        (Forge::Bitbucket, "repo:push") => {
            let change = v
                .pointer("/push/changes/0")
                .ok_or("the payload has no `/push/changes/0`")?;
            match change.get("new").filter(|n| !n.is_null()) {
                Some(new) if new.get("type").and_then(Value::as_str) == Some("branch") => {
                    let name = new.get("name").and_then(Value::as_str).ok_or("no branch name")?;
                    push_of(
                        &format!("refs/heads/{name}"),
                        new.pointer("/target/hash").and_then(Value::as_str),
                    )
                }
                Some(_) => Ok(Event::Other("repo:push (not a branch)".into())),
                None => {
                    let name = change.pointer("/old/name").and_then(Value::as_str).unwrap_or_default();
                    Ok(Event::Push {
                        branch: name.to_owned(),
                        sha: None,
                    })
                }
            }
        }
        (Forge::Github | Forge::Gitea, "pull_request") => {
            let action = match need("/action")? {
                "opened" | "reopened" => PullAction::Open,
                "synchronize" | "synchronized" => PullAction::Update,
                "closed" => PullAction::Close,
                other => return Ok(Event::Other(format!("pull_request {other}"))),
            };
            Ok(Event::Pull {
                number: number("/number")?,
                action,
                base: need("/pull_request/base/ref")?.to_owned(),
                head_branch: branch(s("/pull_request/head/ref")),
                head_sha: sha(s("/pull_request/head/sha")),
                from_fork: fork(
                    v.pointer("/pull_request/head/repo/full_name"),
                    v.pointer("/pull_request/base/repo/full_name"),
                ),
            })
        }
        (Forge::Gitlab, "Merge Request Hook") => {
            let action = match s("/object_attributes/action").unwrap_or("update") {
                "open" | "reopen" => PullAction::Open,
                "update" => PullAction::Update,
                "close" | "merge" => PullAction::Close,
                other => return Ok(Event::Other(format!("merge request {other}"))),
            };
            Ok(Event::Pull {
                number: number("/object_attributes/iid")?,
                action,
                base: need("/object_attributes/target_branch")?.to_owned(),
                head_branch: branch(s("/object_attributes/source_branch")),
                head_sha: sha(s("/object_attributes/last_commit/id")),
                from_fork: fork(
                    v.pointer("/object_attributes/source_project_id"),
                    v.pointer("/object_attributes/target_project_id"),
                ),
            })
        }
        (Forge::Bitbucket, e) if e.starts_with("pullrequest:") => {
            let action = match e {
                "pullrequest:created" => PullAction::Open,
                "pullrequest:updated" => PullAction::Update,
                "pullrequest:fulfilled" | "pullrequest:rejected" => PullAction::Close,
                other => return Ok(Event::Other(other.to_owned())),
            };
            Ok(Event::Pull {
                number: number("/pullrequest/id")?,
                action,
                base: need("/pullrequest/destination/branch/name")?.to_owned(),
                head_branch: branch(s("/pullrequest/source/branch/name")),
                head_sha: sha(s("/pullrequest/source/commit/hash")),
                from_fork: fork(
                    v.pointer("/pullrequest/source/repository/full_name"),
                    v.pointer("/pullrequest/destination/repository/full_name"),
                ),
            })
        }
        (_, other) => Ok(Event::Other(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn signatures_per_forge() {
        let body = br#"{"ref":"refs/heads/main","after":"1111111111111111111111111111111111111111"}"#;
        let sig = sign("s3cret", body);
        let gh = headers(&[
            ("x-github-event", "push"),
            ("x-hub-signature-256", &format!("sha256={sig}")),
        ]);
        assert_eq!(detect(&gh), Forge::Github);
        assert_eq!(verify(Forge::Github, &gh, body, "s3cret"), DeliveryVerdict::Accepted);
        assert_eq!(verify(Forge::Github, &gh, body, "other"), DeliveryVerdict::BadSignature);
        assert_eq!(
            verify(Forge::Github, &gh, b"{}", "s3cret"),
            DeliveryVerdict::BadSignature
        );
        let gitea = headers(&[
            ("x-gitea-event", "push"),
            ("x-github-event", "push"),
            ("x-gitea-signature", &sig),
        ]);
        assert_eq!(detect(&gitea), Forge::Gitea);
        assert_eq!(verify(Forge::Gitea, &gitea, body, "s3cret"), DeliveryVerdict::Accepted);
        let gl = headers(&[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", "s3cret")]);
        assert_eq!(verify(Forge::Gitlab, &gl, body, "s3cret"), DeliveryVerdict::Accepted);
        assert_eq!(verify(Forge::Gitlab, &gl, body, "s3cre"), DeliveryVerdict::BadSignature);
        let none = headers(&[("x-github-event", "push")]);
        assert_eq!(verify(Forge::Github, &none, body, "s3cret"), DeliveryVerdict::Unsigned);
        assert_eq!(detect(&headers(&[])), Forge::Unknown);
    }

    #[test]
    fn payloads() {
        let push = parse(
            Forge::Gitlab,
            "Push Hook",
            br#"{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000"}"#,
        );
        assert_eq!(
            push,
            Ok(Event::Push {
                branch: "main".into(),
                sha: None
            })
        );
        let pr = parse(
            Forge::Github,
            "pull_request",
            br#"{"action":"synchronize","number":7,"pull_request":{"base":{"ref":"main"},"head":{"ref":"feat","sha":"2222222222222222222222222222222222222222"}}}"#,
        )
        .unwrap();
        assert!(matches!(
            pr,
            Event::Pull {
                number: 7,
                action: PullAction::Update,
                ..
            }
        ));
        assert!(parse(Forge::Github, "push", b"not json").is_err());
        assert_eq!(parse(Forge::Github, "issues", b"{}"), Ok(Event::Other("issues".into())));
    }
}
