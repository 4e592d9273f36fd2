//! Rules over the Dockerfile: build, security and runtime.

use super::Category::{Build, Configuration, Networking, Performance, Runtime, Security};
use super::Severity::{High, Low, Medium};
use super::{Finding, Project, finding};

pub const RULES: usize = 13;

pub fn run(p: &Project) -> Vec<Finding> {
    let Some(df) = p.dockerfile.as_deref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let at = |l: usize| Some(("Dockerfile", l as u32 + 1));
    let lines: Vec<(usize, String)> = df
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|(i, l)| (i, l.trim().to_string()))
        .collect();
    let instr = |l: &str| l.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    let stages: Vec<String> = lines
        .iter()
        .filter(|(_, l)| instr(l) == "FROM")
        .filter_map(|(_, l)| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.iter()
                .position(|x| x.eq_ignore_ascii_case("AS"))
                .and_then(|i| w.get(i + 1))
                .map(|s| s.to_lowercase())
        })
        .collect();

    if !p.has(".dockerignore") {
        out.push(finding(
            "build/no-dockerignore",
            Build,
            Medium,
            None,
            "no .dockerignore: dependencies and secrets can end up in the image",
            "Add a .dockerignore (node_modules, .git, .env*, build output).",
        ));
    }
    let mut user = None;
    let mut exposes = Vec::new();
    let mut has_cmd = false;
    let mut copied_all_at = None;
    for (i, l) in &lines {
        let lower = l.to_lowercase();
        match instr(l).as_str() {
            "FROM" => {
                let image = l.split_whitespace().nth(1).unwrap_or("").to_lowercase();
                let image = image
                    .strip_prefix("--platform=")
                    .map(|_| l.split_whitespace().nth(2).unwrap_or("").to_lowercase())
                    .unwrap_or(image);
                let tagged = image.contains(':') || image.contains('@');
                if image != "scratch" && !stages.contains(&image) && (!tagged || image.ends_with(":latest")) {
                    out.push(finding(
                        "build/latest-tag",
                        Build,
                        Medium,
                        at(*i),
                        format!("`{image}` floats: the same Dockerfile builds different images over time"),
                        "Pin a version tag (e.g. node:22-bookworm-slim).",
                    ));
                }
                user = None;
            }
            "ADD" if !lower.contains("http://") && !lower.contains("https://") && !lower.contains(".tar") => {
                out.push(finding(
                    "build/add-instead-of-copy",
                    Build,
                    Low,
                    at(*i),
                    "ADD copies local files with extra magic (archive extraction)",
                    "Use COPY for local files.",
                ));
            }
            "RUN" => {
                if lower.contains("npm install") && !lower.contains("npm install -g") {
                    out.push(finding(
                        "build/npm-install",
                        Build,
                        Low,
                        at(*i),
                        "`npm install` can change the lockfile during the build",
                        "Use `npm ci`.",
                    ));
                }
                if (lower.contains("curl") || lower.contains("wget"))
                    && (lower.contains("| sh")
                        || lower.contains("| bash")
                        || lower.contains("|sh")
                        || lower.contains("|bash"))
                {
                    out.push(finding(
                        "security/curl-pipe-shell",
                        Security,
                        High,
                        at(*i),
                        "a script is downloaded and run unverified",
                        "Download, verify a checksum, then run; or use a package.",
                    ));
                }
                if lower.contains("chmod 777") || lower.contains("chmod -r 777") {
                    out.push(finding(
                        "security/chmod-777",
                        Security,
                        Medium,
                        at(*i),
                        "files are made world-writable",
                        "Grant only what the app user needs (chown, chmod 755/644).",
                    ));
                }
                if lower.split_whitespace().any(|w| w == "sudo") {
                    out.push(finding(
                        "security/sudo",
                        Security,
                        Low,
                        at(*i),
                        "sudo in a Dockerfile (builds already run as root)",
                        "Remove sudo; switch users with USER.",
                    ));
                }
                if copied_all_at.is_some()
                    && [
                        "npm ci",
                        "npm install",
                        "pip install",
                        "yarn install",
                        "pnpm install",
                        "bundle install",
                        "go mod download",
                    ]
                    .iter()
                    .any(|c| lower.contains(c))
                {
                    out.push(finding(
                        "perf/copy-before-install",
                        Performance,
                        Low,
                        at(*i),
                        "dependencies install after `COPY . .`: any source change reinstalls them",
                        "COPY the manifest and lockfile first, install, then COPY the rest.",
                    ));
                    copied_all_at = None;
                }
            }
            "COPY" if lower.ends_with(" . .") || lower.ends_with(" . ./") => copied_all_at = Some(*i),
            "ENV" | "ARG" => {
                let upper = l.to_uppercase();
                let secretish = ["PASSWORD", "SECRET", "TOKEN", "API_KEY", "PRIVATE_KEY"]
                    .iter()
                    .any(|s| upper.contains(s));
                if secretish && l.contains('=') && !l.trim_end().ends_with('=') {
                    out.push(finding(
                        "security/secret-in-image",
                        Security,
                        High,
                        at(*i),
                        "a secret is baked into the image (ENV/ARG)",
                        "Set it at run time with `sh0 env set`; it is encrypted and injected at container start.",
                    ));
                }
            }
            "USER" => user = l.split_whitespace().nth(1).map(str::to_owned),
            "EXPOSE" => exposes.extend(
                l.split_whitespace()
                    .skip(1)
                    .filter_map(|p| p.split('/').next()?.parse::<u16>().ok()),
            ),
            "CMD" | "ENTRYPOINT" => has_cmd = true,
            _ => {}
        }
    }
    if matches!(user.as_deref(), None | Some("root") | Some("0")) {
        out.push(finding(
            "security/root-user",
            Security,
            Medium,
            None,
            "the container runs as root",
            "Add a USER instruction with an unprivileged user (e.g. USER 1000).",
        ));
    }
    if !has_cmd {
        out.push(finding(
            "runtime/no-cmd",
            Runtime,
            High,
            None,
            "no CMD or ENTRYPOINT: the container has nothing to run",
            "Add CMD [\"...\"] with the start command.",
        ));
    }
    if exposes.is_empty() {
        out.push(finding(
            "net/no-expose",
            Networking,
            Low,
            None,
            "no EXPOSE: the port the app listens on is undocumented",
            "Add EXPOSE <port> and create the app with the same --port.",
        ));
    }
    let env_port = lines.iter().find_map(|(i, l)| {
        let upper = l.to_uppercase();
        (instr(l) == "ENV" && upper.contains("PORT=")).then(|| {
            let v = &l[upper.find("PORT=").unwrap_or(0) + 5..];
            (*i, v.split_whitespace().next().unwrap_or("").parse::<u16>().ok())
        })
    });
    if let (Some((i, Some(port))), false) = (env_port, exposes.is_empty())
        && !exposes.contains(&port)
    {
        out.push(finding(
            "config/port-mismatch",
            Configuration,
            Medium,
            at(i),
            format!("ENV PORT={port} but EXPOSE {exposes:?}"),
            "Use one port everywhere (ENV PORT, EXPOSE and the app's --port).",
        ));
    }
    out
}
