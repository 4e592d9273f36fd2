//! One streamed chat completion over the OpenAI wire format, with sh0's own small message
//! types at the boundary (the rest of sh0 never sees `async-openai`'s): text deltas are
//! handed to the caller as they come, tool calls are assembled from their deltas, and the
//! usage chunk (requested with `stream_options.include_usage`) is read when the endpoint
//! sends one.

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls, ChatCompletionRequestAssistantMessage,
    ChatCompletionRequestAssistantMessageContent, ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage, ChatCompletionRequestUserMessageContent,
    ChatCompletionStreamOptions, ChatCompletionTool, ChatCompletionTools, CreateChatCompletionRequest, FunctionCall,
    FunctionObject,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Ai, AiError};
use crate::domain::chat::TokenUsage;

/// A message of the conversation as the model sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ModelMessage {
    System {
        content: String,
    },
    User {
        content: String,
    },
    Assistant {
        content: Option<String>,
        #[serde(default)]
        tool_calls: Vec<ModelToolCall>,
    },
    Tool {
        call_id: String,
        content: String,
    },
}

/// A tool call the model made: its id, the tool's name and the arguments as JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Debug, Clone)]
pub struct ModelToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct ModelRequest {
    pub messages: Vec<ModelMessage>,
    pub tools: Vec<ModelToolSpec>,
    pub max_tokens: Option<u32>,
}

/// What one completion produced.
#[derive(Debug, Clone, Default)]
pub struct ModelEvent {
    pub text: String,
    pub tool_calls: Vec<ModelToolCall>,
    pub usage: TokenUsage,
}

fn wire(m: &ModelMessage) -> ChatCompletionRequestMessage {
    match m {
        ModelMessage::System { content } => ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
            content: ChatCompletionRequestSystemMessageContent::Text(content.clone()),
            name: None,
        }),
        ModelMessage::User { content } => ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
            content: ChatCompletionRequestUserMessageContent::Text(content.clone()),
            name: None,
        }),
        ModelMessage::Assistant { content, tool_calls } => {
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content: content.clone().map(ChatCompletionRequestAssistantMessageContent::Text),
                tool_calls: (!tool_calls.is_empty()).then(|| {
                    tool_calls
                        .iter()
                        .map(|c| {
                            ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                                id: c.id.clone(),
                                function: FunctionCall {
                                    name: c.name.clone(),
                                    arguments: c.arguments.clone(),
                                },
                            })
                        })
                        .collect()
                }),
                ..Default::default()
            })
        }
        ModelMessage::Tool { call_id, content } => {
            ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
                content: ChatCompletionRequestToolMessageContent::Text(content.clone()),
                tool_call_id: call_id.clone(),
            })
        }
    }
}

/// A tool call being assembled from its deltas.
#[derive(Default)]
struct Partial {
    id: String,
    name: String,
    arguments: String,
}

impl Ai {
    /// Runs one completion, streaming: `on_text` gets each text delta as it arrives.
    pub async fn complete(&self, request: &ModelRequest, mut on_text: impl FnMut(&str)) -> Result<ModelEvent, AiError> {
        let config = self.config()?;
        let mut openai = OpenAIConfig::new().with_api_base(config.base_url.clone());
        // Local servers (Ollama, llama.cpp) take no key; the header is then left out.
        openai = openai.with_api_key(
            config
                .api_key
                .as_ref()
                .map(|k| k.expose().to_owned())
                .unwrap_or_default(),
        );
        let client = Client::with_config(openai).with_http_client(self.http.clone());
        let tools: Vec<ChatCompletionTools> = request
            .tools
            .iter()
            .map(|t| {
                ChatCompletionTools::Function(ChatCompletionTool {
                    function: FunctionObject {
                        name: t.name.clone(),
                        description: Some(t.description.clone()),
                        parameters: Some(t.parameters.clone()),
                        strict: None,
                    },
                })
            })
            .collect();
        let wire_request = CreateChatCompletionRequest {
            model: config.model.clone(),
            messages: request.messages.iter().map(wire).collect(),
            tools: (!tools.is_empty()).then_some(tools),
            max_completion_tokens: request.max_tokens,
            stream: Some(true),
            stream_options: Some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                include_obfuscation: None,
            }),
            ..Default::default()
        };
        let mut stream = client
            .chat()
            .create_stream(wire_request)
            .await
            .map_err(|e| AiError::Model(e.to_string()))?;
        let mut out = ModelEvent::default();
        let mut partial: Vec<Partial> = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| AiError::Model(e.to_string()))?;
            if let Some(u) = chunk.usage {
                out.usage = TokenUsage {
                    prompt_tokens: u.prompt_tokens,
                    completion_tokens: u.completion_tokens,
                };
            }
            for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
                if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                    on_text(&text);
                    out.text.push_str(&text);
                }
                for d in choice.delta.tool_calls.unwrap_or_default() {
                    let i = d.index as usize;
                    if i >= 64 {
                        return Err(AiError::Model("more than 64 tool calls in one answer".into()));
                    }
                    if partial.len() <= i {
                        partial.resize_with(i + 1, Partial::default);
                    }
                    let p = &mut partial[i];
                    if let Some(id) = d.id {
                        p.id = id;
                    }
                    if let Some(f) = d.function {
                        if let Some(n) = f.name {
                            p.name.push_str(&n);
                        }
                        if let Some(a) = f.arguments {
                            p.arguments.push_str(&a);
                        }
                    }
                }
            }
        }
        out.tool_calls = partial
            .into_iter()
            .filter(|p| !p.name.is_empty())
            .enumerate()
            .map(|(i, p)| ModelToolCall {
                id: if p.id.is_empty() { format!("call_{i}") } else { p.id },
                name: p.name,
                arguments: p.arguments,
            })
            .collect();
        Ok(out)
    }
}
