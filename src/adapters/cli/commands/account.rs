//! `login`, `whoami`, `config`: the client's own configuration.

use clap::ArgMatches;
use serde_json::json;
use std::io::BufRead;

use super::super::fail;
use crate::client::{ApiClient, ClientConfig, DEFAULT_URL, config_path};

pub async fn login(m: &ArgMatches) -> i32 {
    let mut cfg = match ClientConfig::load_file() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let url = m
        .get_one::<String>("url")
        .cloned()
        .or(cfg.url.clone())
        .unwrap_or_else(|| DEFAULT_URL.into());
    let token = match m.get_one::<String>("token") {
        Some(t) => t.clone(),
        None => {
            eprint!("API key for {url}: ");
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            line.trim().to_owned()
        }
    };
    if !token.starts_with("sh0_") {
        eprintln!("error: an sh0 API key starts with sh0_");
        return 2;
    }
    // Prove the pair works before storing it.
    let client = match ApiClient::new(&url, Some(token.clone()), "cli") {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    if let Err(e) = client.call_tool("system_info", json!({})).await {
        return fail(&e);
    }
    cfg.url = Some(url.clone());
    cfg.token = Some(token);
    match cfg.save() {
        Ok(path) => {
            println!("Logged in to {url} (saved in {}, mode 0600)", path.display());
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

pub async fn whoami(m: &ArgMatches) -> i32 {
    let cfg = match ClientConfig::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let client = match ApiClient::new(cfg.url(), cfg.token.clone(), "cli") {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    match client.call_tool("system_info", json!({})).await {
        Ok(info) => {
            let key = cfg
                .token
                .as_deref()
                .map(|t| format!("{}…", &t[..t.len().min(12)]))
                .unwrap_or_default();
            if m.get_flag("json") {
                println!(
                    "{}",
                    json!({ "server": cfg.url(), "version": info["version"], "key": key })
                );
            } else {
                println!(
                    "server  {} (sh0 {})\nkey     {key}",
                    cfg.url(),
                    info["version"].as_str().unwrap_or("?")
                );
            }
            0
        }
        Err(e) => fail(&e),
    }
}

pub fn config(m: &ArgMatches) -> i32 {
    let mut cfg = match ClientConfig::load_file() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let redact = |t: &Option<String>| {
        t.as_deref()
            .map(|t| format!("{}…", &t[..t.len().min(8)]))
            .unwrap_or_default()
    };
    match m.subcommand() {
        Some(("list", _)) => {
            println!(
                "file   {}",
                config_path().map(|p| p.display().to_string()).unwrap_or_default()
            );
            println!("url    {}", cfg.url.as_deref().unwrap_or(""));
            println!("token  {}", redact(&cfg.token));
            0
        }
        Some(("get", g)) => {
            match g.get_one::<String>("key").map(String::as_str) {
                Some("url") => println!("{}", cfg.url.as_deref().unwrap_or("")),
                _ => println!("{}", cfg.token.as_deref().unwrap_or("")),
            }
            0
        }
        Some(("set", s)) => {
            let value = s.get_one::<String>("value").cloned();
            match s.get_one::<String>("key").map(String::as_str) {
                Some("url") => cfg.url = value,
                _ => cfg.token = value,
            }
            match cfg.save() {
                Ok(_) => 0,
                Err(e) => {
                    eprintln!("error: {e}");
                    1
                }
            }
        }
        _ => 2,
    }
}
