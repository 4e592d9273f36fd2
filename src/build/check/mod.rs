//! The project health check: rules in eight categories over a source directory, a 0-100
//! score and findings with file, line, severity and a fix. Pure Rust, no network, no
//! subprocess: it runs on the server (`project_check`) and offline (`sh0 check`).

mod dockerfile_rules;
mod source_rules;

use regex::Regex;
use schemars::JsonSchema;
use serde::Serialize;
use std::path::Path;

use super::detect::{self, Detection};
use super::tree::{EntryKind, SourceTree};

/// The largest file whose text the rules read.
const MAX_TEXT: u64 = 512 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    fn penalty(self) -> u32 {
        match self {
            Self::Low => 2,
            Self::Medium => 6,
            Self::High => 15,
            Self::Critical => 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Secrets,
    Configuration,
    Networking,
    Build,
    Runtime,
    Security,
    Performance,
    Hygiene,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Finding {
    /// Stable rule id, e.g. `secrets/aws-key`.
    pub rule: &'static str,
    pub category: Category,
    pub severity: Severity,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub message: String,
    pub fix: &'static str,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Report {
    pub stack: String,
    pub framework: Option<String>,
    /// 0 (many serious problems) to 100 (nothing found).
    pub score: u32,
    pub findings: Vec<Finding>,
    pub files_scanned: usize,
    /// How many rules ran.
    pub rules: usize,
}

/// The number of rules, for the report and the docs.
pub const RULE_COUNT: usize = source_rules::RULES + dockerfile_rules::RULES;

/// A file of the project, with its text when it is small and textual.
pub(super) struct SourceFile {
    pub rel: String,
    pub size: u64,
    pub text: Option<String>,
}

/// What the rules look at.
pub(super) struct Project {
    pub detection: Detection,
    pub files: Vec<SourceFile>,
    pub dockerfile: Option<String>,
}

impl Project {
    pub fn has(&self, rel: &str) -> bool {
        self.files.iter().any(|f| f.rel == rel)
    }

    pub fn read(&self, rel: &str) -> Option<&str> {
        self.files.iter().find(|f| f.rel == rel).and_then(|f| f.text.as_deref())
    }

    /// Source texts (code and config, not lockfiles).
    pub fn sources(&self) -> impl Iterator<Item = &SourceFile> {
        self.files
            .iter()
            .filter(|f| f.text.is_some() && !f.rel.ends_with(".lock") && !f.rel.ends_with("-lock.json"))
    }

    /// Every line of every source file matching `re`, as (file, 1-based line).
    pub fn grep<'a>(&'a self, re: &'a Regex) -> impl Iterator<Item = (&'a str, u32, &'a str)> + 'a {
        self.sources().flat_map(move |f| {
            f.text
                .as_deref()
                .unwrap_or("")
                .lines()
                .enumerate()
                .filter(move |(_, l)| l.len() < 2000 && re.is_match(l))
                .map(move |(i, l)| (f.rel.as_str(), i as u32 + 1, l))
        })
    }
}

/// Directories never scanned (dependencies and build output).
const UNSCANNED_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    ".next",
    ".nuxt",
    ".output",
    "dist",
    "build",
    ".svelte-kit",
    ".turbo",
    ".cache",
    ".sh0",
];

const TEXT_EXT: &[&str] = &[
    "js",
    "mjs",
    "cjs",
    "ts",
    "tsx",
    "jsx",
    "py",
    "go",
    "rs",
    "java",
    "kt",
    "rb",
    "php",
    "cs",
    "json",
    "yaml",
    "yml",
    "toml",
    "ini",
    "cfg",
    "conf",
    "sh",
    "env",
    "txt",
    "md",
    "xml",
    "gradle",
    "properties",
    "html",
    "vue",
    "svelte",
    "astro",
];

fn is_text(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name == "Dockerfile"
        || name == "Procfile"
        || name.starts_with(".env")
        || name.starts_with(".git")
        || name.starts_with(".docker")
        || name.rsplit_once('.').is_some_and(|(_, ext)| TEXT_EXT.contains(&ext))
}

/// The files of the tree, read beneath its root; links are neither followed nor scanned.
fn load(tree: &SourceTree) -> Vec<SourceFile> {
    let skip = |name: &str| UNSCANNED_DIRS.contains(&name);
    let mut files: Vec<SourceFile> = tree
        .walk(&skip, 200_000)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.kind == EntryKind::File)
        .take(100_000)
        .map(|e| {
            let text = (e.size <= MAX_TEXT && is_text(&e.rel))
                .then(|| tree.read_text(&e.rel, MAX_TEXT))
                .flatten();
            SourceFile {
                rel: e.rel,
                size: e.size,
                text,
            }
        })
        .collect();
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    files
}

/// Runs every rule over `dir`.
pub fn check(dir: &Path) -> Report {
    match SourceTree::open(dir) {
        Ok(tree) => check_tree(&tree),
        Err(_) => check_files(Vec::new(), detect::detect(dir), None),
    }
}

/// Runs every rule over an opened tree, reading only beneath its root.
pub fn check_tree(tree: &SourceTree) -> Report {
    let files = load(tree);
    check_files(files, detect::detect_tree(tree), tree.read_text("Dockerfile", MAX_TEXT))
}

fn check_files(files: Vec<SourceFile>, detection: Detection, dockerfile: Option<String>) -> Report {
    let project = Project {
        detection,
        dockerfile,
        files,
    };
    let mut findings = source_rules::run(&project);
    findings.extend(dockerfile_rules::run(&project));
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(b.rule)));
    // Each rule costs once, however many places it fires.
    let mut seen: Vec<&str> = Vec::new();
    let mut penalty = 0;
    for f in &findings {
        if !seen.contains(&f.rule) {
            seen.push(f.rule);
            penalty += f.severity.penalty();
        }
    }
    Report {
        stack: project.detection.stack.as_str().into(),
        framework: project.detection.framework.clone(),
        score: 100u32.saturating_sub(penalty),
        findings,
        files_scanned: project.files.len(),
        rules: RULE_COUNT,
    }
}

pub(super) fn finding(
    rule: &'static str,
    category: Category,
    severity: Severity,
    at: Option<(&str, u32)>,
    message: impl Into<String>,
    fix: &'static str,
) -> Finding {
    Finding {
        rule,
        category,
        severity,
        file: at.map(|(f, _)| f.to_owned()),
        line: at.map(|(_, l)| l).filter(|l| *l > 0),
        message: message.into(),
        fix,
    }
}
