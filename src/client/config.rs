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

    /// The file's own values (no environment), for editing.
    pub fn load_file() -> Result<Self, String> {
        match config_path() {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
            }
            _ => Ok(Self::default()),
        }
    }

    /// Writes the file, mode 0600 (it holds an API key), atomically.
    pub fn save(&self) -> Result<std::path::PathBuf, String> {
        let path = config_path().ok_or("no configuration directory")?;
        let text = toml::to_string(self).map_err(|e| e.to_string())?;
        crate::util::write_private_file(&path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }

    pub fn url(&self) -> &str {
        self.url.as_deref().unwrap_or(DEFAULT_URL)
    }
}
