//! Offline commands on the working directory: `init` and `check`.

use clap::ArgMatches;

use super::link::dir_of;
use crate::build::check::{Severity, check as run_check};
use crate::build::ignore_rules::ALWAYS_EXCLUDED;
use crate::build::{Stack, detect};

/// Patterns worth excluding per stack, on top of the always-excluded ones.
fn stack_patterns(stack: Stack) -> &'static [&'static str] {
    match stack {
        Stack::Nodejs | Stack::Bun => &["coverage", "*.log", ".npm"],
        Stack::Python => &[".pytest_cache", ".mypy_cache", "*.egg-info", "htmlcov"],
        Stack::Go => &["bin", "*.test"],
        Stack::Rust => &["*.rs.bk"],
        Stack::Java => &[".gradle", "out"],
        _ => &["*.log"],
    }
}

pub fn init(m: &ArgMatches) -> i32 {
    let dir = dir_of(m);
    let d = detect(&dir);
    let path = dir.join(".sh0ignore");
    if path.exists() {
        println!("Detected {}; {} already exists, left as is", d.label(), path.display());
        return 0;
    }
    let mut text = String::from("# What `sh0 push` leaves out (gitignore syntax). These are always excluded:\n");
    for p in ALWAYS_EXCLUDED {
        text.push_str(p);
        text.push('\n');
    }
    text.push_str(&format!("# For {}:\n", d.label()));
    for p in stack_patterns(d.stack) {
        text.push_str(p);
        text.push('\n');
    }
    match std::fs::write(&path, text) {
        Ok(()) => {
            println!("Detected {}; wrote {}", d.label(), path.display());
            0
        }
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            1
        }
    }
}

pub fn check(m: &ArgMatches) -> i32 {
    let dir = dir_of(m);
    if !dir.is_dir() {
        eprintln!("error: {} is not a directory", dir.display());
        return 2;
    }
    let report = run_check(&dir);
    if m.get_flag("json") {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        return 0;
    }
    let label = match &report.framework {
        Some(f) => format!("{} ({f})", report.stack),
        None => report.stack.clone(),
    };
    println!(
        "{label} -- {}/100 health ({} rules, {} files)",
        report.score, report.rules, report.files_scanned
    );
    for f in &report.findings {
        let sev = match f.severity {
            Severity::Critical => "CRITICAL",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        };
        let place = match (&f.file, f.line) {
            (Some(file), Some(line)) => format!(" {file}:{line}"),
            (Some(file), None) => format!(" {file}"),
            _ => String::new(),
        };
        println!("  [{sev}] {}{place}: {}\n         fix: {}", f.rule, f.message, f.fix);
    }
    0
}
