//! `.sh0/link.json`: which app a directory deploys to, and the commands that use it
//! (`link`, `open`, `logs`).

use clap::ArgMatches;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};

use super::super::{client, exit_code, fail};
use crate::registry::ErrorKind;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Link {
    pub app_id: String,
    pub app_name: String,
    pub server_url: String,
}

impl Link {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(".sh0").join("link.json")
    }

    pub fn read(dir: &Path) -> Option<Self> {
        serde_json::from_str(&std::fs::read_to_string(Self::path(dir)).ok()?).ok()
    }

    /// Written atomically (temporary file + rename), so an interrupted push never leaves
    /// a half-written link.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).unwrap_or_default() + "\n";
        crate::util::write_private_file(&Self::path(dir), text.as_bytes())
    }
}

pub(super) fn dir_of(m: &ArgMatches) -> PathBuf {
    m.get_one::<String>("dir")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub async fn link(m: &ArgMatches) -> i32 {
    let dir = dir_of(m);
    let c = match client("cli") {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let app = m.get_one::<String>("app").cloned().unwrap_or_default();
    match c.call_tool("app_get", json!({ "app": app })).await {
        Ok(a) => {
            let link = Link {
                app_id: a["id"].as_str().unwrap_or_default().into(),
                app_name: a["name"].as_str().unwrap_or_default().into(),
                server_url: c.base_url().into(),
            };
            if let Err(e) = link.write(&dir) {
                eprintln!("error: could not write {}: {e}", Link::path(&dir).display());
                return 1;
            }
            println!("Linked {} to {} on {}", dir.display(), link.app_name, link.server_url);
            0
        }
        Err(e) => fail(&e),
    }
}

/// The app a command acts on: `--app`, else the directory's link.
fn target(m: &ArgMatches) -> Result<String, i32> {
    if let Some(a) = m.try_get_one::<String>("app").ok().flatten() {
        return Ok(a.clone());
    }
    match Link::read(&dir_of(m)) {
        Some(l) => Ok(l.app_id),
        None => {
            eprintln!("error: this directory is not linked to an app; run `sh0 push` or `sh0 link --app NAME`");
            Err(exit_code(ErrorKind::InvalidInput))
        }
    }
}

/// The target app and a client, or the exit code of what went wrong.
fn app_and_client(m: &ArgMatches) -> Result<(String, crate::client::ApiClient), i32> {
    let app = target(m)?;
    let c = client("cli").map_err(|e| fail(&e))?;
    Ok((app, c))
}

pub async fn open(m: &ArgMatches) -> i32 {
    let (app, c) = match app_and_client(m) {
        Ok(v) => v,
        Err(code) => return code,
    };
    match c
        .call_tool("app_get", json!({ "app": app }))
        .await
        .or(Err(()))
        .and_then(|v| v["url"].as_str().map(str::to_owned).ok_or(()))
    {
        Ok(url) => {
            println!("{url}");
            if let Err(e) = ::open::that_detached(&url) {
                eprintln!("(could not open a browser: {e})");
            }
            0
        }
        Err(()) => {
            eprintln!("error: could not find the app's URL");
            exit_code(ErrorKind::NotFound)
        }
    }
}

pub async fn logs(m: &ArgMatches) -> i32 {
    let (app, c) = match app_and_client(m) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let tail = m.get_one::<u32>("tail").copied().unwrap_or(100);
    let follow = m.get_flag("follow");
    let mut last: Option<String> = None;
    let mut since: Option<i64> = None;
    loop {
        let mut args = json!({ "app": app, "tail": if last.is_some() { 1000 } else { tail } });
        if let Some(s) = since {
            args["since"] = json!(s);
        }
        match c.call_tool("app_logs", args).await {
            Ok(v) => {
                let lines: Vec<&str> = v["lines"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l.as_str())
                    .collect();
                // Docker's `since` has second granularity: skip what was already printed.
                let start = last
                    .as_ref()
                    .and_then(|l| lines.iter().position(|x| x == l).map(|i| i + 1))
                    .unwrap_or(0);
                for l in &lines[start.min(lines.len())..] {
                    println!("{}", crate::adapters::cli::output::printable(l));
                }
                if let Some(l) = lines.last() {
                    last = Some(l.to_string());
                }
            }
            Err(e) => return fail(&e),
        }
        if !follow {
            return 0;
        }
        since = Some(time::OffsetDateTime::now_utc().unix_timestamp() - 2);
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = tokio::signal::ctrl_c() => return 0,
        }
    }
}
