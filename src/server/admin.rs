//! Break-glass administration on the server host, without the API: resetting a locked-out
//! user's password (and, if the authenticator is lost, their 2FA). Whoever can run this
//! can read the data directory, which holds the master key anyway.

use std::path::Path;

use crate::auth::{check_policy, hash_password};
use crate::domain::Email;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("no user has the email {0}")]
    NoSuchUser(Email),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Sets a new password for `email`, ends all their sessions, and with `disable_2fa` turns
/// their two-factor authentication off.
pub fn reset_password(data_dir: &Path, email: &str, password: &str, disable_2fa: bool) -> Result<Email, AdminError> {
    let email = Email::try_from(email.to_owned()).map_err(AdminError::Invalid)?;
    check_policy(password, email.as_str()).map_err(AdminError::Invalid)?;
    let db = data_dir.join("sh0.db");
    if !db.exists() {
        return Err(AdminError::Invalid(format!("no sh0 database at {}", db.display())));
    }
    let store = Store::open(&db)?;
    let user = store
        .user_by_email(&email)?
        .ok_or_else(|| AdminError::NoSuchUser(email.clone()))?;
    let hash = hash_password(password).map_err(|e| AdminError::Invalid(e.to_string()))?;
    store.user_set_password(&user.id, &hash)?;
    if disable_2fa {
        store.totp_disable(&user.id)?;
    }
    Ok(email)
}
