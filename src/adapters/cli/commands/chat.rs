//! `sh0 ask "why is web returning 502?"` (one question, one answer) and `sh0 chat` (a
//! conversation in the terminal): both stream the assistant's answer as it is written,
//! show each tool call it makes, and ask y/N before a change runs (typing the name for a
//! deletion). They call the same tools (`chat_create`, `chat_send`, `chat_approve`) over
//! the same client as every other command.

use clap::ArgMatches;
use serde_json::{Value, json};
use std::io::{BufRead, Write};

use super::super::output::printable;
use crate::client::{ApiClient, ClientConfig, StreamEvent};
use crate::registry::ToolError;

fn fail(e: &ToolError) -> i32 {
    eprintln!("error: {}", printable(&e.message));
    1
}

/// Prints one streamed event as it comes (not in `--json` mode).
fn show(event: &StreamEvent) {
    let (name, data) = event;
    let text = |v: &Value| printable(v.as_str().unwrap_or_default());
    match name.as_str() {
        "text" => {
            print!("{}", text(&data["delta"]));
            let _ = std::io::stdout().flush();
        }
        "tool_started" => eprintln!(
            "\n  → {} {}",
            text(&data["tool"]),
            printable(&data["arguments"].to_string())
        ),
        "tool_finished" => eprintln!(
            "  ← {} {}: {}",
            text(&data["tool"]),
            text(&data["status"]),
            text(&data["summary"])
        ),
        "approval_required" => eprintln!(
            "\n  ? {} {} waits for your approval",
            text(&data["tool"]),
            printable(&data["arguments"].to_string())
        ),
        _ => {}
    }
}

fn ask_line(prompt: &str) -> Option<String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_owned()),
    }
}

/// Runs one turn (a message, then the approvals it asks for) and prints the answer.
async fn turn(client: &ApiClient, conversation: &str, message: &str, json_out: bool) -> Result<Value, ToolError> {
    let path = format!("/api/v1/chat/conversations/{conversation}/messages");
    let quiet = |_: &StreamEvent| {};
    let mut report = if json_out {
        client.post_stream(&path, &json!({ "message": message }), quiet).await?
    } else {
        client.post_stream(&path, &json!({ "message": message }), show).await?
    };
    while report["status"] == "awaiting_approval" && !json_out {
        let Some(p) = report["pending"].as_array().and_then(|a| a.first()).cloned() else {
            break;
        };
        let tool = p["tool"].as_str().unwrap_or_default().to_owned();
        let args = printable(&p["arguments"].to_string());
        let (decision, typed) = match p["confirm"].as_str() {
            Some(name) => {
                let typed = ask_line(&format!(
                    "Run {tool} {args}? It deletes `{}`: type the name to approve, anything else declines: ",
                    printable(name)
                ))
                .unwrap_or_default();
                (if typed == name { "approve" } else { "decline" }, Some(typed))
            }
            None => {
                let yes = ask_line(&format!("Run {tool} {args}? [y/N] "))
                    .is_some_and(|a| a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes"));
                (if yes { "approve" } else { "decline" }, None)
            }
        };
        let mut body = json!({ "decision": decision });
        if let (Some(t), "approve") = (typed, decision) {
            body["typed_name"] = json!(t);
        }
        let path = format!(
            "/api/v1/chat/conversations/{conversation}/approvals/{}",
            p["id"].as_str().unwrap_or_default()
        );
        report = client.post_stream(&path, &body, show).await?;
    }
    if !json_out {
        println!();
        if let Some(note) = report["note"].as_str() {
            eprintln!("({})", printable(note));
        }
    }
    Ok(report)
}

fn connect() -> Result<ApiClient, ToolError> {
    let cfg = ClientConfig::load().map_err(ToolError::invalid)?;
    ApiClient::new(cfg.url(), cfg.token.clone(), "cli")
}

/// `sh0 ask QUESTION [--json]`.
pub async fn ask(m: &ArgMatches) -> i32 {
    let question = m.get_one::<String>("question").cloned().unwrap_or_default();
    let json_out = m.get_flag("json");
    let run = async {
        let client = connect()?;
        let title: String = question.chars().take(80).collect();
        let conversation = client.call_tool("chat_create", json!({ "title": title })).await?;
        let id = conversation["id"].as_str().unwrap_or_default().to_owned();
        turn(&client, &id, &question, json_out).await
    };
    match run.await {
        Ok(report) => {
            if json_out {
                println!("{report}");
            }
            0
        }
        Err(e) => fail(&e),
    }
}

/// `sh0 chat [--conversation ID]`: a conversation until end of input or `/exit`.
pub async fn chat(m: &ArgMatches) -> i32 {
    let client = match connect() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let id = match m.get_one::<String>("conversation") {
        Some(id) => id.clone(),
        None => match client
            .call_tool("chat_create", json!({ "title": "Terminal chat" }))
            .await
        {
            Ok(c) => c["id"].as_str().unwrap_or_default().to_owned(),
            Err(e) => return fail(&e),
        },
    };
    eprintln!("conversation {id} — /exit to leave");
    loop {
        let Some(line) = ask_line("> ") else { return 0 };
        if line == "/exit" || line == "/quit" {
            return 0;
        }
        if line.is_empty() {
            continue;
        }
        if let Err(e) = turn(&client, &id, &line, false).await {
            fail(&e);
        }
    }
}
