//! The fourth adapter: the built-in assistant. A conversation belongs to a user; the model
//! is offered the registry's tools that user may call (`shape::tools_for`), and every call
//! it makes goes through dispatch as `PrincipalId::Chat` — the human's own principal in
//! that conversation, denied what no model may have — so it can never do more than the
//! human, and each call is audited with adapter `chat` and the conversation.
//!
//! Reads run at once. A write or destructive call pauses the turn as a pending approval
//! bound to its exact arguments; only the conversation's user, deciding through
//! `chat_approve`, resumes it, once. The model never confirms anything: a `confirm` it
//! passes is removed, and a destructive call runs only with the name its user typed.

mod calls;
pub use calls::auto_writes_setting;
mod history;
pub mod shape;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

use super::{Dispatcher, EventSink, Principal, PrincipalId, Registry, Services, ToolError};
use crate::ai::ModelRequest;
use crate::domain::chat::{Approval, ApprovalStatus, ChatMessage, ChatRole, TokenUsage};
use crate::domain::{ApprovalId, ConversationId, Timestamp, UntrustedText, UserId};

/// The bounds of a turn and a conversation.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Tool calls the model may make in one turn.
    pub max_calls: usize,
    /// A turn (all its model calls and tool calls) ends after this long.
    pub turn_timeout: Duration,
    /// Tokens a conversation may use in all.
    pub token_budget: u64,
    /// Characters of one tool result given to the model.
    pub result_chars: usize,
    /// Tokens of one model answer.
    pub max_tokens: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_calls: 20,
            turn_timeout: Duration::from_secs(300),
            token_budget: 1_000_000,
            result_chars: 16_000,
            max_tokens: 4096,
        }
    }
}

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TurnStatus {
    /// The model answered.
    Done,
    /// A call waits for the user's approval (`chat_approve`).
    AwaitingApproval,
    /// A limit stopped it (calls, time, tokens); `note` says which.
    Stopped,
}

/// What a turn did.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TurnReport {
    pub conversation: ConversationId,
    pub status: TurnStatus,
    /// The model's last words in this turn.
    pub reply: Option<UntrustedText>,
    /// The messages this turn added.
    pub messages: Vec<ChatMessage>,
    /// Calls waiting for the user's decision.
    pub pending: Vec<Approval>,
    /// Tokens this turn used.
    pub usage: TokenUsage,
    pub note: Option<String>,
}

/// The conversations whose turn is running (in this process).
#[derive(Debug, Default)]
pub struct TurnLocks(std::sync::Mutex<std::collections::HashSet<ConversationId>>);

/// A running turn; the conversation is free again when it is dropped.
struct TurnGuard {
    services: Arc<Services>,
    conversation: ConversationId,
}

impl Drop for TurnGuard {
    fn drop(&mut self) {
        self.services
            .chat_turns
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.conversation);
    }
}

/// The assistant in one conversation, acting for one human.
pub struct Assistant {
    dispatcher: Dispatcher,
    human: Principal,
    user: UserId,
    conversation: ConversationId,
    events: Option<EventSink>,
    limits: Limits,
}

impl Assistant {
    pub fn new(
        registry: Arc<Registry>,
        services: Arc<Services>,
        human: Principal,
        conversation: ConversationId,
        events: Option<EventSink>,
    ) -> Result<Self, ToolError> {
        let user = human.user()?.clone();
        services.store.conversation_get(&user, &conversation)?;
        Ok(Self {
            dispatcher: Dispatcher::new(registry, services),
            human,
            user,
            conversation,
            events,
            limits: Limits::default(),
        })
    }

    /// The assistant explaining a diagnosis: the same, narrowed to reading one project
    /// (a read scope and a project limit, which dispatch enforces like a key's).
    pub fn read_only_in(mut self, project: crate::domain::ProjectId) -> Self {
        self.human.scope = crate::domain::Scope::Read;
        self.human.access.only = Some(project);
        self
    }

    /// One explanation of an analyzer's report (`report`, the tool output of
    /// `deployment_diagnose`), by the model, in this conversation; returns its words.
    pub async fn explain(&self, app: &str, report: &serde_json::Value) -> Result<String, ToolError> {
        let mut args = serde_json::Map::new();
        args.insert("app".into(), json!(app));
        args.insert("deployment".into(), report["deployment"].clone());
        let prompt = super::prompts::get("diagnose_deployment")?.render(&args)?;
        let schema = self
            .dispatcher
            .registry()
            .get("deployment_diagnose")
            .map(|d| d.output_schema().clone())
            .unwrap_or_default();
        let fenced = shape::result_text(report, &schema, self.limits.result_chars);
        let turn = self
            .send(&format!("{prompt}\n\nThe analyzer's report:\n{fenced}"))
            .await?;
        Ok(turn.reply.map(|r| r.0).unwrap_or_default())
    }

    /// One turn at a time in a conversation: a second message or decision while one runs
    /// is a conflict, not a second model loop interleaving with the first.
    fn begin_turn(&self) -> Result<TurnGuard, ToolError> {
        let services = self.dispatcher.services().clone();
        let fresh = services
            .chat_turns
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.conversation.clone());
        if !fresh {
            return Err(ToolError::conflict(format!(
                "conversation `{}` is answering already: wait for its turn to end",
                self.conversation
            )));
        }
        Ok(TurnGuard {
            services,
            conversation: self.conversation.clone(),
        })
    }

    fn services(&self) -> &Services {
        self.dispatcher.services()
    }

    /// The principal the model's calls run as; `approved` for a call its human approved.
    fn principal(&self, approved: bool) -> Principal {
        let mut p = self.human.clone();
        p.id = PrincipalId::Chat {
            human: Box::new(self.human.id.clone()),
            conversation: self.conversation.clone(),
            approved,
        };
        p
    }

    fn emit(&self, name: &'static str, data: serde_json::Value) {
        if let Some(s) = &self.events {
            s.send(name, data);
        }
    }

    fn pending(&self) -> Result<Vec<Approval>, ToolError> {
        Ok(self
            .services()
            .store
            .approval_list(&self.user, &self.conversation)?
            .into_iter()
            .filter(|a| a.status == ApprovalStatus::Pending)
            .collect())
    }

    fn append(&self, mut m: ChatMessage) -> Result<ChatMessage, ToolError> {
        self.services().store.conversation_append(&self.conversation, &mut m)?;
        Ok(m)
    }

    /// The user says something; the model answers, calling tools, until it is done or a
    /// call needs approval.
    pub async fn send(&self, text: &str) -> Result<TurnReport, ToolError> {
        let _turn = self.begin_turn()?;
        if !self.services().ai.available() {
            return Err(crate::ai::AiError::Unavailable.into());
        }
        if let Some(p) = self.pending()?.first() {
            return Err(ToolError::conflict(format!(
                "`{}` ({}) waits for your decision: approve or decline it with chat_approve first",
                p.id, p.tool
            )));
        }
        let first = self.append(message(ChatRole::User, Some(text.to_owned())))?.seq;
        self.turn(first).await
    }

    /// The user decides a pending call: it runs (exactly as proposed, with the name they
    /// typed for a destructive one) or is declined; then the turn goes on.
    pub async fn decide(
        &self,
        approval: &ApprovalId,
        approve: bool,
        confirm: Option<&str>,
    ) -> Result<TurnReport, ToolError> {
        let _turn = self.begin_turn()?;
        let store = &self.services().store;
        let found = self.pending()?.into_iter().find(|a| &a.id == approval).ok_or_else(|| {
            ToolError::not_found(format!("pending approval `{approval}` not found in this conversation"))
        })?;
        if approve
            && let Some(name) = &found.confirm
            && confirm != Some(name.as_str())
        {
            return Err(ToolError::invalid(format!(
                "`{}` deletes `{name}`: type that name as `confirm` to approve it",
                found.tool
            )));
        }
        let status = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Declined
        };
        // Decided once: a second decision (or a race) finds nothing pending.
        let decided = store.approval_decide(&self.user, approval, status)?;
        let first = calls::resolve_approval(self, &decided, confirm).await?;
        if !self.pending()?.is_empty() {
            return self.report(first, TurnStatus::AwaitingApproval, TokenUsage::default(), None);
        }
        self.turn(first).await
    }

    /// Runs the model until it answers without tools, a call needs approval, or a limit.
    async fn turn(&self, first: i64) -> Result<TurnReport, ToolError> {
        let limit = self.limits.turn_timeout;
        match tokio::time::timeout(limit, self.turn_loop(first)).await {
            Ok(r) => r,
            Err(_) => {
                let note = format!("the turn took longer than {} s and was stopped", limit.as_secs());
                self.append(message(ChatRole::Assistant, Some(format!("({note})"))))?;
                self.report(first, TurnStatus::Stopped, TokenUsage::default(), Some(note))
            }
        }
    }

    async fn turn_loop(&self, first: i64) -> Result<TurnReport, ToolError> {
        let mut used = TokenUsage::default();
        let mut calls_made = 0usize;
        loop {
            let conversation = self.services().store.conversation_get(&self.user, &self.conversation)?;
            if conversation.tokens_used >= self.limits.token_budget {
                let note = format!(
                    "this conversation has used its budget of {} tokens; start a new one",
                    self.limits.token_budget
                );
                return self.report(first, TurnStatus::Stopped, used, Some(note));
            }
            // Offered as if approved: which tools the human may call; the gate is per call.
            let principal = self.principal(true);
            let tools = shape::tools_for(self.dispatcher.registry(), &principal);
            let stored = self
                .services()
                .store
                .conversation_messages(&self.user, &self.conversation)?;
            let request = ModelRequest {
                messages: history::model_messages(
                    &self.human,
                    &stored,
                    &self.pending()?.into_iter().map(|a| a.id).collect::<Vec<_>>(),
                )?,
                tools,
                max_tokens: Some(self.limits.max_tokens),
            };
            let answer = self
                .services()
                .ai
                .complete(&request, |delta| self.emit("text", json!({ "delta": delta })))
                .await?;
            used.prompt_tokens += answer.usage.prompt_tokens;
            used.completion_tokens += answer.usage.completion_tokens;
            self.emit(
                "usage",
                json!({
                    "prompt_tokens": answer.usage.prompt_tokens,
                    "completion_tokens": answer.usage.completion_tokens,
                    "conversation_tokens": conversation.tokens_used + answer.usage.total(),
                }),
            );
            let mut reply = message(
                ChatRole::Assistant,
                (!answer.text.is_empty()).then(|| answer.text.clone()),
            );
            reply.usage = Some(answer.usage);
            if answer.tool_calls.is_empty() {
                self.append(reply)?;
                return self.report(first, TurnStatus::Done, used, None);
            }
            let room = self.limits.max_calls.saturating_sub(calls_made);
            let stored_reply = self.append(reply)?;
            let outcome = calls::handle(self, stored_reply, &answer.tool_calls, room).await?;
            calls_made += answer.tool_calls.len();
            if outcome.awaiting {
                return self.report(first, TurnStatus::AwaitingApproval, used, None);
            }
            if calls_made >= self.limits.max_calls {
                let note = format!(
                    "the assistant reached its limit of {} tool calls in one turn",
                    self.limits.max_calls
                );
                self.append(message(ChatRole::Assistant, Some(format!("({note})"))))?;
                return self.report(first, TurnStatus::Stopped, used, Some(note));
            }
        }
    }

    fn report(
        &self,
        first: i64,
        status: TurnStatus,
        usage: TokenUsage,
        note: Option<String>,
    ) -> Result<TurnReport, ToolError> {
        let messages: Vec<ChatMessage> = self
            .services()
            .store
            .conversation_messages(&self.user, &self.conversation)?
            .into_iter()
            .filter(|m| m.seq >= first)
            .collect();
        let reply = messages
            .iter()
            .rev()
            .find(|m| m.role == ChatRole::Assistant && m.content.is_some())
            .and_then(|m| m.content.clone());
        Ok(TurnReport {
            conversation: self.conversation.clone(),
            status,
            reply,
            messages,
            pending: self.pending()?,
            usage,
            note,
        })
    }
}

fn message(role: ChatRole, content: Option<String>) -> ChatMessage {
    ChatMessage {
        seq: 0,
        role,
        content: content.map(UntrustedText),
        tool_calls: Vec::new(),
        tool_call_id: None,
        usage: None,
        created_at: Timestamp::now(),
    }
}
