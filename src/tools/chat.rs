//! The assistant's conversations as tools: make, list, read and delete one's own; send a
//! message (the turn runs the model and its tool calls; over REST, asked with
//! `Accept: text/event-stream`, it streams); approve or decline a call waiting for you;
//! and, for the owner, let a user's assistant run writes without asking. In the terminal
//! they are `sh0 conversation <verb>`; `sh0 chat` and `sh0 ask` are the interactive faces.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::chat::{Approval, ChatMessage, Conversation};
use crate::domain::{ApprovalId, ConversationId, UserId};
use crate::registry::HttpMethod::{Delete, Get, Post, Put};
use crate::registry::assistant::{Assistant, TurnReport, auto_writes_setting};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta, Transport};

pub struct ChatCreate;
pub struct ChatList;
pub struct ChatGet;
pub struct ChatDelete;
pub struct ChatSend;
pub struct ChatApprove;
pub struct ChatPolicySet;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatCreateInput {
    /// What the conversation is about (default: "Conversation").
    #[serde(default)]
    #[schemars(length(min = 1, max = 200))]
    pub title: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatListInput {
    /// How many, most recent first (default 50).
    #[serde(default)]
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
pub struct ChatListOutput {
    pub conversations: Vec<Conversation>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRefInput {
    pub conversation: ConversationId,
}

#[derive(Serialize, JsonSchema)]
pub struct ChatGetOutput {
    pub conversation: Conversation,
    pub messages: Vec<ChatMessage>,
    /// Every call the model proposed that needed approval, decided or not.
    pub approvals: Vec<Approval>,
}

#[derive(Serialize, JsonSchema)]
pub struct ChatDeleted {
    pub deleted: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatSendInput {
    pub conversation: ConversationId,
    /// What you say to the assistant.
    #[schemars(length(min = 1, max = 16000))]
    pub message: String,
}

/// A decision on a pending call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Decline,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatApproveInput {
    pub conversation: ConversationId,
    /// The pending approval, from chat_get or the turn that proposed it.
    pub approval: ApprovalId,
    pub decision: Decision,
    /// For a destructive call: the name of what it deletes, typed by you.
    #[serde(default)]
    #[schemars(length(min = 1, max = 255))]
    pub typed_name: Option<String>,
}

/// What a user's assistant does with a change it proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WritePolicy {
    /// Ask the user each time (the default).
    Ask,
    /// Run changes without asking; deletions still ask.
    RunWithoutAsking,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatPolicyInput {
    pub user: UserId,
    pub writes: WritePolicy,
}

#[derive(Serialize, JsonSchema)]
pub struct ChatPolicy {
    pub user: UserId,
    pub writes: WritePolicy,
}

fn own(ctx: &ToolContext) -> Result<&UserId, ToolError> {
    ctx.principal.user()
}

fn assistant(ctx: &ToolContext, conversation: &ConversationId) -> Result<Assistant, ToolError> {
    Assistant::new(
        ctx.registry.clone(),
        ctx.services.clone(),
        ctx.principal.clone(),
        conversation.clone(),
        ctx.events.clone(),
    )
}

const CONVERSATIONS: &str = "/api/v1/chat/conversations";

fn meta(
    name: &'static str,
    title: &'static str,
    description: &'static str,
    safety: Safety,
    http: HttpRoute,
) -> ToolMeta {
    ToolMeta {
        name,
        title,
        description,
        safety,
        permission: Permission::Chat,
        target: Target::Server,
        http: Some(http),
        idempotent: safety == Safety::Read,
    }
}

#[async_trait]
impl Tool for ChatCreate {
    type Input = ChatCreateInput;
    type Output = Conversation;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["conversation", "create"])
    }

    fn meta(&self) -> ToolMeta {
        meta(
            "chat_create",
            "Start a conversation",
            "Start a conversation with sh0's assistant. It is yours alone; send messages with chat_send.",
            Safety::Write,
            HttpRoute::new(Post, CONVERSATIONS),
        )
    }

    async fn call(&self, ctx: &ToolContext, input: ChatCreateInput) -> Result<Conversation, ToolError> {
        let title = input.title.unwrap_or_else(|| "Conversation".into());
        Ok(ctx.store().conversation_create(own(ctx)?, title.trim())?)
    }
}

#[async_trait]
impl Tool for ChatList {
    type Input = ChatListInput;
    type Output = ChatListOutput;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["conversation", "list"])
    }

    fn meta(&self) -> ToolMeta {
        meta(
            "chat_list",
            "List conversations",
            "List your conversations with the assistant, most recently active first, with the tokens each used.",
            Safety::Read,
            HttpRoute::new(Get, CONVERSATIONS),
        )
    }

    async fn call(&self, ctx: &ToolContext, input: ChatListInput) -> Result<ChatListOutput, ToolError> {
        Ok(ChatListOutput {
            conversations: ctx.store().conversation_list(own(ctx)?, input.limit.unwrap_or(50))?,
        })
    }
}

#[async_trait]
impl Tool for ChatGet {
    type Input = ChatRefInput;
    type Output = ChatGetOutput;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["conversation", "get"])
    }

    fn meta(&self) -> ToolMeta {
        meta(
            "chat_get",
            "Read a conversation",
            "A conversation of yours: its messages (with each tool call the assistant made and what became of \
             it) and its approvals, pending ones first to decide with chat_approve.",
            Safety::Read,
            HttpRoute::new(Get, "/api/v1/chat/conversations/{conversation}"),
        )
    }

    async fn call(&self, ctx: &ToolContext, input: ChatRefInput) -> Result<ChatGetOutput, ToolError> {
        let user = own(ctx)?;
        Ok(ChatGetOutput {
            conversation: ctx.store().conversation_get(user, &input.conversation)?,
            messages: ctx.store().conversation_messages(user, &input.conversation)?,
            approvals: ctx.store().approval_list(user, &input.conversation)?,
        })
    }
}

#[async_trait]
impl Tool for ChatDelete {
    type Input = ChatRefInput;
    type Output = ChatDeleted;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["conversation", "delete"])
    }

    fn meta(&self) -> ToolMeta {
        meta(
            "chat_delete",
            "Delete a conversation",
            "Delete a conversation of yours with its messages and approvals (pending ones never run). Confirm \
             with the conversation's id.",
            Safety::Destructive,
            HttpRoute::new(Delete, "/api/v1/chat/conversations/{conversation}"),
        )
    }

    async fn confirmation_target(&self, ctx: &ToolContext, input: &ChatRefInput) -> Result<String, ToolError> {
        Ok(ctx
            .store()
            .conversation_get(own(ctx)?, &input.conversation)?
            .id
            .to_string())
    }

    async fn call(&self, ctx: &ToolContext, input: ChatRefInput) -> Result<ChatDeleted, ToolError> {
        ctx.store().conversation_delete(own(ctx)?, &input.conversation)?;
        Ok(ChatDeleted { deleted: true })
    }
}

#[async_trait]
impl Tool for ChatSend {
    type Input = ChatSendInput;
    type Output = TurnReport;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["conversation", "send"])
    }

    fn transports(&self) -> &'static [Transport] {
        &[Transport::EventStream {
            path: "/api/v1/chat/conversations/{conversation}/messages",
        }]
    }

    fn meta(&self) -> ToolMeta {
        meta(
            "chat_send",
            "Ask the assistant",
            "Send a message in a conversation of yours. The assistant answers using sh0's tools as you: reads \
             run at once; a change waits for your approval (status `awaiting_approval`, see `pending`, decide \
             with chat_approve). Needs a model (ai_settings_set). Over REST, ask with `Accept: \
             text/event-stream` to follow the answer as it is written.",
            Safety::Write,
            HttpRoute::new(Post, "/api/v1/chat/conversations/{conversation}/messages"),
        )
    }

    async fn call(&self, ctx: &ToolContext, input: ChatSendInput) -> Result<TurnReport, ToolError> {
        assistant(ctx, &input.conversation)?.send(&input.message).await
    }
}

#[async_trait]
impl Tool for ChatApprove {
    type Input = ChatApproveInput;
    type Output = TurnReport;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["conversation", "approve"])
    }

    fn transports(&self) -> &'static [Transport] {
        &[Transport::EventStream {
            path: "/api/v1/chat/conversations/{conversation}/approvals/{approval}",
        }]
    }

    fn meta(&self) -> ToolMeta {
        meta(
            "chat_approve",
            "Approve or decline a proposed call",
            "Decide a call the assistant proposed in your conversation: approve runs exactly the proposed call \
             (for a deletion, give the name as typed_name), decline tells the assistant no. Each is decided \
             once. The assistant then goes on.",
            Safety::Write,
            HttpRoute::new(Post, "/api/v1/chat/conversations/{conversation}/approvals/{approval}"),
        )
    }

    async fn call(&self, ctx: &ToolContext, input: ChatApproveInput) -> Result<TurnReport, ToolError> {
        assistant(ctx, &input.conversation)?
            .decide(
                &input.approval,
                input.decision == Decision::Approve,
                input.typed_name.as_deref(),
            )
            .await
    }
}

#[async_trait]
impl Tool for ChatPolicySet {
    type Input = ChatPolicyInput;
    type Output = ChatPolicy;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["conversation", "policy-set"])
    }

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "chat_policy_set",
            title: "Let a user's assistant change things unasked",
            description: "Owner only: let one user's assistant run changes (deploy, restart, update) without \
                          asking them each time. Deletions always ask.",
            safety: Safety::Write,
            permission: Permission::SecurityPolicy,
            target: Target::Server,
            http: Some(HttpRoute::new(Put, "/api/v1/chat/policy/{user}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: ChatPolicyInput) -> Result<ChatPolicy, ToolError> {
        if ctx.store().user_get(&input.user)?.is_none() {
            return Err(ToolError::not_found(format!("user `{}` not found", input.user)));
        }
        let key = auto_writes_setting(&input.user);
        if input.writes == WritePolicy::RunWithoutAsking {
            ctx.store().setting_put(&key, "true")?;
        } else {
            ctx.store().setting_delete(&key)?;
        }
        Ok(ChatPolicy {
            user: input.user,
            writes: input.writes,
        })
    }
}
