//! Rules over the source tree: secrets, configuration, networking, runtime habits,
//! performance of the build context, and hygiene.

use regex::Regex;

use super::Category::{Configuration, Hygiene, Networking, Performance, Runtime, Secrets};
use super::Severity::{Critical, High, Low, Medium};
use super::{Finding, Project, finding};
use crate::build::detect::Stack;

pub const RULES: usize = 25;

fn re(s: &str) -> Regex {
    Regex::new(s).expect("rule patterns are valid")
}

/// Files whose content is expected to hold secrets or examples of them.
fn secret_scan_skips(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.starts_with(".env") || name.ends_with(".md") || rel.contains("test") || name.ends_with(".example")
}

pub fn run(p: &Project) -> Vec<Finding> {
    let mut out = Vec::new();
    let code = |f: &str| !secret_scan_skips(f);

    // --- secrets ---
    for f in &p.files {
        let name = f.rel.rsplit('/').next().unwrap_or(&f.rel);
        if ["id_rsa", "id_ed25519", "id_ecdsa"].contains(&name)
            || name.ends_with(".pem")
            || name.ends_with(".key")
            || name.ends_with(".p12")
        {
            out.push(finding(
                "secrets/private-key-file",
                Secrets,
                Critical,
                Some((&f.rel, 0)),
                format!("`{}` looks like a private key", f.rel),
                "Remove it from the project and rotate it; load keys from environment variables (sh0 env set).",
            ));
        }
    }
    let private = re(r"-----BEGIN (RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----");
    for (f, l, _) in p.grep(&private).filter(|(f, _, _)| code(f)) {
        out.push(finding(
            "secrets/private-key",
            Secrets,
            Critical,
            Some((f, l)),
            "a private key is embedded in source",
            "Move it to an environment variable (sh0 env set) and rotate it.",
        ));
    }
    let aws = re(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b");
    for (f, l, _) in p.grep(&aws).filter(|(f, _, _)| code(f)) {
        out.push(finding(
            "secrets/aws-key",
            Secrets,
            Critical,
            Some((f, l)),
            "an AWS access key id is committed",
            "Revoke the key in AWS IAM and read credentials from the environment.",
        ));
    }
    let tokens = re(
        r"\b(ghp_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{40,}|xox[baprs]-[A-Za-z0-9-]{10,}|sk_live_[0-9A-Za-z]{20,}|glpat-[A-Za-z0-9_-]{20})",
    );
    for (f, l, _) in p.grep(&tokens).filter(|(f, _, _)| code(f)) {
        out.push(finding(
            "secrets/api-token",
            Secrets,
            Critical,
            Some((f, l)),
            "an API token (GitHub, Slack, Stripe or GitLab) is committed",
            "Revoke it at the provider and pass it as an environment variable.",
        ));
    }
    let assign =
        re(r#"(?i)\b(password|passwd|secret|api_?key|access_?token|auth_?token)\b\s*[:=]\s*["'][^"'\s]{8,}["']"#);
    for (f, l, _) in p.grep(&assign).filter(|(f, _, _)| code(f)) {
        out.push(finding(
            "secrets/hardcoded-credential",
            Secrets,
            High,
            Some((f, l)),
            "a credential is assigned a literal value",
            "Read it from an environment variable instead (process.env, os.environ).",
        ));
    }
    for f in p.files.iter().filter(|f| {
        f.rel
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with(".env") && !n.ends_with(".example"))
    }) {
        out.push(finding(
            "secrets/env-file",
            Secrets,
            Medium,
            Some((&f.rel, 0)),
            format!("`{}` holds environment values; sh0 push never uploads it", f.rel),
            "Set the values on the server with `sh0 env set` and keep .env* in .gitignore.",
        ));
    }

    // --- configuration ---
    let d = &p.detection;
    if !matches!(d.stack, Stack::Dockerfile | Stack::Static | Stack::Unknown) && d.start_command.is_none() {
        out.push(finding(
            "config/no-start-command",
            Configuration,
            High,
            None,
            "no start command was found",
            "Add a start script (package.json \"scripts.start\"), a main.py/app.py, or a Dockerfile.",
        ));
    }
    if let Some(pkg) = p.read("package.json") {
        let json: serde_json::Value = serde_json::from_str(pkg).unwrap_or_default();
        if json["engines"]["node"].is_null() && d.stack == Stack::Nodejs {
            out.push(finding(
                "config/node-engines",
                Configuration,
                Low,
                Some(("package.json", 0)),
                "package.json does not pin a Node.js version",
                "Add \"engines\": { \"node\": \">=20\" }.",
            ));
        }
        let needs_build = matches!(d.framework.as_deref(), Some("Next.js" | "Nuxt" | "SvelteKit" | "Astro"));
        if needs_build && json["scripts"]["build"].is_null() {
            out.push(finding(
                "config/no-build-script",
                Configuration,
                High,
                Some(("package.json", 0)),
                format!(
                    "{} needs a build step but package.json has no build script",
                    d.framework.as_deref().unwrap_or("")
                ),
                "Add \"scripts\": { \"build\": \"...\" }.",
            ));
        }
        let start = json["scripts"]["start"].as_str().unwrap_or("");
        if ["nodemon", "next dev", "vite", "nuxt dev", "ts-node-dev"]
            .iter()
            .any(|dev| start.contains(dev))
        {
            out.push(finding("runtime/dev-server", Runtime, High, Some(("package.json", 0)), format!("the start script runs a development server (`{start}`)"), "Start the production server (e.g. `next start`, `node server.js`); keep dev servers in a `dev` script."));
        }
        let lock = [
            "package-lock.json",
            "yarn.lock",
            "pnpm-lock.yaml",
            "bun.lockb",
            "bun.lock",
        ]
        .iter()
        .any(|l| p.has(l));
        if !lock {
            out.push(finding(
                "config/missing-lockfile",
                Configuration,
                Medium,
                Some(("package.json", 0)),
                "no lockfile: every build may install different versions",
                "Commit package-lock.json (or yarn.lock, pnpm-lock.yaml, bun.lock).",
            ));
        }
    }
    if d.stack == Stack::Python {
        let pinned = p
            .read("requirements.txt")
            .map(|r| {
                r.lines()
                    .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                    .all(|l| l.contains("=="))
            })
            .unwrap_or(false);
        if !pinned && !p.has("poetry.lock") && !p.has("uv.lock") {
            out.push(finding(
                "config/missing-lockfile",
                Configuration,
                Medium,
                None,
                "Python dependencies are not pinned",
                "Pin versions in requirements.txt (pkg==1.2.3) or commit poetry.lock / uv.lock.",
            ));
        }
    }
    let debug = re(r"^\s*DEBUG\s*=\s*True\b");
    for (f, l, _) in p.grep(&debug).filter(|(f, _, _)| f.ends_with(".py")) {
        out.push(finding(
            "config/debug-enabled",
            Configuration,
            High,
            Some((f, l)),
            "DEBUG = True ships debug pages and leaks settings",
            "Read it from the environment: DEBUG = os.environ.get(\"DEBUG\") == \"1\".",
        ));
    }
    let hosts = re(r"^\s*ALLOWED_HOSTS\s*=\s*\[\s*\]");
    for (f, l, _) in p.grep(&hosts).filter(|(f, _, _)| f.ends_with(".py")) {
        out.push(finding(
            "config/django-allowed-hosts",
            Configuration,
            Medium,
            Some((f, l)),
            "ALLOWED_HOSTS is empty: Django answers 400 to every host once DEBUG is off",
            "List the app's domain, or read it from the environment.",
        ));
    }

    // --- networking ---
    let localhost = re(
        r#"(listen\([^)]*["'](127\.0\.0\.1|localhost)["']|host\s*=\s*["'](127\.0\.0\.1|localhost)["']|--host[= ](127\.0\.0\.1|localhost)\b|\.run\([^)]*host\s*=\s*["']127\.0\.0\.1)"#,
    );
    for (f, l, _) in p.grep(&localhost) {
        out.push(finding(
            "net/localhost-bind",
            Networking,
            High,
            Some((f, l)),
            "the app listens on 127.0.0.1 only: nothing outside its container can reach it",
            "Listen on 0.0.0.0 (all interfaces).",
        ));
    }
    let literal_port = re(r"\.listen\(\s*\d{2,5}\s*[,)]");
    for f in p
        .sources()
        .filter(|f| [".js", ".ts", ".mjs", ".cjs"].iter().any(|e| f.rel.ends_with(e)))
    {
        let text = f.text.as_deref().unwrap_or("");
        if !text.contains("process.env.PORT")
            && let Some((i, _)) = text.lines().enumerate().find(|(_, l)| literal_port.is_match(l))
        {
            out.push(finding(
                "net/hardcoded-port",
                Networking,
                Low,
                Some((&f.rel, i as u32 + 1)),
                "the port is hard-coded",
                "Use process.env.PORT with a default: app.listen(process.env.PORT || 3000).",
            ));
        }
    }
    let local_url = re(r#"["']https?://(localhost|127\.0\.0\.1):\d+"#);
    for (f, l, _) in p
        .grep(&local_url)
        .filter(|(f, _, _)| !f.ends_with(".md") && !f.contains("test"))
    {
        out.push(finding(
            "net/localhost-url",
            Networking,
            Low,
            Some((f, l)),
            "a URL points at localhost; inside a container that is the container itself",
            "Read service URLs from environment variables.",
        ));
    }

    // --- runtime (Python) ---
    let py_debug = re(r"\.run\([^)]*debug\s*=\s*True|manage\.py\s+runserver|flask\s+run");
    for (f, l, _) in p
        .grep(&py_debug)
        .filter(|(f, _, _)| f.ends_with(".py") || f.ends_with("Procfile") || f.ends_with("Dockerfile"))
    {
        out.push(finding(
            "runtime/debug-server",
            Runtime,
            High,
            Some((f, l)),
            "a development server is started (debug mode, runserver or flask run)",
            "Serve with gunicorn or uvicorn in production.",
        ));
    }
    let health = re(r#"["'/](health|healthz|ready|readyz|livez)["'/]"#);
    let has_code = p.sources().any(|f| {
        [".js", ".ts", ".py", ".go", ".rs", ".java", ".rb", ".php"]
            .iter()
            .any(|e| f.rel.ends_with(e))
    });
    if has_code && p.grep(&health).next().is_none() {
        out.push(finding(
            "runtime/no-health-endpoint",
            Runtime,
            Low,
            None,
            "no health endpoint (/health, /healthz) was found; sh0 checks `/` by default",
            "Add a cheap /healthz route and set it: sh0 app update --health-path /healthz.",
        ));
    }

    // --- performance ---
    for f in p.files.iter().filter(|f| f.size > 50 * 1024 * 1024) {
        out.push(finding(
            "perf/huge-file",
            Performance,
            Medium,
            Some((&f.rel, 0)),
            format!(
                "`{}` is {} MB and is uploaded with every push",
                f.rel,
                f.size / 1024 / 1024
            ),
            "Exclude it in .sh0ignore or fetch it at build time.",
        ));
    }
    let total: u64 = p.files.iter().map(|f| f.size).sum();
    if total > 200 * 1024 * 1024 {
        out.push(finding(
            "perf/large-context",
            Performance,
            Medium,
            None,
            format!("the project is {} MB", total / 1024 / 1024),
            "Exclude data, media and build output in .sh0ignore.",
        ));
    }

    // --- hygiene ---
    if !p.files.iter().any(|f| f.rel.to_lowercase().starts_with("readme")) {
        out.push(finding(
            "hygiene/no-readme",
            Hygiene,
            Low,
            None,
            "no README",
            "Add a README saying what the app is and how to run it.",
        ));
    }
    if !p.has(".gitignore") {
        out.push(finding(
            "hygiene/no-gitignore",
            Hygiene,
            Low,
            None,
            "no .gitignore",
            "Add one (dependencies, build output, .env*).",
        ));
    }
    for f in p.files.iter().filter(|f| {
        let n = f.rel.rsplit('/').next().unwrap_or(&f.rel);
        n == ".DS_Store" || n == "Thumbs.db" || n.ends_with(".swp") || n.ends_with('~')
    }) {
        out.push(finding(
            "hygiene/os-junk",
            Hygiene,
            Low,
            Some((&f.rel, 0)),
            format!("`{}` is editor or OS clutter", f.rel),
            "Delete it and add it to .gitignore.",
        ));
    }
    for f in p.files.iter().filter(|f| f.rel.ends_with(".log")) {
        out.push(finding(
            "hygiene/log-file",
            Hygiene,
            Low,
            Some((&f.rel, 0)),
            format!("log file `{}` is part of the project", f.rel),
            "Delete it and ignore *.log.",
        ));
    }
    if p.files.len() > 10_000 {
        out.push(finding(
            "hygiene/many-files",
            Hygiene,
            Low,
            None,
            format!("{} files", p.files.len()),
            "Exclude generated files and vendored dependencies.",
        ));
    }
    out
}
