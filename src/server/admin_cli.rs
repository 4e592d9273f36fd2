//! `sh0 admin setup` (create the owner with the bootstrap token, through the API) and
//! `sh0 admin reset-password` (on the server host, straight on the data directory). These
//! are the server host's commands, not an adapter over the registry: they live with the
//! server and the binary wires them in.
//! Passwords are read from the terminal without echo, or from stdin with
//! `--password-stdin`, never from arguments, where `ps` and shell history would keep them.

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use serde_json::json;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use crate::adapters::cli::fail;
use crate::client::{ApiClient, ClientConfig, DEFAULT_URL};

pub fn command(default_data_dir: PathBuf) -> Command {
    let data_dir = Arg::new("data-dir")
        .long("data-dir")
        .env("SH0_DATA_DIR")
        .value_parser(value_parser!(PathBuf))
        .default_value(default_data_dir.into_os_string())
        .help("The server's data directory");
    let password_stdin = Arg::new("password-stdin")
        .long("password-stdin")
        .action(ArgAction::SetTrue)
        .help("Read the password from the first line of stdin");
    Command::new("admin")
        .about("Set up the first user, or reset a password on the server host")
        .subcommand_required(true)
        .subcommand(
            Command::new("setup")
                .about("Create the owner account with the bootstrap token (once, on a fresh server)")
                .arg(Arg::new("email").long("email").required(true))
                .arg(Arg::new("name").long("name").default_value(""))
                .arg(
                    Arg::new("url")
                        .long("url")
                        .help("Server URL (default: the configured one)"),
                )
                .arg(data_dir.clone())
                .arg(password_stdin.clone()),
        )
        .subcommand(
            Command::new("reset-password")
                .about("Set a new password for a user and end their sessions (run on the server host)")
                .arg(Arg::new("email").long("email").required(true))
                .arg(
                    Arg::new("disable-2fa")
                        .long("disable-2fa")
                        .action(ArgAction::SetTrue)
                        .help("Also turn off their two-factor authentication (lost authenticator)"),
                )
                .arg(data_dir)
                .arg(password_stdin),
        )
}

fn read_password(m: &ArgMatches) -> Result<String, String> {
    let from_stdin = m.get_flag("password-stdin") || !std::io::stdin().is_terminal();
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("reading the password from stdin: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password("New password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the passwords differ".into());
        }
        first
    };
    if password.is_empty() {
        return Err("no password given".into());
    }
    Ok(password)
}

pub async fn run(m: &ArgMatches) -> i32 {
    match m.subcommand() {
        Some(("setup", m)) => setup(m).await,
        Some(("reset-password", m)) => reset_password(m),
        _ => 2,
    }
}

async fn setup(m: &ArgMatches) -> i32 {
    let data_dir = m.get_one::<PathBuf>("data-dir").cloned().unwrap_or_default();
    let token_file = data_dir.join(super::BOOTSTRAP_FILE);
    let token = match std::env::var("SH0_BOOTSTRAP_TOKEN") {
        Ok(t) if !t.is_empty() => t,
        _ => match std::fs::read_to_string(&token_file) {
            Ok(t) => t.trim().to_owned(),
            Err(e) => {
                eprintln!(
                    "error: cannot read the bootstrap token at {} ({e}); run this on the server host, or set SH0_BOOTSTRAP_TOKEN",
                    token_file.display()
                );
                return 2;
            }
        },
    };
    let url = match m.get_one::<String>("url") {
        Some(u) => u.clone(),
        None => ClientConfig::load()
            .map(|c| c.url().to_owned())
            .unwrap_or_else(|_| DEFAULT_URL.into()),
    };
    let password = match read_password(m) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let client = match ApiClient::new(&url, Some(token), "cli") {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let body = json!({
        "email": m.get_one::<String>("email"),
        "name": m.get_one::<String>("name"),
        "password": password,
    });
    match client.post_json("/api/v1/auth/setup", &body).await {
        Ok(v) => {
            println!(
                "Created the owner {} on {url}. Log in to the dashboard with it; the bootstrap token stays a \
                 host-local owner key until you revoke it (key_revoke).",
                v["user"]["email"].as_str().unwrap_or("")
            );
            0
        }
        Err(e) => fail(&e),
    }
}

fn reset_password(m: &ArgMatches) -> i32 {
    let data_dir = m.get_one::<PathBuf>("data-dir").cloned().unwrap_or_default();
    let email = m.get_one::<String>("email").cloned().unwrap_or_default();
    let password = match read_password(m) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    match super::admin::reset_password(&data_dir, &email, &password, m.get_flag("disable-2fa")) {
        Ok(email) => {
            println!("New password set for {email}; their sessions are ended.");
            0
        }
        Err(e @ super::admin::AdminError::NoSuchUser(_)) => {
            eprintln!("error: {e}");
            5
        }
        Err(e @ super::admin::AdminError::Invalid(_)) => {
            eprintln!("error: {e}");
            2
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
