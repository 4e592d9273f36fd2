//! Hand-written ergonomic commands beside the generated ones: `push`, `login`, `whoami`,
//! `init`, `link`, `open`, `config`, `logs`, `watch`, `check`. They call the same tools
//! through the same client; nothing here decides what a user may do.

mod account;
mod chat;
mod link;
mod push;
mod workdir;

use clap::{Arg, ArgAction, ArgMatches, Command};

pub use link::Link;

fn dir_arg() -> Arg {
    Arg::new("dir")
        .value_name("DIR")
        .help("Project directory (default: the current directory)")
}

fn json_arg() -> Arg {
    Arg::new("json")
        .long("json")
        .action(ArgAction::SetTrue)
        .help("Print one JSON result")
}

/// The hand-written commands, for the root command.
pub fn commands() -> Vec<Command> {
    vec![
        Command::new("push")
            .about("Deploy the current directory: detect, package, upload, build, and print the URL")
            .arg(dir_arg())
            .arg(
                Arg::new("name")
                    .long("name")
                    .help("App name (default: the linked app, else the directory name)"),
            )
            .arg(
                Arg::new("port")
                    .long("port")
                    .value_parser(clap::value_parser!(u16))
                    .help("Port the app listens on"),
            )
            .arg(json_arg()),
        Command::new("login")
            .about("Store the server URL and an API key in the config file (0600)")
            .arg(
                Arg::new("url")
                    .long("url")
                    .help("Server URL, e.g. https://sh0.example.com"),
            )
            .arg(
                Arg::new("token")
                    .long("token")
                    .help("API key (sh0_...); read from stdin when absent"),
            ),
        Command::new("whoami")
            .about("Show the server and credential in use")
            .arg(json_arg()),
        Command::new("init")
            .about("Detect the stack and write a .sh0ignore")
            .arg(dir_arg()),
        Command::new("link")
            .about("Link the directory to an existing app, so `sh0 push` redeploys it")
            .arg(Arg::new("app").long("app").required(true).help("App id or name"))
            .arg(dir_arg()),
        Command::new("open")
            .about("Open the linked app's URL in a browser")
            .arg(dir_arg()),
        Command::new("config")
            .about("Read or change the client configuration")
            .subcommand_required(true)
            .subcommand(Command::new("list").about("Show the configuration (the key is redacted)"))
            .subcommand(Command::new("get").arg(Arg::new("key").required(true).value_parser(["url", "token"])))
            .subcommand(
                Command::new("set")
                    .arg(Arg::new("key").required(true).value_parser(["url", "token"]))
                    .arg(Arg::new("value").required(true)),
            ),
        Command::new("logs")
            .about("Show the linked app's logs")
            .arg(
                Arg::new("follow")
                    .short('f')
                    .long("follow")
                    .action(ArgAction::SetTrue)
                    .help("Keep printing new lines"),
            )
            .arg(
                Arg::new("tail")
                    .long("tail")
                    .value_parser(clap::value_parser!(u32))
                    .default_value("100"),
            )
            .arg(
                Arg::new("app")
                    .long("app")
                    .help("App id or name (default: the linked app)"),
            )
            .arg(dir_arg()),
        Command::new("watch")
            .about("Push again whenever the directory changes (debounced)")
            .arg(dir_arg())
            .arg(Arg::new("name").long("name"))
            .arg(Arg::new("port").long("port").value_parser(clap::value_parser!(u16))),
        Command::new("check")
            .about("Detect the stack and run the project health check, offline")
            .arg(dir_arg())
            .arg(json_arg()),
        Command::new("ask")
            .about("Ask the assistant one question; changes it proposes ask you first")
            .arg(
                Arg::new("question")
                    .required(true)
                    .help("e.g. \"why is web returning 502?\""),
            )
            .arg(json_arg()),
        Command::new("chat")
            .about("Talk with the assistant in the terminal")
            .arg(
                Arg::new("conversation")
                    .long("conversation")
                    .help("Go on with this conversation (default: a new one)"),
            ),
    ]
}

/// Runs a hand-written command if `matches` names one; returns its exit code.
pub async fn run(matches: &ArgMatches) -> Option<i32> {
    let (name, m) = matches.subcommand()?;
    Some(match name {
        "push" => push::push(m).await,
        "watch" => push::watch(m).await,
        "login" => account::login(m).await,
        "whoami" => account::whoami(m).await,
        "config" => account::config(m),
        "init" => workdir::init(m),
        "check" => workdir::check(m),
        "link" => link::link(m).await,
        "open" => link::open(m).await,
        "logs" => link::logs(m).await,
        "ask" => chat::ask(m).await,
        "chat" => chat::chat(m).await,
        _ => return None,
    })
}
