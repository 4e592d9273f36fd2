//! The model connection: any OpenAI-compatible chat-completions endpoint (OpenAI,
//! Anthropic's compatible endpoint, OpenRouter, Ollama, vLLM, llama.cpp's server), through
//! `async-openai`. Configured by an owner or admin (`ai_settings_set`: stored, the key
//! sealed with the master key under a `sealed:` setting, so `secrets_rotate` re-seals it)
//! or by `sh0 serve --ai-base-url --ai-model` with the key in `SH0_AI_API_KEY`; stored
//! settings win. Without either, every AI feature answers `Unavailable` naming the setting.

mod client;

pub use client::{ModelEvent, ModelMessage, ModelRequest, ModelToolCall, ModelToolSpec};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use schemars::JsonSchema;
use serde::Serialize;
use std::sync::Arc;

use crate::auth::MasterKey;
use crate::domain::SecretString;
use crate::store::{Store, StoreError};

const BASE_URL_SETTING: &str = "ai_base_url";
const MODEL_SETTING: &str = "ai_model";
/// Sealed, and bound to its own name (as every `sealed:` setting).
const API_KEY_SETTING: &str = "sealed:ai_api_key";

#[derive(Debug, thiserror::Error)]
pub enum AiError {
    #[error(
        "no AI model is configured: an owner or admin sets one with ai_settings_set (base_url, model, api_key), \
         or the server starts with `sh0 serve --ai-base-url <url> --ai-model <model>` and SH0_AI_API_KEY"
    )]
    Unavailable,
    /// The model's endpoint failed or answered something unusable.
    #[error("the AI model's endpoint failed: {0}")]
    Model(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored AI key cannot be opened: {0}")]
    Sealed(String),
}

/// What `sh0 serve` was given.
#[derive(Debug, Clone, Default)]
pub struct AiFlags {
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<SecretString>,
}

/// Where the connection in use comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AiSource {
    /// Set with `ai_settings_set`.
    Settings,
    /// `sh0 serve --ai-base-url --ai-model` and `SH0_AI_API_KEY`.
    ServerFlags,
    /// Nothing: AI features are unavailable.
    None,
}

/// The connection as tools show it: never the key, only whether there is one.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AiSettingsView {
    pub configured: bool,
    pub source: AiSource,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key_set: bool,
}

/// A resolved connection.
#[derive(Clone)]
pub(crate) struct ModelConfig {
    base_url: String,
    model: String,
    api_key: Option<SecretString>,
}

/// A change to the stored settings; `None` keeps a field.
#[derive(Debug, Default)]
pub struct AiChange {
    pub base_url: Option<String>,
    pub model: Option<String>,
    /// `Some(None)` removes the key.
    pub api_key: Option<Option<SecretString>>,
}

type Stored = (Option<String>, Option<String>, Option<SecretString>);

/// The model connection; cheap to clone.
#[derive(Clone)]
pub struct Ai {
    store: Arc<Store>,
    master_key: MasterKey,
    flags: Arc<AiFlags>,
    http: reqwest::Client,
}

impl Ai {
    pub fn new(store: Arc<Store>, master_key: MasterKey, flags: AiFlags) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            store,
            master_key,
            flags: Arc::new(flags),
            http,
        }
    }

    /// The stored URL, model and key (each possibly absent).
    fn stored(&self) -> Result<Stored, AiError> {
        let base = self.store.setting_get(BASE_URL_SETTING)?;
        let model = self.store.setting_get(MODEL_SETTING)?;
        let key = match self.store.setting_get(API_KEY_SETTING)? {
            Some(sealed) => {
                let bytes = STANDARD.decode(sealed).map_err(|e| AiError::Sealed(e.to_string()))?;
                let plain = self
                    .master_key
                    .open(&bytes, API_KEY_SETTING)
                    .map_err(|e| AiError::Sealed(e.to_string()))?;
                let text = String::from_utf8(plain).map_err(|e| AiError::Sealed(e.to_string()))?;
                Some(SecretString::try_from(text).map_err(AiError::Sealed)?)
            }
            None => None,
        };
        Ok((base, model, key))
    }

    /// The connection in use and where it comes from.
    fn resolve(&self) -> Result<(AiSource, Option<ModelConfig>), AiError> {
        let (base, model, key) = self.stored()?;
        if let (Some(base_url), Some(model)) = (base, model) {
            return Ok((
                AiSource::Settings,
                Some(ModelConfig {
                    base_url,
                    model,
                    api_key: key,
                }),
            ));
        }
        if let (Some(base_url), Some(model)) = (&self.flags.base_url, &self.flags.model) {
            return Ok((
                AiSource::ServerFlags,
                Some(ModelConfig {
                    base_url: base_url.clone(),
                    model: model.clone(),
                    api_key: self.flags.api_key.clone(),
                }),
            ));
        }
        Ok((AiSource::None, None))
    }

    pub(crate) fn config(&self) -> Result<ModelConfig, AiError> {
        self.resolve()?.1.ok_or(AiError::Unavailable)
    }

    /// Whether a model is configured (for callers that only add to what works without).
    pub fn available(&self) -> bool {
        self.config().is_ok()
    }

    pub fn view(&self) -> Result<AiSettingsView, AiError> {
        let (source, config) = self.resolve()?;
        Ok(AiSettingsView {
            configured: config.is_some(),
            source,
            base_url: config.as_ref().map(|c| c.base_url.clone()),
            model: config.as_ref().map(|c| c.model.clone()),
            api_key_set: config.as_ref().is_some_and(|c| c.api_key.is_some()),
        })
    }

    /// Applies a change to the stored settings.
    pub fn set(&self, mut change: AiChange) -> Result<AiSettingsView, AiError> {
        // The key goes only where it was given for: a new endpoint without a new key drops
        // the stored one, so nobody can send it elsewhere by changing the URL.
        let stored_base = self.store.setting_get(BASE_URL_SETTING)?;
        if let Some(b) = &change.base_url
            && stored_base.as_deref() != Some(b.trim_end_matches('/'))
            && change.api_key.is_none()
        {
            change.api_key = Some(None);
        }
        if let Some(b) = &change.base_url {
            self.store.setting_put(BASE_URL_SETTING, b.trim_end_matches('/'))?;
        }
        if let Some(m) = &change.model {
            self.store.setting_put(MODEL_SETTING, m)?;
        }
        match change.api_key {
            Some(Some(key)) => self
                .master_key
                .seal_into(key.expose().as_bytes(), API_KEY_SETTING, |sealed| {
                    self.store.setting_put(API_KEY_SETTING, &STANDARD.encode(sealed))
                })?,
            Some(None) => self.store.setting_delete(API_KEY_SETTING)?,
            None => {}
        }
        self.view()
    }

    /// Removes every stored setting (the server's flags, if any, apply again).
    pub fn clear(&self) -> Result<AiSettingsView, AiError> {
        for k in [BASE_URL_SETTING, MODEL_SETTING, API_KEY_SETTING] {
            self.store.setting_delete(k)?;
        }
        self.view()
    }
}
