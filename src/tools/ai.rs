//! The assistant's model connection: which OpenAI-compatible endpoint and model, and its
//! key (stored sealed, never shown).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::ai::{AiChange, AiSettingsView};
use crate::domain::SecretString;
use crate::registry::HttpMethod::{Get, Put};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};

pub struct AiSettingsGet;
pub struct AiSettingsSet;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AiSettingsGetInput {}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AiSettingsSetInput {
    /// The endpoint's base URL, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`.
    #[serde(default)]
    #[schemars(length(min = 8, max = 500), regex(pattern = r"^https?://[^\s]+$"))]
    pub base_url: Option<String>,
    /// The model's name at that endpoint.
    #[serde(default)]
    #[schemars(length(min = 1, max = 200), regex(pattern = r"^[^\s]+$"))]
    pub model: Option<String>,
    /// The endpoint's API key (stored encrypted; never shown again).
    #[serde(default)]
    pub api_key: Option<SecretString>,
    /// Remove the stored key (for endpoints that take none).
    #[serde(default)]
    pub remove_api_key: bool,
    /// Remove every stored setting: the server's `--ai-*` flags apply again, if any.
    #[serde(default)]
    pub reset: bool,
}

#[async_trait]
impl Tool for AiSettingsGet {
    type Input = AiSettingsGetInput;
    type Output = AiSettingsView;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["ai-settings", "get"])
    }

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "ai_settings_get",
            title: "Show the assistant's model",
            description: "The model the assistant and AI features use: endpoint, model, whether a key is set (never \
                          the key), and where the setting comes from.",
            safety: Safety::Read,
            permission: Permission::AiSettings,
            target: Target::Server,
            http: Some(HttpRoute::new(Get, "/api/v1/settings/ai")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, _: AiSettingsGetInput) -> Result<AiSettingsView, ToolError> {
        Ok(ctx.services.ai.view()?)
    }
}

#[async_trait]
impl Tool for AiSettingsSet {
    type Input = AiSettingsSetInput;
    type Output = AiSettingsView;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["ai-settings", "set"])
    }

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "ai_settings_set",
            title: "Set the assistant's model",
            description: "Connect the assistant to any OpenAI-compatible chat-completions endpoint (OpenAI, \
                          Anthropic's compatible endpoint, OpenRouter, Ollama, vLLM, llama.cpp): base URL, model, \
                          API key. The key is stored encrypted with the master key and never shown.",
            safety: Safety::Write,
            permission: Permission::AiSettings,
            target: Target::Server,
            http: Some(HttpRoute::new(Put, "/api/v1/settings/ai")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AiSettingsSetInput) -> Result<AiSettingsView, ToolError> {
        let ai = &ctx.services.ai;
        if input.reset {
            if input.base_url.is_some() || input.model.is_some() || input.api_key.is_some() {
                return Err(ToolError::invalid("`reset` removes every setting: give it alone"));
            }
            return Ok(ai.clear()?);
        }
        if input.api_key.is_some() && input.remove_api_key {
            return Err(ToolError::invalid("give `api_key` or `remove_api_key`, not both"));
        }
        // Stored settings apply when both the URL and the model are stored.
        if ai.view()?.source != crate::ai::AiSource::Settings && input.base_url.is_some() != input.model.is_some() {
            return Err(ToolError::invalid(
                "the first setting needs both `base_url` and `model`",
            ));
        }
        Ok(ai.set(AiChange {
            base_url: input.base_url,
            model: input.model,
            api_key: if input.remove_api_key {
                Some(None)
            } else {
                input.api_key.map(Some)
            },
        })?)
    }
}
