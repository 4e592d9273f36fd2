//! Certificates as the edge uses them: a PEM chain and key parsed into what rustls serves,
//! plus the facts sh0 shows and checks (names, issuer, validity). Uploaded certificates are
//! refused here when the key does not match, when they are expired or not yet valid, or when
//! they do not cover the name they are uploaded for.

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("the certificate chain holds no PEM `CERTIFICATE` block")]
    NoCertificate,
    #[error("the certificate chain is not valid PEM: {0}")]
    BadChain(String),
    #[error("the private key is not a PEM private key (PKCS#8, PKCS#1 or SEC1): {0}")]
    BadKey(String),
    #[error("the private key is of a type sh0 cannot serve: {0}")]
    UnsupportedKey(String),
    #[error("the private key does not match the certificate (its public key differs)")]
    KeyMismatch,
    #[error("the certificate cannot be parsed: {0}")]
    BadCertificate(String),
    #[error("the certificate expired on {0}")]
    Expired(String),
    #[error("the certificate is not valid before {0}")]
    NotYetValid(String),
    #[error("the certificate does not cover {name}: it is for {covered}")]
    WrongName { name: String, covered: String },
}

/// A parsed certificate, ready to serve.
#[derive(Clone)]
pub struct ParsedCert {
    pub key: Arc<CertifiedKey>,
    /// DNS names from the subject alternative names (the common name when there are none).
    pub names: Vec<String>,
    pub issuer: String,
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl std::fmt::Debug for ParsedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedCert")
            .field("names", &self.names)
            .field("issuer", &self.issuer)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl ParsedCert {
    /// Parses a chain (leaf first) and its private key, checking that the two belong together.
    pub fn parse(chain_pem: &str, key_pem: &str) -> Result<Self, CertError> {
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CertError::BadChain(e.to_string()))?;
        let leaf = chain.first().ok_or(CertError::NoCertificate)?.clone();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| CertError::BadKey(e.to_string()))?;
        let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
            .map_err(|e| CertError::UnsupportedKey(e.to_string()))?;
        let certified = CertifiedKey::new(chain, signing);
        certified.keys_match().map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => CertError::KeyMismatch,
            other => CertError::BadCertificate(other.to_string()),
        })?;

        let (_, x509) =
            X509Certificate::from_der(leaf.as_ref()).map_err(|e| CertError::BadCertificate(e.to_string()))?;
        let mut names: Vec<String> = match x509.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(n) => Some(n.to_ascii_lowercase()),
                    _ => None,
                })
                .collect(),
            Ok(None) => Vec::new(),
            Err(e) => return Err(CertError::BadCertificate(e.to_string())),
        };
        if names.is_empty() {
            names = x509
                .subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok().map(str::to_ascii_lowercase))
                .collect();
        }
        let time =
            |t: i64| OffsetDateTime::from_unix_timestamp(t).map_err(|e| CertError::BadCertificate(e.to_string()));
        Ok(Self {
            key: Arc::new(certified),
            names,
            issuer: x509.issuer().to_string(),
            serial: x509.raw_serial_as_string(),
            not_before: time(x509.validity().not_before.timestamp())?,
            not_after: time(x509.validity().not_after.timestamp())?,
        })
    }

    /// Whether the certificate covers `host` (exactly, or through a one-label wildcard).
    pub fn covers(&self, host: &str) -> bool {
        self.names.iter().any(|n| name_matches(n, host))
    }

    /// Checks that the certificate can serve `host` at `now`.
    pub fn check_usable_for(&self, host: &str, now: OffsetDateTime) -> Result<(), CertError> {
        if self.not_after <= now {
            return Err(CertError::Expired(crate::domain::rfc3339(self.not_after)));
        }
        if self.not_before > now {
            return Err(CertError::NotYetValid(crate::domain::rfc3339(self.not_before)));
        }
        if !self.covers(host) {
            return Err(CertError::WrongName {
                name: host.to_owned(),
                covered: if self.names.is_empty() {
                    "no DNS name".into()
                } else {
                    self.names.join(", ")
                },
            });
        }
        Ok(())
    }
}

/// `pattern` is a certificate name: `example.com` or `*.example.com` (one label only).
pub fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(suffix)),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_matches("example.com", "EXAMPLE.com"));
        assert!(name_matches("*.example.com", "www.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("example.com", "www.example.com"));
    }
}
