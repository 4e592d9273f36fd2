//! Credentials and secrets: the master key and sealed values, API key generation and hashing.
//! Users, sessions, roles and 2FA slot in here beside them.

pub mod api_keys;
pub mod secrets;

pub use api_keys::{GeneratedKey, hash_key};
pub use secrets::{MasterKey, SecretsError, cert_context, env_context};
