//! Credentials and secrets: the master key and sealed values, API keys, passwords, session
//! tokens, TOTP and attempt limits. Pure primitives: what to store and where is the
//! store's business, and the flows that combine them live in the registry.

pub mod api_keys;
pub mod limiter;
pub mod oauth;
pub mod passwords;
pub mod secrets;
pub mod tokens;
pub mod totp;

pub use api_keys::{GeneratedKey, hash_key};
pub use limiter::{AttemptLimiter, LimitPolicy, Limiters};
pub use passwords::{check_policy, hash_password, verify_nothing, verify_password};
pub use secrets::{MasterKey, SecretsError, cert_context, env_context, totp_context};
pub use tokens::{AccessClaims, SessionKeys, backup_code, normalize_backup_code, random_token};
