//! The analyzer's rules: each looks at the facts for one cause and, when the facts show
//! it, says so with the evidence and the fix. The order of the findings is the order of
//! likelihood: a specific cause (out of memory, a missing variable, the wrong address)
//! explains a crash or a failed health check, so the generic finding is left out when a
//! specific one was made.

use serde_json::json;
use std::sync::OnceLock;

use super::{
    Cause, ConfigSnapshot, DeploymentFacts, Diagnosis, Evidence, EvidenceSource, FailedStage, Finding, HealthAnswer,
    ProposedCall,
};
use crate::domain::{DeploymentId, DeploymentStatus, Timestamp, UntrustedText};

/// How many log lines a finding quotes at most.
const QUOTE_LINES: usize = 5;

/// Analyzes one deployment. `previous` is the configuration of the app's last deployment
/// that ran, for what changed since.
pub fn analyze(
    deployment: &DeploymentId,
    app: &str,
    status: DeploymentStatus,
    facts: &DeploymentFacts,
    previous: Option<&ConfigSnapshot>,
    now: Timestamp,
) -> Diagnosis {
    let mut findings = Vec::new();
    match facts.stage {
        Some(FailedStage::Build) => findings.push(build_failed(facts)),
        Some(FailedStage::Image) => findings.push(image_unavailable(app, facts, previous.is_some())),
        Some(FailedStage::Start) => findings.push(start_failed(facts)),
        _ => {
            findings.extend(out_of_memory(app, facts));
            findings.extend(missing_env(app, facts));
            findings.extend(sockets(app, facts));
            if findings.is_empty() {
                findings.extend(health(app, facts));
            }
            if findings.is_empty() {
                findings.extend(crashed(app, facts));
            }
        }
    }
    if status == DeploymentStatus::Failed || !findings.is_empty() {
        findings.extend(changed(app, facts, previous, findings.is_empty()));
    }
    if findings.is_empty() && status == DeploymentStatus::Failed {
        findings.push(unknown(facts));
    }
    let summary = findings.first().map_or_else(
        || "no problem found: the deployment's container is running and answers its health check".to_owned(),
        |f| f.summary.clone(),
    );
    Diagnosis {
        deployment: deployment.clone(),
        app: app.to_owned(),
        status,
        analyzed_at: now,
        summary,
        findings,
        stage: facts.stage,
        config: facts.config.clone(),
        health: facts.health.clone(),
        container: facts.container.clone(),
        explanation: None,
    }
}

fn fact(source: EvidenceSource, detail: impl Into<String>) -> Evidence {
    Evidence {
        source,
        detail: detail.into(),
        quote: None,
    }
}

fn quote(source: EvidenceSource, detail: impl Into<String>, line: &str) -> Evidence {
    Evidence {
        source,
        detail: detail.into(),
        quote: Some(UntrustedText(line.to_owned())),
    }
}

fn call(tool: &str, arguments: serde_json::Value, why: impl Into<String>) -> ProposedCall {
    ProposedCall {
        tool: tool.to_owned(),
        arguments,
        why: why.into(),
    }
}

fn redeploy(app: &str) -> ProposedCall {
    call("app_deploy", json!({ "app": app }), "deploy again with the change")
}

/// Lines that read like an error, last ones first kept, in their order.
fn error_lines(lines: &[String]) -> Vec<&str> {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r"(?i)\b(error|fatal|panic|exception|traceback|failed|cannot|could not|refused|denied|not found|no such)\b",
        )
        .expect("valid regex")
    });
    let hits: Vec<&str> = lines.iter().map(String::as_str).filter(|l| re.is_match(l)).collect();
    hits[hits.len().saturating_sub(QUOTE_LINES)..].to_vec()
}

fn last_lines(lines: &[String]) -> Vec<&str> {
    lines[lines.len().saturating_sub(QUOTE_LINES)..]
        .iter()
        .map(String::as_str)
        .collect()
}

fn build_failed(facts: &DeploymentFacts) -> Finding {
    let log = &facts.build_log;
    // The classic builder names each step; the failing one is the last named.
    let step = log.iter().rposition(|l| l.trim_start().starts_with("Step "));
    let mut evidence = Vec::new();
    if let Some(i) = step {
        evidence.push(quote(EvidenceSource::BuildLog, "the step that failed", &log[i]));
    }
    let after = step.map_or(&log[..], |i| &log[i + 1..]);
    let mut lines = error_lines(after);
    if lines.is_empty() {
        lines = last_lines(after);
    }
    for l in lines {
        evidence.push(quote(EvidenceSource::BuildLog, "build output", l));
    }
    if let Some(r) = &facts.reason {
        evidence.push(fact(EvidenceSource::BuildLog, r.clone()));
    }
    let summary = match step {
        Some(i) => format!("the image build failed at `{}`", log[i].trim()),
        None => "the image build failed".to_owned(),
    };
    Finding {
        cause: Cause::BuildFailed,
        summary,
        evidence,
        advice: Some(
            "Fix the failing step in the Dockerfile or the source (the quoted output says why), then deploy \
             again. The version that was serving still serves."
                .into(),
        ),
        fixes: Vec::new(),
    }
}

fn image_unavailable(app: &str, facts: &DeploymentFacts, has_previous: bool) -> Finding {
    let reason = facts.reason.clone().unwrap_or_default();
    let mut fixes = Vec::new();
    if has_previous {
        fixes.push(call(
            "app_rollback",
            json!({ "app": app }),
            "run the last deployment that worked",
        ));
    }
    Finding {
        cause: Cause::ImageUnavailable,
        summary: format!(
            "the image {} could not be obtained",
            facts.config.image.as_deref().unwrap_or("(none)")
        ),
        evidence: vec![fact(EvidenceSource::Settings, reason)],
        advice: Some("Check the image reference and that the server can pull it (or build it here).".into()),
        fixes,
    }
}

fn start_failed(facts: &DeploymentFacts) -> Finding {
    Finding {
        cause: Cause::ContainerStartFailed,
        summary: "Docker could not start the container".into(),
        evidence: vec![fact(
            EvidenceSource::Container,
            facts.reason.clone().unwrap_or_default(),
        )],
        advice: Some("Docker's message says why (an entrypoint that does not exist, a bad limit).".into()),
        fixes: Vec::new(),
    }
}

fn out_of_memory(app: &str, facts: &DeploymentFacts) -> Option<Finding> {
    let c = facts.container.as_ref()?;
    let limit = facts.config.memory_mb;
    // Docker misses some OOM kills under cgroup v2 (its flag comes from an event that can
    // be lost): a SIGKILL that nobody sent — sh0 had not stopped it, the process ended by
    // itself while the health gate waited — under a memory limit is the kernel's too.
    let unflagged = !c.oom_killed
        && c.exit_code == Some(137)
        && limit.is_some()
        && facts.health.as_ref().is_some_and(|h| h.container_exited);
    if !c.oom_killed && !unflagged {
        return None;
    }
    let mut evidence = vec![fact(
        EvidenceSource::Container,
        if unflagged {
            "exit code 137: killed by SIGKILL while nothing was stopping it (Docker did not record OOMKilled)"
                .to_owned()
        } else {
            format!(
                "OOMKilled: true, exit code {}",
                c.exit_code.map_or("unknown".into(), |e| e.to_string())
            )
        },
    )];
    evidence.push(fact(
        EvidenceSource::Settings,
        match limit {
            Some(mb) => format!("memory limit {mb} MB"),
            None => "no memory limit of its own: the server itself ran out of memory".into(),
        },
    ));
    let fixes = match limit {
        Some(mb) => vec![
            call(
                "app_update",
                json!({ "app": app, "memory_mb": (mb * 2).max(256) }),
                "give it more memory",
            ),
            redeploy(app),
        ],
        None => Vec::new(),
    };
    Some(Finding {
        cause: Cause::OutOfMemory,
        summary: match limit {
            Some(mb) if unflagged => {
                format!("the app most likely ran out of memory: it was killed (SIGKILL) under its {mb} MB limit")
            }
            Some(mb) => format!("the app ran out of memory: the kernel killed it at its {mb} MB limit"),
            None => "the app ran out of memory: the kernel killed it".into(),
        },
        evidence,
        advice: Some("Raise the limit, or find what makes the app use so much memory at start.".into()),
        fixes,
    })
}

/// Environment variable names an app's log says are missing, with the line that says it.
fn missing_names(lines: &[String]) -> Vec<(String, &str)> {
    static RE: OnceLock<Vec<regex::Regex>> = OnceLock::new();
    let res = RE.get_or_init(|| {
        let name = r#"["'`]?([A-Z][A-Z0-9_]{1,63})["'`]?"#;
        [
            format!(
                r"(?i:environment variable|env var(?:iable)?|env(?:ironment)? key|config(?:uration)? key)s?:?\s+{name}\s*(?i:is\s+)?(?i:not set|not defined|undefined|missing|required|must be set|is empty|empty|unset)"
            ),
            format!(
                r"(?i:missing|required|undefined|unset|no)\s+(?i:required\s+)?(?i:environment variable|env var(?:iable)?|env)s?:?\s*{name}"
            ),
            r"KeyError: '([A-Z][A-Z0-9_]{1,63})'".to_owned(),
            format!(r"{name}\s+(?i:is not set|must be set|is required|is missing|not set|is undefined)"),
        ]
        .iter()
        .map(|p| regex::Regex::new(p).expect("valid regex"))
        .collect()
    });
    let mut out: Vec<(String, &str)> = Vec::new();
    for line in lines {
        for re in res {
            if let Some(c) = re.captures(line) {
                let n = c[1].to_owned();
                if !out.iter().any(|(m, _)| *m == n) {
                    out.push((n, line.as_str()));
                }
                break;
            }
        }
    }
    out
}

fn missing_env(app: &str, facts: &DeploymentFacts) -> Vec<Finding> {
    let set = &facts.config.env_names;
    missing_names(&facts.app_log)
        .into_iter()
        .filter(|(n, _)| !set.contains(n))
        .map(|(name, line)| Finding {
            cause: Cause::MissingEnv,
            summary: format!("the app stops because the environment variable {name} is not set"),
            evidence: vec![
                quote(EvidenceSource::AppLog, format!("the app's log names {name}"), line),
                fact(
                    EvidenceSource::Settings,
                    if set.is_empty() {
                        "the app has no environment variables".to_owned()
                    } else {
                        format!("the app's variables are {}", set.join(", "))
                    },
                ),
            ],
            advice: None,
            fixes: vec![
                call(
                    "env_set",
                    json!({ "app": app, "key": name, "value": "<value>" }),
                    format!("set {name} (replace <value>)"),
                ),
                redeploy(app),
            ],
        })
        .collect()
}

fn sockets(app: &str, facts: &DeploymentFacts) -> Option<Finding> {
    let c = facts.container.as_ref()?;
    let listening = c.listening.as_ref()?;
    let port = facts.config.port;
    if listening.iter().any(|l| l.port == port && l.is_wildcard()) {
        return None;
    }
    let shown: Vec<String> = listening.iter().map(ToString::to_string).collect();
    let socket_fact = fact(
        EvidenceSource::Sockets,
        if shown.is_empty() {
            "nothing listens on any TCP port inside the container".to_owned()
        } else {
            format!("listening inside the container: {}", shown.join(", "))
        },
    );
    let port_fact = fact(
        EvidenceSource::Settings,
        format!("the app's port is {port}: the proxy and the health check connect there"),
    );
    let mut evidence = vec![socket_fact, port_fact];
    evidence.extend(health_evidence(facts));
    let loopback: Vec<_> = listening.iter().filter(|l| l.is_loopback()).collect();
    if let Some(l) = loopback.iter().find(|l| l.port == port).or(loopback.first()) {
        let mut fixes = vec![call(
            "env_set",
            json!({ "app": app, "key": "HOST", "value": "0.0.0.0" }),
            "many servers read their address from HOST",
        )];
        if l.port != port {
            fixes.insert(
                0,
                call(
                    "app_update",
                    json!({ "app": app, "port": l.port }),
                    "point the proxy at the port it uses",
                ),
            );
        }
        fixes.push(redeploy(app));
        return Some(Finding {
            cause: Cause::ListensOnLoopback,
            summary: format!(
                "the app listens on {l}, inside its container only: nothing outside the container can reach it"
            ),
            evidence,
            advice: Some(
                "Make the server listen on 0.0.0.0 (all interfaces), for example `--host 0.0.0.0`, HOST=0.0.0.0 \
                 or its framework's setting."
                    .into(),
            ),
            fixes,
        });
    }
    if let Some(other) = listening.iter().find(|l| l.is_wildcard()) {
        return Some(Finding {
            cause: Cause::PortMismatch,
            summary: format!("the app listens on port {}, but its port is set to {port}", other.port),
            evidence,
            advice: None,
            fixes: vec![
                call(
                    "app_update",
                    json!({ "app": app, "port": other.port }),
                    "use the port the app listens on",
                ),
                redeploy(app),
            ],
        });
    }
    if listening.is_empty() && c.running {
        return Some(Finding {
            cause: Cause::NothingListening,
            summary: "the app's process runs but listens on no TCP port".into(),
            evidence,
            advice: Some(
                "The container's command does not start a server, or the server failed to bind: check its \
                 command and its log."
                    .into(),
            ),
            fixes: vec![call("app_logs", json!({ "app": app }), "read what the process printed")],
        });
    }
    None
}

fn health_evidence(facts: &DeploymentFacts) -> Option<Evidence> {
    let h = facts.health.as_ref()?;
    let last = match h.last? {
        HealthAnswer::Status { code } => format!("answered {code}"),
        HealthAnswer::NoConnection => "found nothing accepting connections".into(),
        HealthAnswer::TimedOut => "got no answer in time".into(),
    };
    Some(fact(
        EvidenceSource::HealthCheck,
        format!("GET {} {last} ({} attempts)", h.path, h.attempts),
    ))
}

fn health(app: &str, facts: &DeploymentFacts) -> Option<Finding> {
    let h = facts.health.as_ref()?;
    if h.container_exited {
        return None;
    }
    let mut evidence: Vec<Evidence> = health_evidence(facts).into_iter().collect();
    for l in error_lines(&facts.app_log) {
        evidence.push(quote(EvidenceSource::AppLog, "the app's log", l));
    }
    match h.last? {
        HealthAnswer::Status { code } if code >= 500 => Some(Finding {
            cause: Cause::HealthCheckError,
            summary: format!("the app is up but its health path {} answers {code}", h.path),
            evidence,
            advice: Some(format!(
                "The app reports itself unhealthy (often a dependency it cannot reach); its log says why. If {} \
                 is not meant as a health endpoint, point the check at one.",
                h.path
            )),
            fixes: vec![call(
                "app_logs",
                json!({ "app": app }),
                "read why the app answers an error",
            )],
        }),
        HealthAnswer::TimedOut => Some(Finding {
            cause: Cause::HealthCheckTimeout,
            summary: format!("the app accepts connections but does not answer {} in time", h.path),
            evidence,
            advice: Some("A slow start or a blocked server: its log may say which.".into()),
            fixes: vec![
                call(
                    "app_update",
                    json!({ "app": app, "health_timeout_ms": 10_000, "health_retries": 120 }),
                    "give it longer to answer",
                ),
                redeploy(app),
            ],
        }),
        _ => None,
    }
}

fn crashed(app: &str, facts: &DeploymentFacts) -> Option<Finding> {
    let c = facts.container.as_ref()?;
    let exited = !c.running || facts.health.as_ref().is_some_and(|h| h.container_exited);
    if !exited && c.restart_count == 0 {
        return None;
    }
    let code = c.exit_code.map_or("unknown".to_owned(), |e| e.to_string());
    let mut evidence = vec![fact(
        EvidenceSource::Container,
        format!("exit code {code}, restarted {} times", c.restart_count),
    )];
    let mut lines = error_lines(&facts.app_log);
    if lines.is_empty() {
        lines = last_lines(&facts.app_log);
    }
    for l in lines {
        evidence.push(quote(EvidenceSource::AppLog, "the app's last words", l));
    }
    Some(Finding {
        cause: Cause::Crashed,
        summary: format!("the app's process exits right after it starts (exit code {code})"),
        evidence,
        advice: Some("The quoted log lines are what it printed before it stopped.".into()),
        fixes: vec![call("app_logs", json!({ "app": app }), "read its whole log")],
    })
}

fn changed(app: &str, facts: &DeploymentFacts, previous: Option<&ConfigSnapshot>, alone: bool) -> Option<Finding> {
    let before = previous?;
    let now = &facts.config;
    let mut evidence = Vec::new();
    let src = EvidenceSource::PreviousDeployment;
    if before.port != now.port {
        evidence.push(fact(src, format!("port {} → {}", before.port, now.port)));
    }
    // Images sh0 built are new with every deployment: only a chosen image is a change.
    let chosen = |i: &Option<String>| i.as_deref().is_some_and(|i| !i.starts_with("sh0/"));
    if before.image != now.image && chosen(&before.image) && chosen(&now.image) {
        let show = |i: &Option<String>| i.clone().unwrap_or_else(|| "(none)".into());
        evidence.push(fact(
            src,
            format!("image {} → {}", show(&before.image), show(&now.image)),
        ));
    }
    if before.memory_mb != now.memory_mb {
        let show = |m: Option<u32>| m.map_or("no limit".into(), |m| format!("{m} MB"));
        evidence.push(fact(
            src,
            format!("memory {} → {}", show(before.memory_mb), show(now.memory_mb)),
        ));
    }
    if before.health_path != now.health_path {
        evidence.push(fact(
            src,
            format!("health path {} → {}", before.health_path, now.health_path),
        ));
    }
    let removed: Vec<&str> = before
        .env_names
        .iter()
        .filter(|n| !now.env_names.contains(n))
        .map(String::as_str)
        .collect();
    if !removed.is_empty() {
        evidence.push(fact(
            src,
            format!("environment variables removed since: {}", removed.join(", ")),
        ));
    }
    let added: Vec<&str> = now
        .env_names
        .iter()
        .filter(|n| !before.env_names.contains(n))
        .map(String::as_str)
        .collect();
    if !added.is_empty() {
        evidence.push(fact(
            src,
            format!("environment variables added since: {}", added.join(", ")),
        ));
    }
    if evidence.is_empty() {
        return None;
    }
    Some(Finding {
        cause: Cause::ChangedSinceLastGood,
        summary: if alone {
            "no single cause found; these settings changed since the last deployment that worked".into()
        } else {
            "also changed since the last deployment that worked".into()
        },
        evidence,
        advice: None,
        fixes: vec![call(
            "app_rollback",
            json!({ "app": app }),
            "run the last deployment that worked again",
        )],
    })
}

fn unknown(facts: &DeploymentFacts) -> Finding {
    let mut evidence = Vec::new();
    if let Some(r) = &facts.reason {
        evidence.push(fact(EvidenceSource::BuildLog, r.clone()));
    }
    evidence.extend(health_evidence(facts));
    for l in last_lines(&facts.app_log) {
        evidence.push(quote(EvidenceSource::AppLog, "the app's last lines", l));
    }
    Finding {
        cause: Cause::Unknown,
        summary: format!(
            "no known cause matched; the deployment failed: {}",
            facts.reason.as_deref().unwrap_or("no reason recorded")
        ),
        evidence,
        advice: None,
        fixes: Vec::new(),
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
