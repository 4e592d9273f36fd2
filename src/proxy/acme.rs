//! The ACME client (RFC 8555, HTTP-01) over instant-acme: one account per directory, its
//! credentials sealed in the store, and one order per domain. The HTTP-01 answers are served
//! by the proxy's plain listener from [`Challenges`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use std::path::PathBuf;
use std::time::Duration;

use super::challenges::Challenges;
use crate::auth::MasterKey;
use crate::store::{SEALED_SETTING_PREFIX, Store};

/// Let's Encrypt's production directory, the default.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// How sh0 talks to its certificate authority.
#[derive(Debug, Clone)]
pub struct AcmeSettings {
    pub directory: String,
    /// The account's contact address (expiry notices from the CA).
    pub email: Option<String>,
    /// An extra trusted root for the directory's HTTPS (a private or test CA).
    pub ca_root: Option<PathBuf>,
    /// Renew when less than this is left of a certificate's validity.
    pub renew_before: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The CA refused or failed the order; the message is the CA's (safe to show).
    #[error("{0}")]
    Ca(String),
    /// The CA asked us to slow down.
    #[error("rate limited by the certificate authority: {0}")]
    RateLimited(String),
    #[error("the certificate authority could not be reached: {0}")]
    Unreachable(String),
    #[error("{0}")]
    Store(String),
}

impl AcmeError {
    fn from_acme(e: instant_acme::Error) -> Self {
        match e {
            instant_acme::Error::Api(p) if p.r#type.as_deref().is_some_and(|t| t.ends_with(":rateLimited")) => {
                Self::RateLimited(p.to_string())
            }
            instant_acme::Error::Api(p) => Self::Ca(p.to_string()),
            instant_acme::Error::Hyper(e) => Self::Unreachable(e.to_string()),
            instant_acme::Error::Other(e) => Self::Unreachable(e.to_string()),
            instant_acme::Error::Timeout(_) => Self::Ca("the order did not complete in time".into()),
            other => Self::Ca(other.to_string()),
        }
    }
}

/// A certificate fresh from the CA.
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

/// An ACME account, ready to place orders.
pub struct AcmeClient {
    account: Account,
}

/// The sealed setting holding the account of `directory` (re-sealed by key rotation).
fn credentials_setting(directory: &str) -> String {
    format!("{SEALED_SETTING_PREFIX}{directory}")
}

impl AcmeClient {
    /// Restores the account for `settings.directory` from the store, or registers one.
    pub async fn connect(settings: &AcmeSettings, store: &Store, key: &MasterKey) -> Result<Self, AcmeError> {
        let builder = match &settings.ca_root {
            Some(root) => Account::builder_with_root(root),
            None => Account::builder(),
        }
        .map_err(AcmeError::from_acme)?;
        let setting = credentials_setting(&settings.directory);
        let stored = store
            .setting_get(&setting)
            .map_err(|e| AcmeError::Store(e.to_string()))?;
        if let Some(sealed) = stored {
            let sealed = STANDARD.decode(sealed).map_err(|e| AcmeError::Store(e.to_string()))?;
            let json = key
                .open(&sealed, &setting)
                .map_err(|e| AcmeError::Store(e.to_string()))?;
            let credentials: AccountCredentials =
                serde_json::from_slice(&json).map_err(|e| AcmeError::Store(e.to_string()))?;
            let account = builder
                .from_credentials(credentials)
                .await
                .map_err(AcmeError::from_acme)?;
            return Ok(Self { account });
        }
        let contact = settings.email.as_ref().map(|e| format!("mailto:{e}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let (account, credentials) = builder
            .create(
                &NewAccount {
                    contact: &contacts,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                settings.directory.clone(),
                None,
            )
            .await
            .map_err(AcmeError::from_acme)?;
        let json = serde_json::to_vec(&credentials).map_err(|e| AcmeError::Store(e.to_string()))?;
        key.seal_into(&json, &setting, |sealed| {
            store.setting_put(&setting, &STANDARD.encode(sealed))
        })
        .map_err(|e| AcmeError::Store(e.to_string()))?;
        tracing::info!(directory = %settings.directory, "registered an ACME account");
        Ok(Self { account })
    }

    /// Orders a certificate for `host`, answering its HTTP-01 challenge through `challenges`.
    pub async fn order(&self, host: &str, challenges: &Challenges) -> Result<Issued, AcmeError> {
        let identifiers = [Identifier::Dns(host.to_owned())];
        let mut order = self
            .account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(AcmeError::from_acme)?;
        let mut tokens = Vec::new();
        let result = async {
            let mut authorizations = order.authorizations();
            while let Some(authz) = authorizations.next().await {
                let mut authz = authz.map_err(AcmeError::from_acme)?;
                match authz.status {
                    AuthorizationStatus::Pending => {}
                    AuthorizationStatus::Valid => continue,
                    other => return Err(AcmeError::Ca(format!("authorization for {host} is {other:?}"))),
                }
                let mut challenge = authz
                    .challenge(ChallengeType::Http01)
                    .ok_or_else(|| AcmeError::Ca(format!("the CA offers no HTTP-01 challenge for {host}")))?;
                challenges.insert(&challenge.token, challenge.key_authorization().as_str());
                tokens.push(challenge.token.clone());
                challenge.set_ready().await.map_err(AcmeError::from_acme)?;
            }
            let retry = RetryPolicy::new().timeout(Duration::from_secs(90));
            match order.poll_ready(&retry).await.map_err(AcmeError::from_acme)? {
                OrderStatus::Ready => {}
                OrderStatus::Invalid => return Err(AcmeError::Ca(challenge_error(&mut order, host).await)),
                other => return Err(AcmeError::Ca(format!("the order for {host} ended {other:?}"))),
            }
            let key_pem = order.finalize().await.map_err(AcmeError::from_acme)?;
            let chain_pem = order.poll_certificate(&retry).await.map_err(AcmeError::from_acme)?;
            Ok(Issued { chain_pem, key_pem })
        }
        .await;
        for token in tokens {
            challenges.remove(&token);
        }
        result
    }
}

/// Why the CA refused the domain: the failed challenge's problem, which names the cause
/// (DNS, connection refused, wrong answer).
async fn challenge_error(order: &mut instant_acme::Order, host: &str) -> String {
    let mut authorizations = order.authorizations();
    while let Some(Ok(authz)) = authorizations.next().await {
        for challenge in &authz.challenges {
            if let Some(problem) = &challenge.error {
                return format!("validation of {host} failed: {problem}");
            }
        }
    }
    format!("validation of {host} failed")
}
