//! The CLI adapter: `sh0 <group> <verb>` subcommands generated from each tool's `meta.cli`
//! and input schema, calling the server over HTTP (see `client`). Tables for people,
//! `--json` for scripts, and an exit code for each error kind.

mod args;
mod columns;
pub mod commands;
mod output;

use clap::{ArgMatches, Command};
use serde_json::Value;
use std::io::IsTerminal;

use crate::client::{ApiClient, ClientConfig};
use crate::registry::{CONFIRM_FIELD, ErrorKind, Registry, ToolError};

/// The process exit code for each error kind: the one mapping of this adapter.
pub fn exit_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Internal => 1,
        ErrorKind::InvalidInput => 2,
        ErrorKind::Unauthenticated => 3,
        ErrorKind::Forbidden => 4,
        ErrorKind::NotFound => 5,
        ErrorKind::Conflict => 6,
        ErrorKind::ConfirmationRequired => 7,
        ErrorKind::Unavailable => 8,
        ErrorKind::Unprocessable => 9,
        ErrorKind::RateLimited => 10,
        ErrorKind::SecondFactorRequired => 3,
    }
}

/// A client for the configured server (`SH0_API_URL` / `SH0_API_TOKEN`, else the config
/// file). `adapter` labels the calls in the audit log.
pub fn client(adapter: &'static str) -> Result<ApiClient, ToolError> {
    let cfg = ClientConfig::load().map_err(|e| ToolError::invalid(format!("client configuration: {e}")))?;
    ApiClient::new(cfg.url(), cfg.token.clone(), adapter)
}

/// Prints an error and returns its exit code.
pub fn fail(e: &ToolError) -> i32 {
    report(e, false)
}

/// Adds a subcommand group per first `cli` path segment, and a verb per tool.
pub fn augment(mut root: Command, registry: &Registry) -> Command {
    let mut groups: Vec<(String, Command)> = Vec::new();
    for desc in registry.iter() {
        let [group, verb] = desc.cli();
        let cmd = args::command_for(verb, desc);
        match groups.iter_mut().find(|(g, _)| g == group) {
            Some((_, g)) => *g = g.clone().subcommand(cmd),
            None => groups.push((
                group.to_owned(),
                Command::new(group.to_owned())
                    .about(format!("{group} commands"))
                    .subcommand_required(true)
                    .arg_required_else_help(true)
                    .subcommand(cmd),
            )),
        }
    }
    for (_, g) in groups {
        root = root.subcommand(g);
    }
    root
}

/// If `matches` names a generated command, runs it and returns the exit code.
pub async fn run(registry: &Registry, matches: &ArgMatches, client: &ApiClient) -> Option<i32> {
    let (group, sub) = matches.subcommand()?;
    let (verb, vm) = sub.subcommand()?;
    let desc = registry.iter().find(|d| d.cli() == [group, verb])?;
    let json = vm.get_flag("json");
    let wide = vm.get_flag("wide");
    let mut input = match args::input_from(desc, vm) {
        Ok(v) => v,
        Err(e) => return Some(report(&e, json)),
    };
    let mut result = client.call_tool(desc.meta().name, input.clone()).await;
    // A person at a terminal confirms a destructive call by typing the name, as they would
    // in the dashboard; scripts pass --confirm.
    if let Err(ToolError {
        kind: ErrorKind::ConfirmationRequired,
        confirm: Some(target),
        ..
    }) = &result
        && input.get(CONFIRM_FIELD).is_none()
        && !json
        && std::io::stdin().is_terminal()
    {
        eprint!("This permanently deletes `{target}`. Type its name to confirm: ");
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_ok() && line.trim() == target {
            input[CONFIRM_FIELD] = Value::String(target.clone());
            result = client.call_tool(desc.meta().name, input).await;
        } else {
            eprintln!("Not confirmed; nothing was changed.");
            return Some(exit_code(ErrorKind::ConfirmationRequired));
        }
    }
    Some(match result {
        Ok(v) if json || wide => {
            output::print(&v, json);
            0
        }
        Ok(v) => {
            output::print(&human(desc.meta().name, v, client).await, false);
            0
        }
        Err(e) => report(&e, json),
    })
}

/// The result with its list reduced to the columns a person needs (see `columns`). Apps
/// name their project: its name is fetched, as a table of ids helps nobody.
async fn human(tool: &str, mut v: Value, client: &ApiClient) -> Value {
    let mut projects = std::collections::HashMap::new();
    if tool == "app_list"
        && let Ok(p) = client.call_tool("project_list", serde_json::json!({})).await
    {
        for p in p["projects"].as_array().into_iter().flatten() {
            if let (Some(id), Some(name)) = (p["id"].as_str(), p["name"].as_str()) {
                projects.insert(id.to_owned(), name.to_owned());
            }
        }
    }
    // Only lists are reshaped: a diagnosis's findings or a record's parts print whole.
    if !tool.ends_with("_list") {
        return v;
    }
    if let Some(obj) = v.as_object_mut() {
        let lists: Vec<String> = obj
            .iter()
            .filter(|(_, v)| v.as_array().is_some_and(|a| a.iter().all(Value::is_object)))
            .map(|(k, _)| k.clone())
            .collect();
        if let [key] = lists.as_slice()
            && let Some(Value::Array(rows)) = obj.get(key)
        {
            let rows = columns::narrow(tool, rows, &projects);
            obj.insert(key.clone(), Value::Array(rows));
        }
    }
    v
}

fn report(e: &ToolError, json: bool) -> i32 {
    if json {
        println!("{}", serde_json::json!({ "error": e }));
    } else {
        eprintln!("error: {}", crate::adapters::cli::output::printable(&e.message));
        if let (ErrorKind::ConfirmationRequired, Some(t)) = (e.kind, &e.confirm) {
            eprintln!("hint: re-run with --confirm {t}");
        }
    }
    exit_code(e.kind)
}
