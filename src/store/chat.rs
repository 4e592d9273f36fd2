//! The assistant's conversations. A conversation is its user's alone: every read and write
//! here names the user, and another user's conversation answers as one that does not
//! exist. Messages and approvals are stored as JSON of their domain types.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, StoreResult};
use crate::domain::chat::{Approval, ApprovalStatus, ChatMessage, Conversation};
use crate::domain::{ApprovalId, ConversationId, Timestamp, UserId};

fn json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("conversation data: {e}")))
}

fn not_found(id: &ConversationId) -> StoreError {
    StoreError::NotFound(format!("conversation `{id}`"))
}

impl Store {
    pub fn conversation_create(&self, user: &UserId, title: &str) -> StoreResult<Conversation> {
        let id = ConversationId::generate();
        let now = Timestamp::now();
        self.conn().execute(
            "INSERT INTO conversations (id, user_id, title, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
            params![id.as_str(), user.as_str(), title, now],
        )?;
        self.conversation_get(user, &id)
    }

    pub fn conversation_get(&self, user: &UserId, id: &ConversationId) -> StoreResult<Conversation> {
        self.conn()
            .query_row(
                "SELECT id, title, created_at, updated_at, tokens_used FROM conversations WHERE id = ?1 AND user_id = ?2",
                params![id.as_str(), user.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Timestamp>(2)?,
                        r.get::<_, Timestamp>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )
            .optional()?
            .ok_or_else(|| not_found(id))
            .and_then(|(id, title, created_at, updated_at, used)| {
                Ok(Conversation {
                    id: super::parse_col(id)?,
                    title,
                    created_at,
                    updated_at,
                    tokens_used: used.max(0) as u64,
                })
            })
    }

    /// The user's conversations, most recently active first.
    pub fn conversation_list(&self, user: &UserId, limit: u32) -> StoreResult<Vec<Conversation>> {
        let ids: Vec<String> = {
            let conn = self.conn();
            let mut stmt = conn.prepare(
                "SELECT id FROM conversations WHERE user_id = ?1 ORDER BY updated_at DESC, id DESC LIMIT ?2",
            )?;
            stmt.query_map(params![user.as_str(), limit], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        ids.into_iter()
            .map(|id| self.conversation_get(user, &super::parse_col(id)?))
            .collect()
    }

    pub fn conversation_delete(&self, user: &UserId, id: &ConversationId) -> StoreResult<()> {
        let n = self.conn().execute(
            "DELETE FROM conversations WHERE id = ?1 AND user_id = ?2",
            params![id.as_str(), user.as_str()],
        )?;
        if n == 0 { Err(not_found(id)) } else { Ok(()) }
    }

    pub fn conversation_messages(&self, user: &UserId, id: &ConversationId) -> StoreResult<Vec<ChatMessage>> {
        self.conversation_get(user, id)?;
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT body FROM chat_messages WHERE conversation_id = ?1 ORDER BY seq")?;
        let bodies: Vec<String> = stmt.query_map([id.as_str()], |r| r.get(0))?.collect::<Result<_, _>>()?;
        bodies.iter().map(|b| parse(b)).collect()
    }

    /// Appends a message (its `seq` is assigned here) and adds its tokens to the
    /// conversation's count.
    pub fn conversation_append(&self, id: &ConversationId, message: &mut ChatMessage) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let seq: i64 = tx.query_row(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM chat_messages WHERE conversation_id = ?1",
            [id.as_str()],
            |r| r.get(0),
        )?;
        message.seq = seq;
        tx.execute(
            "INSERT INTO chat_messages (conversation_id, seq, body) VALUES (?1, ?2, ?3)",
            params![id.as_str(), seq, json(message)?],
        )?;
        let tokens = message.usage.map_or(0, |u| u.total()) as i64;
        tx.execute(
            "UPDATE conversations SET tokens_used = tokens_used + ?2, updated_at = ?3 WHERE id = ?1",
            params![id.as_str(), tokens, Timestamp::now()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Replaces a stored message (a tool call's status changes when it is decided).
    pub fn conversation_update(&self, id: &ConversationId, message: &ChatMessage) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE chat_messages SET body = ?3 WHERE conversation_id = ?1 AND seq = ?2",
            params![id.as_str(), message.seq, json(message)?],
        )?;
        Ok(())
    }

    pub fn approval_insert(&self, a: &Approval) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO chat_approvals (id, conversation_id, body, status) VALUES (?1, ?2, ?3, ?4)",
            params![a.id.as_str(), a.conversation.as_str(), json(a)?, a.status.as_str()],
        )?;
        Ok(())
    }

    /// The approvals of a conversation of `user`'s, oldest first.
    pub fn approval_list(&self, user: &UserId, id: &ConversationId) -> StoreResult<Vec<Approval>> {
        self.conversation_get(user, id)?;
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT body FROM chat_approvals WHERE conversation_id = ?1 ORDER BY rowid")?;
        let bodies: Vec<String> = stmt.query_map([id.as_str()], |r| r.get(0))?.collect::<Result<_, _>>()?;
        bodies.iter().map(|b| parse(b)).collect()
    }

    /// Decides a pending approval of `user`'s conversation, once: a second decision, or a
    /// decision on someone else's, finds nothing. Returns the decided approval.
    pub fn approval_decide(&self, user: &UserId, id: &ApprovalId, status: ApprovalStatus) -> StoreResult<Approval> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let body: Option<String> = tx
            .query_row(
                "SELECT a.body FROM chat_approvals a JOIN conversations c ON c.id = a.conversation_id \
                 WHERE a.id = ?1 AND c.user_id = ?2 AND a.status = ?3",
                params![id.as_str(), user.as_str(), ApprovalStatus::Pending.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let mut approval: Approval =
            parse(&body.ok_or_else(|| StoreError::NotFound(format!("pending approval `{id}`")))?)?;
        approval.status = status;
        approval.decided_at = Some(Timestamp::now());
        tx.execute(
            "UPDATE chat_approvals SET body = ?2, status = ?3 WHERE id = ?1",
            params![id.as_str(), json(&approval)?, status.as_str()],
        )?;
        tx.commit()?;
        Ok(approval)
    }
}
