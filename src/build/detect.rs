//! Stack detection: what a directory is, how to build and start it, and on which port.
//! Order matters: a Dockerfile always wins; a framework wins over its runtime's package
//! manager (a Next.js app with `bun.lockb` is Next.js, built with bun).

use schemars::JsonSchema;
use serde::Serialize;
use std::path::Path;

use super::tree::SourceTree;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stack {
    Dockerfile,
    Nodejs,
    Bun,
    Python,
    Go,
    Rust,
    Java,
    Php,
    Dotnet,
    Ruby,
    Static,
    Unknown,
}

impl Stack {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dockerfile => "dockerfile",
            Self::Nodejs => "nodejs",
            Self::Bun => "bun",
            Self::Python => "python",
            Self::Go => "go",
            Self::Rust => "rust",
            Self::Java => "java",
            Self::Php => "php",
            Self::Dotnet => "dotnet",
            Self::Ruby => "ruby",
            Self::Static => "static",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    Npm,
    Yarn,
    Pnpm,
    Bun,
    Pip,
    Poetry,
    Uv,
    Maven,
    Gradle,
    Cargo,
    Go,
}

impl PackageManager {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Npm => "npm",
            Self::Yarn => "yarn",
            Self::Pnpm => "pnpm",
            Self::Bun => "bun",
            Self::Pip => "pip",
            Self::Poetry => "poetry",
            Self::Uv => "uv",
            Self::Maven => "maven",
            Self::Gradle => "gradle",
            Self::Cargo => "cargo",
            Self::Go => "go",
        }
    }

    /// `<pm> run <script>`.
    pub fn run(self, script: &str) -> String {
        match self {
            Self::Npm => format!("npm run {script}"),
            Self::Yarn => format!("yarn {script}"),
            Self::Pnpm => format!("pnpm run {script}"),
            _ => format!("bun run {script}"),
        }
    }
}

/// What a directory is.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Detection {
    pub stack: Stack,
    /// `Next.js`, `Django`, `Maven`, ...
    pub framework: Option<String>,
    pub package_manager: Option<PackageManager>,
    pub build_command: Option<String>,
    pub start_command: Option<String>,
    /// The port the app listens on by default.
    pub port: u16,
    /// For Python: the WSGI/ASGI target (`mysite.wsgi`, `main:app`); for Rust: the binary.
    pub entry: Option<String>,
}

impl Detection {
    fn new(stack: Stack, port: u16) -> Self {
        Self {
            stack,
            framework: None,
            package_manager: None,
            build_command: None,
            start_command: None,
            port,
            entry: None,
        }
    }

    /// `nodejs (Next.js)`, `static`, ...
    pub fn label(&self) -> String {
        match &self.framework {
            Some(f) => format!("{} ({f})", self.stack.as_str()),
            None => self.stack.as_str().to_string(),
        }
    }
}

/// The largest file detection reads (manifests, lockfile presence aside, are small).
const MAX_READ: u64 = 1024 * 1024;

fn read(dir: &SourceTree, name: &str) -> Option<String> {
    dir.read_text(name, MAX_READ)
}

fn exists(dir: &SourceTree, name: &str) -> bool {
    dir.exists(name)
}

fn any_with_ext(dir: &SourceTree, ext: &str) -> bool {
    dir.root_names()
        .iter()
        .any(|n| Path::new(n).extension().is_some_and(|x| x == ext))
}

/// Detects the stack of `dir`. Never fails: an unrecognised or unreadable directory is
/// `Unknown`. Everything is read beneath `dir` (see [`SourceTree`]).
pub fn detect(dir: &Path) -> Detection {
    match SourceTree::open(dir) {
        Ok(tree) => detect_tree(&tree),
        Err(_) => Detection::new(Stack::Unknown, 8080),
    }
}

/// Detects the stack of an opened tree.
pub fn detect_tree(dir: &SourceTree) -> Detection {
    if exists(dir, "Dockerfile") {
        let port = read(dir, "Dockerfile").and_then(|d| expose_port(&d)).unwrap_or(8080);
        return Detection::new(Stack::Dockerfile, port);
    }
    if let Some(pkg) = read(dir, "package.json") {
        return node(dir, &pkg);
    }
    if let Some(d) = python(dir) {
        return d;
    }
    if let Some(gomod) = read(dir, "go.mod") {
        let mut d = Detection::new(Stack::Go, 8080);
        d.package_manager = Some(PackageManager::Go);
        d.framework = ["gin-gonic/gin", "labstack/echo", "gofiber/fiber"]
            .iter()
            .find(|m| gomod.contains(*m))
            .map(|m| m.split('/').next_back().unwrap_or(m).to_string());
        d.build_command = Some("go build -o /out/server .".into());
        d.start_command = Some("/app/server".into());
        return d;
    }
    if let Some(cargo) = read(dir, "Cargo.toml") {
        let mut d = Detection::new(Stack::Rust, 8080);
        d.package_manager = Some(PackageManager::Cargo);
        d.entry = cargo.lines().skip_while(|l| l.trim() != "[package]").find_map(|l| {
            l.trim()
                .strip_prefix("name")
                .map(|r| r.trim_start_matches([' ', '=']).trim_matches('"').to_string())
        });
        // Only a name cargo accepts becomes a path and an argument in the Dockerfile.
        d.entry = d
            .entry
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        d.build_command = Some("cargo build --release".into());
        d.start_command = d.entry.as_ref().map(|b| format!("/app/{b}"));
        return d;
    }
    if exists(dir, "pom.xml") {
        let mut d = Detection::new(Stack::Java, 8080);
        d.framework = Some("Maven".into());
        d.package_manager = Some(PackageManager::Maven);
        d.build_command = Some("mvn -q -DskipTests package".into());
        d.start_command = Some("java -jar /app/app.jar".into());
        return d;
    }
    if exists(dir, "build.gradle") || exists(dir, "build.gradle.kts") {
        let mut d = Detection::new(Stack::Java, 8080);
        d.framework = Some("Gradle".into());
        d.package_manager = Some(PackageManager::Gradle);
        d.build_command = Some("gradle --no-daemon -x test build".into());
        d.start_command = Some("java -jar /app/app.jar".into());
        return d;
    }
    if exists(dir, "composer.json") || exists(dir, "index.php") {
        let mut d = Detection::new(Stack::Php, 80);
        d.framework = exists(dir, "artisan").then(|| "Laravel".into());
        return d;
    }
    if any_with_ext(dir, "csproj") || any_with_ext(dir, "sln") || any_with_ext(dir, "fsproj") {
        let mut d = Detection::new(Stack::Dotnet, 8080);
        d.framework = Some("ASP.NET".into());
        return d;
    }
    if exists(dir, "Gemfile") {
        let mut d = Detection::new(Stack::Ruby, 3000);
        d.framework = read(dir, "Gemfile")
            .filter(|g| g.contains("rails"))
            .map(|_| "Rails".into());
        return d;
    }
    if exists(dir, "index.html") {
        return Detection::new(Stack::Static, 8080);
    }
    Detection::new(Stack::Unknown, 8080)
}

fn expose_port(dockerfile: &str) -> Option<u16> {
    dockerfile.lines().find_map(|l| {
        let l = l.trim();
        let rest = l.get(..7).filter(|p| p.eq_ignore_ascii_case("EXPOSE "))?;
        let _ = rest;
        l[7..].split_whitespace().next()?.split('/').next()?.parse().ok()
    })
}

fn node(dir: &SourceTree, pkg: &str) -> Detection {
    let json: serde_json::Value = serde_json::from_str(pkg).unwrap_or_default();
    let has_dep = |name: &str| {
        ["dependencies", "devDependencies"]
            .iter()
            .any(|k| json[k].get(name).is_some())
    };
    let script = |name: &str| json["scripts"][name].as_str().map(str::to_owned);
    let pm = if exists(dir, "bun.lockb") || exists(dir, "bun.lock") {
        PackageManager::Bun
    } else if exists(dir, "pnpm-lock.yaml") {
        PackageManager::Pnpm
    } else if exists(dir, "yarn.lock") {
        PackageManager::Yarn
    } else {
        PackageManager::Npm
    };
    let framework = if has_dep("next") {
        Some(("Next.js", 3000, Some("start".to_string())))
    } else if has_dep("nuxt") {
        Some(("Nuxt", 3000, None))
    } else if has_dep("@sveltejs/kit") {
        Some(("SvelteKit", 3000, None))
    } else if has_dep("astro") {
        Some(("Astro", 8080, None))
    } else {
        None
    };
    let stack = if framework.is_none() && pm == PackageManager::Bun {
        Stack::Bun
    } else {
        Stack::Nodejs
    };
    let mut d = Detection::new(stack, 3000);
    d.package_manager = Some(pm);
    d.build_command = script("build").map(|_| pm.run("build"));
    match framework {
        Some((name, port, _)) => {
            d.framework = Some(name.into());
            d.port = port;
            d.start_command = Some(match name {
                "Next.js" => pm.run("start"),
                "Nuxt" => "node .output/server/index.mjs".into(),
                "SvelteKit" => "node build".into(),
                _ => "static files from dist/".into(),
            });
            if d.build_command.is_none() {
                d.build_command = Some(pm.run("build"));
            }
        }
        None => {
            d.start_command = script("start").map(|_| pm.run("start")).or_else(|| {
                json["main"]
                    .as_str()
                    .map(|m| format!("{} {m}", if pm == PackageManager::Bun { "bun" } else { "node" }))
            });
        }
    }
    d
}

fn python(dir: &SourceTree) -> Option<Detection> {
    let reqs = read(dir, "requirements.txt").unwrap_or_default().to_lowercase();
    let pyproject = read(dir, "pyproject.toml").unwrap_or_default().to_lowercase();
    let is_python = !reqs.is_empty() || !pyproject.is_empty() || exists(dir, "manage.py") || exists(dir, "Pipfile");
    if !is_python {
        return None;
    }
    let deps = format!("{reqs}\n{pyproject}");
    let pm = if exists(dir, "uv.lock") {
        PackageManager::Uv
    } else if exists(dir, "poetry.lock") || pyproject.contains("[tool.poetry]") {
        PackageManager::Poetry
    } else {
        PackageManager::Pip
    };
    let mut d = Detection::new(Stack::Python, 8000);
    d.package_manager = Some(pm);
    if exists(dir, "manage.py") || deps.contains("django") {
        // manage.py: os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        let settings = read(dir, "manage.py").and_then(|m| {
            let re = regex::Regex::new(r#"DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([\w.]+)\.settings['"]"#).ok()?;
            re.captures(&m).map(|c| c[1].to_string())
        });
        d.framework = Some("Django".into());
        d.entry = Some(format!("{}.wsgi", settings.unwrap_or_else(|| "app".into())));
        d.start_command = Some(format!(
            "gunicorn {} --bind 0.0.0.0:8000",
            d.entry.as_deref().unwrap_or("app.wsgi")
        ));
    } else if deps.contains("fastapi") {
        d.framework = Some("FastAPI".into());
        d.entry = Some(app_module(dir, "FastAPI("));
        d.start_command = Some(format!(
            "uvicorn {} --host 0.0.0.0 --port 8000",
            d.entry.as_deref().unwrap_or("main:app")
        ));
    } else if deps.contains("flask") {
        d.framework = Some("Flask".into());
        d.entry = Some(app_module(dir, "Flask("));
        d.start_command = Some(format!(
            "gunicorn {} --bind 0.0.0.0:8000",
            d.entry.as_deref().unwrap_or("app:app")
        ));
    } else {
        let main = ["main.py", "app.py", "server.py"].into_iter().find(|f| exists(dir, f));
        d.start_command = main.map(|m| format!("python {m}"));
    }
    Some(d)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `module:variable` of the file that creates the app object (`app = FastAPI()`).
fn app_module(dir: &SourceTree, ctor: &str) -> String {
    for file in [
        "main.py",
        "app.py",
        "server.py",
        "app/main.py",
        "src/main.py",
        "wsgi.py",
        "asgi.py",
    ] {
        if let Some(text) = read(dir, file) {
            for line in text.lines() {
                if let Some((var, rhs)) = line.split_once('=')
                    && rhs.trim_start().starts_with(ctor)
                    && is_identifier(var.trim())
                {
                    let module = file.trim_end_matches(".py").replace('/', ".");
                    return format!("{module}:{}", var.trim());
                }
            }
        }
    }
    if ctor.starts_with("Flask") {
        "app:app".into()
    } else {
        "main:app".into()
    }
}
