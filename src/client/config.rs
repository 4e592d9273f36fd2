//! Where a client finds its server: `SH0_API_URL` / `SH0_API_TOKEN`, else
//! `~/.config/sh0/config.toml` (`url`, `token`), else the local default server.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub const DEFAULT_URL: &str = "http://127.0.0.1:9000";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientConfig {
    pub url: Option<String>,
    pub token: Option<String>,
}

/// `$XDG_CONFIG_HOME/sh0/config.toml` (or `~/.config/sh0/config.toml`).
pub fn config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("sh0").join("config.toml"))
}

impl ClientConfig {
    /// The file's values, overridden by the environment. A missing file is not an error; an
    /// unreadable one is.
    pub fn load() -> Result<Self, String> {
        let mut cfg = match config_path() {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            _ => Self::default(),
        };
        if let Ok(url) = std::env::var("SH0_API_URL")
            && !url.is_empty()
        {
            cfg.url = Some(url);
        }
        if let Ok(token) = std::env::var("SH0_API_TOKEN")
            && !token.is_empty()
        {
            cfg.token = Some(token);
        }
        Ok(cfg)
    }

    pub fn url(&self) -> &str {
        self.url.as_deref().unwrap_or(DEFAULT_URL)
    }
}
