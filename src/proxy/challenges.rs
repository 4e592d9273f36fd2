//! ACME HTTP-01 answers: `GET /.well-known/acme-challenge/<token>` on plain HTTP returns the
//! key authorization of an order in progress. The issuer adds a token before it tells the
//! CA it is ready and removes it when the order ends.

use std::collections::HashMap;
use std::sync::RwLock;

pub const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

#[derive(Debug, Default)]
pub struct Challenges {
    tokens: RwLock<HashMap<String, String>>,
}

impl Challenges {
    pub fn insert(&self, token: &str, key_authorization: &str) {
        self.tokens
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_owned(), key_authorization.to_owned());
    }

    pub fn remove(&self, token: &str) {
        self.tokens.write().unwrap_or_else(|p| p.into_inner()).remove(token);
    }

    /// The answer for a request path, when it is a challenge path with a known token.
    pub fn answer(&self, path: &str) -> Option<String> {
        let token = path.strip_prefix(CHALLENGE_PREFIX)?;
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }
}
