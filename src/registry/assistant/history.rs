//! A stored conversation as the model reads it: the system prompt of `prompts/`, then the
//! messages in order. A tool call that has no result (its turn was cut off: the client
//! went away, a timeout) gets one saying so, as the wire format requires an answer to
//! every call before the model speaks again.

use serde_json::{Map, Value};

use super::super::{Principal, ToolError, prompts};
use crate::ai::{ModelMessage, ModelToolCall};
use crate::domain::ApprovalId;
use crate::domain::chat::{CallStatus, ChatMessage, ChatRole};

/// `pending`: the approvals still waiting; a call marked waiting whose approval is not
/// among them (decided, but its run was cut off) gets a stand-in result too.
pub fn model_messages(
    human: &Principal,
    stored: &[ChatMessage],
    pending: &[ApprovalId],
) -> Result<Vec<ModelMessage>, ToolError> {
    let who = match &human.user {
        Some(u) => format!("user {u}, whose role is {}", human.role.as_str()),
        None => "the server's owner".to_owned(),
    };
    let mut args = Map::new();
    args.insert("user".into(), Value::String(who));
    let system = prompts::get("assistant")?.render(&args)?;
    let mut out = vec![ModelMessage::System { content: system }];
    let mut unanswered: Vec<String> = Vec::new();
    let close = |out: &mut Vec<ModelMessage>, unanswered: &mut Vec<String>| {
        for id in unanswered.drain(..) {
            out.push(ModelMessage::Tool {
                call_id: id,
                content: "(no result: the call did not complete — the turn was interrupted)".into(),
            });
        }
    };
    for m in stored {
        let text = m.content.as_ref().map(|c| c.0.clone());
        match m.role {
            ChatRole::Tool => {
                let id = m.tool_call_id.clone().unwrap_or_default();
                unanswered.retain(|u| *u != id);
                out.push(ModelMessage::Tool {
                    call_id: id,
                    content: text.unwrap_or_default(),
                });
            }
            ChatRole::User => {
                close(&mut out, &mut unanswered);
                out.push(ModelMessage::User {
                    content: text.unwrap_or_default(),
                });
            }
            ChatRole::Assistant => {
                close(&mut out, &mut unanswered);
                let calls: Vec<ModelToolCall> = m
                    .tool_calls
                    .iter()
                    .map(|c| ModelToolCall {
                        id: c.id.clone(),
                        name: c.tool.clone(),
                        arguments: c.arguments.to_string(),
                    })
                    .collect();
                unanswered.extend(
                    m.tool_calls
                        .iter()
                        .filter(|c| {
                            c.status != CallStatus::PendingApproval
                                || !c.approval.as_ref().is_some_and(|a| pending.contains(a))
                        })
                        .map(|c| c.id.clone()),
                );
                out.push(ModelMessage::Assistant {
                    content: text,
                    tool_calls: calls,
                });
            }
        }
    }
    close(&mut out, &mut unanswered);
    Ok(out)
}
