//! The model's tool calls, one by one: read, checked, and then run, refused, or held for
//! the user's approval. Whatever happens, the model gets a result for each call it made
//! (except those waiting for a decision), and the user sees each one as an event.

use serde_json::{Value, json};
use std::time::Instant;

use super::super::schema::CONFIRM_FIELD;
use super::super::{Adapter, Dispatcher, ErrorKind, Safety, Target, ToolContext, ToolError, access};
use super::{Assistant, message, shape};
use crate::ai::ModelToolCall;
use crate::domain::chat::{Approval, ApprovalStatus, CallStatus, ChatMessage, ChatRole, ChatToolCall};
use crate::domain::{ApprovalId, Timestamp, UntrustedText};

/// The setting that lets a user's assistant run writes without asking (never deletions).
pub fn auto_writes_setting(user: &crate::domain::UserId) -> String {
    format!("chat_auto_writes:{user}")
}

pub struct Outcome {
    /// A call waits for the user.
    pub awaiting: bool,
}

/// What became of one call.
struct Handled {
    call: ChatToolCall,
    /// The result the model gets now (none while it waits for approval).
    result: Option<String>,
    /// The approval it waits for, stored once the call is recorded.
    approval: Option<Approval>,
}

fn refused(call: &ModelToolCall, arguments: Value, why: String) -> Handled {
    Handled {
        call: ChatToolCall {
            id: call.id.clone(),
            tool: call.name.clone(),
            arguments,
            status: CallStatus::Refused,
            summary: Some(why.clone()),
            approval: None,
        },
        result: Some(json!({ "error": { "kind": "refused", "message": why } }).to_string()),
        approval: None,
    }
}

/// One line on a result for the user's screen.
fn summary(result: &Result<Value, ToolError>) -> String {
    match result {
        Ok(v) => {
            let text = v.to_string();
            let short: String = text.chars().take(160).collect();
            if short.len() < text.len() {
                format!("{short}…")
            } else {
                short
            }
        }
        Err(e) => format!("{}: {}", e.kind.as_str(), e.message),
    }
}

impl Assistant {
    /// Runs a call now, as the assistant, and shapes its result for the model.
    async fn run_now(
        &self,
        call: &ModelToolCall,
        args: Value,
        confirm: Option<&str>,
        approved: bool,
    ) -> (ChatToolCall, String) {
        self.emit(
            "tool_started",
            json!({ "call_id": call.id, "tool": call.name, "arguments": args }),
        );
        let mut sent = args.clone();
        if let (Some(name), Value::Object(m)) = (confirm, &mut sent) {
            m.insert(CONFIRM_FIELD.into(), Value::String(name.to_owned()));
        }
        // The call runs to its end, audit record included, even if the turn is dropped (its
        // client went away, its time ran out): a change is never left half-recorded.
        let (dispatcher, principal, tool) = (self.dispatcher.clone(), self.principal(approved), call.name.clone());
        let result = tokio::spawn(async move { dispatcher.dispatch_as(&principal, Adapter::Chat, &tool, sent).await })
            .await
            .unwrap_or_else(|e| Err(ToolError::internal(format!("tool call task: {e}"))));
        let schema = self
            .dispatcher
            .registry()
            .get(&call.name)
            .map(|d| d.output_schema().clone())
            .unwrap_or(Value::Null);
        // Secrets are withheld before anything of the result is kept or shown.
        let result = result.map(|mut v| {
            shape::withhold_secrets(&mut v, &schema);
            v
        });
        let status = if result.is_ok() {
            CallStatus::Done
        } else {
            CallStatus::Failed
        };
        let line = summary(&result);
        self.emit(
            "tool_finished",
            json!({ "call_id": call.id, "tool": call.name, "status": status, "summary": line }),
        );
        let text = match &result {
            Ok(v) => shape::result_text(v, &schema, self.limits.result_chars),
            Err(e) => json!({ "error": e }).to_string(),
        };
        let recorded = ChatToolCall {
            id: call.id.clone(),
            tool: call.name.clone(),
            arguments: args,
            status,
            summary: Some(line),
            approval: None,
        };
        (recorded, text)
    }

    /// Everything dispatch checks before running, without running: permission (as the
    /// assistant), the input's schema, and the project it reaches. A refusal is audited.
    fn precheck(&self, tool: &str, args: &Value) -> Result<(), ToolError> {
        // Checked as the approved call it would become: the approval is asked next.
        let principal = self.principal(true);
        let started = Instant::now();
        let desc = self.dispatcher.tool(tool)?;
        let checked = Dispatcher::authorize(&principal, desc.meta())
            .and_then(|()| desc.validate(args).map_err(ToolError::invalid))
            .and_then(|()| access::check(&self.services().store, &principal, desc.meta(), args));
        if checked.is_err() {
            let redacted = super::super::audit::redact(args, desc.input_schema());
            self.dispatcher.record(
                &principal,
                Adapter::Chat,
                desc.meta().name,
                &redacted,
                &checked,
                started,
            )?;
        }
        checked
    }

    /// The name a destructive call must be confirmed with: asking the tool without a
    /// confirmation runs nothing and answers with it.
    async fn confirm_name(&self, tool: &str, args: &Value) -> Result<String, ToolError> {
        let desc = self
            .dispatcher
            .registry()
            .get(tool)
            .ok_or_else(|| ToolError::not_found("no such tool"))?;
        let ctx = ToolContext {
            services: self.dispatcher.services().clone(),
            registry: self.dispatcher.registry_shared().clone(),
            principal: self.principal(false),
            adapter: Adapter::Chat,
            events: None,
        };
        match desc.tool.invoke(&ctx, args.clone(), None).await {
            Err(e) if e.kind == ErrorKind::ConfirmationRequired => e
                .confirm
                .ok_or_else(|| ToolError::internal("a confirmation without a name")),
            Err(e) => Err(e),
            Ok(_) => Err(ToolError::internal(format!("{tool} ran without a confirmation"))),
        }
    }

    async fn handle_one(&self, call: &ModelToolCall, allowed: bool) -> Result<Handled, ToolError> {
        let mut args = match serde_json::from_str::<Value>(&call.arguments) {
            Ok(Value::Object(m)) => Value::Object(m),
            Ok(Value::Null) => json!({}),
            _ if call.arguments.trim().is_empty() => json!({}),
            _ => {
                return Ok(refused(call, Value::Null, "the arguments are not a JSON object".into()));
            }
        };
        if !allowed {
            return Ok(refused(
                call,
                args,
                "not run: the limit of tool calls in one turn was reached".into(),
            ));
        }
        // Only the user confirms: a `confirm` from the model is dropped, and said so.
        let dropped_confirm = args.as_object_mut().and_then(|m| m.remove(CONFIRM_FIELD)).is_some();
        if let Err(e) = self.precheck(&call.name, &args) {
            return Ok(refused(call, args, format!("{}: {}", e.kind.as_str(), e.message)));
        }
        let desc = self
            .dispatcher
            .registry()
            .get(&call.name)
            .ok_or_else(|| ToolError::internal("checked tool vanished"))?;
        let meta = desc.meta();
        let auto = meta.safety == Safety::Write
            && self
                .services()
                .store
                .setting_get(&auto_writes_setting(&self.user))?
                .as_deref()
                == Some("true");
        if meta.safety == Safety::Read || auto {
            let (recorded, text) = self.run_now(call, args, None, auto).await;
            return Ok(Handled {
                call: recorded,
                result: Some(text),
                approval: None,
            });
        }
        let confirm = if meta.safety == Safety::Destructive {
            match self.confirm_name(&call.name, &args).await {
                Ok(n) => Some(n),
                Err(e) => return Ok(refused(call, args, format!("{}: {}", e.kind.as_str(), e.message))),
            }
        } else {
            None
        };
        let resource = match meta.target {
            Target::Resource { field, resource } => args
                .get(field)
                .and_then(Value::as_str)
                .map(|v| format!("{} {v}", format!("{resource:?}").to_lowercase())),
            _ => None,
        };
        let approval = Approval {
            id: ApprovalId::generate(),
            conversation: self.conversation.clone(),
            call_id: call.id.clone(),
            tool: call.name.clone(),
            arguments: args.clone(),
            safety: if meta.safety == Safety::Destructive {
                "destructive".into()
            } else {
                "write".into()
            },
            resource,
            confirm,
            status: ApprovalStatus::Pending,
            created_at: Timestamp::now(),
            decided_at: None,
        };
        let mut note = "waits for the user's approval".to_owned();
        if dropped_confirm {
            note.push_str(" (the `confirm` argument was removed: only the user confirms)");
        }
        Ok(Handled {
            call: ChatToolCall {
                id: call.id.clone(),
                tool: call.name.clone(),
                arguments: args,
                status: CallStatus::PendingApproval,
                summary: Some(note),
                approval: Some(approval.id.clone()),
            },
            result: None,
            approval: Some(approval),
        })
    }
}

/// Handles the calls of one model answer (`reply`, already stored), `room` of them at
/// most. Each call is recorded on the answer, with its result after it, as soon as it is
/// handled, and only then is its approval asked for: a turn cut off midway leaves every
/// call it handled on record, and no approval without its call.
pub async fn handle(
    a: &Assistant,
    mut reply: ChatMessage,
    calls: &[ModelToolCall],
    room: usize,
) -> Result<Outcome, ToolError> {
    let mut awaiting = false;
    for (i, call) in calls.iter().enumerate() {
        let handled = a.handle_one(call, i < room).await?;
        awaiting |= handled.call.status == CallStatus::PendingApproval;
        reply.tool_calls.push(handled.call);
        a.services().store.conversation_update(&a.conversation, &reply)?;
        if let Some(text) = handled.result {
            let mut m = message(ChatRole::Tool, None);
            m.content = Some(UntrustedText(text));
            m.tool_call_id = Some(call.id.clone());
            a.append(m)?;
        }
        if let Some(approval) = handled.approval {
            a.services().store.approval_insert(&approval)?;
            a.emit("approval_required", json!(approval));
        }
    }
    Ok(Outcome { awaiting })
}

/// Runs or declines a decided call; returns the `seq` of the first message it added.
pub async fn resolve_approval(a: &Assistant, approval: &Approval, confirm: Option<&str>) -> Result<i64, ToolError> {
    let store = &a.services().store;
    let messages = store.conversation_messages(&a.user, &a.conversation)?;
    let mut reply = messages
        .into_iter()
        .rev()
        .find(|m| m.tool_calls.iter().any(|c| c.approval.as_ref() == Some(&approval.id)))
        .ok_or_else(|| ToolError::internal("the approved call's message is missing"))?;
    let call = ModelToolCall {
        id: approval.call_id.clone(),
        name: approval.tool.clone(),
        arguments: approval.arguments.to_string(),
    };
    let (status, summary, text) = if approval.status == ApprovalStatus::Approved {
        let (recorded, text) = a
            .run_now(
                &call,
                approval.arguments.clone(),
                confirm.filter(|_| approval.confirm.is_some()),
                true,
            )
            .await;
        (recorded.status, recorded.summary, text)
    } else {
        let why = "the user declined this call; it did not run".to_owned();
        a.emit(
            "tool_finished",
            json!({ "call_id": call.id, "tool": call.name, "status": CallStatus::Declined, "summary": why }),
        );
        (
            CallStatus::Declined,
            Some(why.clone()),
            json!({ "declined": true, "message": why }).to_string(),
        )
    };
    if let Some(c) = reply.tool_calls.iter_mut().find(|c| c.id == approval.call_id) {
        c.status = status;
        c.summary = summary;
    }
    store.conversation_update(&a.conversation, &reply)?;
    let mut m = message(ChatRole::Tool, None);
    m.content = Some(UntrustedText(text));
    m.tool_call_id = Some(approval.call_id.clone());
    Ok(a.append(m)?.seq)
}
