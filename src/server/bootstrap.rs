//! First start: a server with no credential at all gets an owner API key, written to
//! `<data-dir>/bootstrap-token` (0600). The log says where the key is, never what it is.

use super::ServeError;
use crate::auth::GeneratedKey;
use crate::domain::{Role, Scope};
use crate::registry::Services;

pub const BOOTSTRAP_FILE: &str = "bootstrap-token";

pub fn ensure_owner_key(services: &Services) -> Result<(), ServeError> {
    if services.store.key_count()? > 0 {
        return Ok(());
    }
    let key = GeneratedKey::new();
    let path = services.settings.data_dir.join(BOOTSTRAP_FILE);
    crate::util::write_private_file(&path, format!("{}\n", key.plaintext).as_bytes()).map_err(|source| {
        ServeError::DataDir {
            path: path.display().to_string(),
            source,
        }
    })?;
    let id = services.store.key_insert(&crate::store::NewKey {
        name: "bootstrap owner key",
        prefix: &key.display_prefix,
        hash: &key.hash,
        scope: Scope::Admin,
        role: Role::Owner,
        expires_at: None,
        user_id: None,
        project_id: None,
    })?;
    // Setup (creating the first user) accepts this key and no other.
    services
        .store
        .setting_put(crate::registry::BOOTSTRAP_KEY_SETTING, id.as_str())?;
    tracing::info!(
        "first start: created an owner API key in {} (mode 0600); use it as SH0_API_TOKEN or Authorization: Bearer",
        path.display()
    );
    Ok(())
}
