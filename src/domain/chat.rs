//! Conversations with the assistant: their messages, the tool calls the model made in
//! them, and the calls waiting for their human's approval.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ApprovalId, ConversationId, Timestamp, UntrustedText};

/// Tokens a model call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

impl TokenUsage {
    pub fn total(self) -> u64 {
        u64::from(self.prompt_tokens) + u64::from(self.completion_tokens)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    User,
    Assistant,
    /// A tool's result, as given to the model.
    Tool,
}

/// What became of a tool call the model made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum CallStatus {
    /// It ran and succeeded.
    Done,
    /// It ran and the tool refused or failed (the error went back to the model).
    Failed,
    /// sh0 did not run it: a tool the assistant may not call, bad arguments, a limit.
    Refused,
    /// Waiting for its human's decision.
    PendingApproval,
    /// Its human declined it.
    Declined,
}

/// A tool call of the model, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChatToolCall {
    /// The model's id of the call.
    pub id: String,
    pub tool: String,
    /// The arguments as sh0 read them (never a `confirm`: the model cannot give one).
    pub arguments: serde_json::Value,
    pub status: CallStatus,
    /// One line on the outcome.
    pub summary: Option<String>,
    /// The approval it waits (or waited) for.
    pub approval: Option<ApprovalId>,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChatMessage {
    pub seq: i64,
    pub role: ChatRole,
    /// Text: the user's, the model's, or a tool result as the model received it (app
    /// output inside it is fenced).
    pub content: Option<UntrustedText>,
    #[serde(default)]
    pub tool_calls: Vec<ChatToolCall>,
    /// For a tool result: the call it answers.
    pub tool_call_id: Option<String>,
    /// For a model answer: what it cost.
    pub usage: Option<TokenUsage>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub title: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Tokens used so far, against the conversation's budget.
    pub tokens_used: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Declined,
}

/// A write or destructive call the model proposed, bound to its exact arguments, that
/// runs only when the conversation's human approves it (once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Approval {
    pub id: ApprovalId,
    pub conversation: ConversationId,
    /// The model's id of the call.
    pub call_id: String,
    pub tool: String,
    pub arguments: serde_json::Value,
    /// `write` or `destructive`.
    pub safety: String,
    /// What it touches (the resource its input names), when it names one.
    pub resource: Option<String>,
    /// For a destructive call: the name the human must type to approve it.
    pub confirm: Option<String>,
    pub status: ApprovalStatus,
    pub created_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

text_enum!(CallStatus);
text_enum!(ApprovalStatus);
