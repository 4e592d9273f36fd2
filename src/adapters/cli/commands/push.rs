//! `sh0 push`: from a directory to a live URL. Detect (never blocking: the server decides
//! when detection fails), package an in-memory ZIP under the ignore rules and guards,
//! upload, follow the build, print the URL, and remember the app in `.sh0/link.json`.
//! The spinner is finished on every way out — success, failure, network error, Ctrl-C.

use clap::ArgMatches;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

use super::super::{client, exit_code};
use super::link::{Link, dir_of};
use crate::build::{check::check, detect, ignore_rules};
use crate::client::ApiClient;
use crate::registry::{ErrorKind, ToolError};

/// An app name from a directory name: ASCII lowercase letters, digits and `-`.
pub fn sanitize_name(raw: &str) -> Option<String> {
    let mut out = String::new();
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(63).collect();
    let out = out.trim_end_matches('-').to_string();
    (!out.is_empty()).then_some(out)
}

/// A spinner that is always finished: dropping it unfinished abandons it cleanly.
struct Spinner(Option<ProgressBar>);

impl Spinner {
    fn start(quiet: bool, msg: &str) -> Self {
        if quiet {
            return Self(None);
        }
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.enable_steady_tick(Duration::from_millis(100));
        pb.set_message(msg.to_owned());
        Self(Some(pb))
    }

    fn set(&self, msg: String) {
        if let Some(pb) = &self.0 {
            pb.set_message(msg);
        }
    }

    fn done(mut self, line: String) {
        if let Some(pb) = self.0.take() {
            pb.finish_and_clear();
            println!("{line}");
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(pb) = self.0.take() {
            pb.abandon();
        }
    }
}

struct Outcome {
    json: Value,
    code: i32,
}

fn error_outcome(e: &ToolError) -> Outcome {
    Outcome {
        json: json!({ "ok": false, "error": e }),
        code: exit_code(e.kind),
    }
}

pub async fn push(m: &ArgMatches) -> i32 {
    let dir = dir_of(m);
    let as_json = m.get_flag("json");
    let name = m.get_one::<String>("name").cloned();
    let port = m.get_one::<u16>("port").copied();
    let outcome = tokio::select! {
        o = push_dir(&dir, name, port, as_json) => o,
        _ = tokio::signal::ctrl_c() => {
            Outcome { json: json!({ "ok": false, "error": { "kind": "cancelled", "message": "interrupted" } }), code: 130 }
        }
    };
    if as_json {
        println!("{}", outcome.json);
    } else if outcome.code == 130 {
        eprintln!("\ninterrupted: the upload was stopped; a build already started keeps running on the server");
    }
    outcome.code
}

async fn push_dir(dir: &Path, name: Option<String>, port: Option<u16>, quiet: bool) -> Outcome {
    let started = Instant::now();
    let say = |line: String| {
        if !quiet {
            println!("{line}");
        }
    };
    let c = match client("cli") {
        Ok(c) => c,
        Err(e) => return report(&e, quiet),
    };
    let link = Link::read(dir).filter(|l| l.server_url == c.base_url());
    let dir_name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let name = match name
        .or(link.as_ref().map(|l| l.app_name.clone()))
        .or_else(|| dir_name.as_deref().and_then(sanitize_name))
    {
        Some(n) => n,
        None => {
            let e = ToolError::invalid(format!(
                "the directory name `{}` has no ASCII letters or digits to make an app name from; pass --name my-app",
                dir_name.unwrap_or_default()
            ));
            return report(&e, quiet);
        }
    };
    say(format!("Pushing {name}"));

    // Detection and the health check inform, they never block: on any doubt the server decides.
    let detection = detect(dir);
    let health = check(dir);
    say(format!("Detected {} -- {}/100 health", detection.label(), health.score));
    let port = port.or(Some(detection.port));

    let files = match ignore_rules::collect(dir).and_then(|f| ignore_rules::zip(&f).map(|z| (f, z))) {
        Ok(v) => v,
        Err(e) => return report(&ToolError::invalid(e.to_string()), quiet),
    };
    let (files, archive) = files;
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    say(format!("{} files ({:.1} MB) packaged", files.len(), bytes as f64 / 1e6));

    let spin = Spinner::start(quiet, "Uploading");
    let t = Instant::now();
    let mut uploaded = c
        .upload(link.as_ref().map(|l| l.app_id.as_str()), &name, port, archive.clone())
        .await;
    if let (Err(e), Some(_)) = (&uploaded, &link)
        && e.kind == ErrorKind::NotFound
    {
        // The linked app is gone: deploy as a new app of the same name.
        uploaded = c.upload(None, &name, port, archive).await;
    }
    let up = match uploaded {
        Ok(v) => v,
        Err(e) => {
            spin.done("Uploading FAILED".into());
            return report(&e, quiet);
        }
    };
    spin.done(format!("Uploading OK {:.1}s", t.elapsed().as_secs_f64()));

    let deployment = up["deployment_id"].as_str().unwrap_or_default().to_owned();
    let new_link = Link {
        app_id: up["app_id"].as_str().unwrap_or_default().into(),
        app_name: up["app"].as_str().unwrap_or(&name).into(),
        server_url: c.base_url().into(),
    };
    if let Err(e) = new_link.write(dir) {
        eprintln!("warning: could not write {}: {e}", Link::path(dir).display());
    }

    let spin = Spinner::start(quiet, "Building");
    let t = Instant::now();
    let fin = follow(&c, &deployment, &spin).await;
    let fin = match fin {
        Ok(d) => d,
        Err(e) => {
            spin.done("Building FAILED".into());
            return report(&e, quiet);
        }
    };
    let status = fin["status"].as_str().unwrap_or("unknown").to_owned();
    let summary = json!({
        "ok": status == "running",
        "app_id": new_link.app_id,
        "app_name": new_link.app_name,
        "deployment_id": deployment,
        "status": status,
        "url": up["url"],
        "stack": detection.stack.as_str(),
        "framework": detection.framework,
        "health_score": health.score,
        "files": files.len(),
        "bytes": bytes,
        "seconds": started.elapsed().as_secs_f64(),
        "error": fin["error"],
    });
    if status != "running" {
        spin.done(format!("Building FAILED {:.1}s", t.elapsed().as_secs_f64()));
        if !quiet {
            eprintln!(
                "[failed] deployment {deployment} is {status}:\n{}",
                fin["error"].as_str().unwrap_or("")
            );
            eprintln!("The previous version, if any, keeps serving.");
        }
        return Outcome { json: summary, code: 1 };
    }
    spin.done(format!("Building OK {:.1}s", t.elapsed().as_secs_f64()));
    say(format!("[ok] Live in {:.1}s", started.elapsed().as_secs_f64()));
    say(format!("-> {}", up["url"].as_str().unwrap_or("")));
    Outcome { json: summary, code: 0 }
}

/// Follows the build, showing its phases under the spinner.
async fn follow(c: &ApiClient, deployment: &str, spin: &Spinner) -> Result<Value, ToolError> {
    c.follow(deployment, |line| {
        let phase = line.starts_with("==>")
            || line.starts_with("Step ")
            || line.starts_with("health")
            || line.starts_with("routing");
        if phase {
            let line = crate::adapters::cli::output::printable(line);
            spin.set(format!("Building  {}", line.chars().take(70).collect::<String>()));
        }
    })
    .await
}

fn report(e: &ToolError, quiet: bool) -> Outcome {
    if !quiet {
        eprintln!("error: {}", crate::adapters::cli::output::printable(&e.message));
    }
    error_outcome(e)
}

/// `sh0 watch`: push, then push again after each change (500 ms debounce), until Ctrl-C.
pub async fn watch(m: &ArgMatches) -> i32 {
    use notify_debouncer_mini::{DebounceEventResult, new_debouncer, notify::RecursiveMode};
    let dir = dir_of(m);
    let name = m.get_one::<String>("name").cloned();
    let port = m.get_one::<u16>("port").copied();
    let matcher = match ignore_rules::matcher(&dir) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let root = std::fs::canonicalize(&dir).unwrap_or(dir.clone());
    let mut debouncer = match new_debouncer(Duration::from_millis(500), move |res: DebounceEventResult| {
        if let Ok(events) = res {
            let relevant = events.iter().any(|e| {
                let rel = e.path.strip_prefix(&root).unwrap_or(&e.path);
                !matcher.matched_path_or_any_parents(rel, e.path.is_dir()).is_ignore()
            });
            if relevant {
                let _ = tx.send(());
            }
        }
    }) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot watch {}: {e}", dir.display());
            return 1;
        }
    };
    if let Err(e) = debouncer.watcher().watch(&dir, RecursiveMode::Recursive) {
        eprintln!("error: cannot watch {}: {e}", dir.display());
        return 1;
    }
    loop {
        let o = push_dir(&dir, name.clone(), port, false).await;
        if o.code != 0 {
            eprintln!("(push failed; waiting for the next change)");
        }
        println!("Watching {} for changes (Ctrl-C to stop)", dir.display());
        tokio::select! {
            got = rx.recv() => if got.is_none() { return 0 },
            _ = tokio::signal::ctrl_c() => return 0,
        }
        while rx.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize_name;

    #[test]
    fn names_from_directories() {
        assert_eq!(sanitize_name("My App").as_deref(), Some("my-app"));
        assert_eq!(sanitize_name("--web__2--").as_deref(), Some("web-2"));
        assert_eq!(sanitize_name("Café").as_deref(), Some("caf"));
        assert_eq!(sanitize_name("应用"), None);
        assert_eq!(sanitize_name("تطبيق"), None);
        assert_eq!(sanitize_name(&"a".repeat(80)).map(|n| n.len()), Some(63));
    }
}
