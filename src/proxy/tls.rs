//! TLS termination: a certificate per SNI name (exact, then a one-label wildcard), ALPN
//! `h2` and `http/1.1`, and the HTTPS listener. Certificates are swapped in atomically
//! when one is issued, renewed, uploaded or deleted; handshakes never wait for that.

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The certificates the HTTPS listener serves, by DNS name.
#[derive(Debug, Default)]
pub struct CertResolver {
    certs: RwLock<Arc<HashMap<String, Arc<CertifiedKey>>>>,
    /// The name whose certificate clients that send no server name get (they connect by IP
    /// address): the panel's domain, when it has one.
    default_name: RwLock<Option<String>>,
}

impl CertResolver {
    /// Replaces the whole set (name -> key; names may be wildcards like `*.example.com`).
    pub fn replace(&self, certs: HashMap<String, Arc<CertifiedKey>>) {
        *self.certs.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(certs);
    }

    /// Serves `name`'s certificate to clients that send no server name.
    pub fn set_default(&self, name: &str) {
        *self.default_name.write().unwrap_or_else(|p| p.into_inner()) = Some(name.to_ascii_lowercase());
    }

    fn snapshot(&self) -> Arc<HashMap<String, Arc<CertifiedKey>>> {
        self.certs.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The certificate for `host`, if one covers it.
    pub fn find(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let certs = self.snapshot();
        let host = host.to_ascii_lowercase();
        certs.get(&host).cloned().or_else(|| {
            let (_, parent) = host.split_once('.')?;
            certs.get(&format!("*.{parent}")).cloned()
        })
    }

    pub fn is_empty(&self) -> bool {
        self.snapshot().is_empty()
    }

    /// Whether `host` can be served over HTTPS (then plain HTTP redirects to it).
    pub fn covers(&self, host: &str) -> bool {
        self.find(host).is_some()
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match hello.server_name() {
            Some(name) => self.find(name),
            // No SNI (a connection by IP address): the default certificate, if there is one;
            // otherwise the handshake fails.
            None => {
                let default = self.default_name.read().unwrap_or_else(|p| p.into_inner()).clone()?;
                self.find(&default)
            }
        }
    }
}

/// The rustls configuration of the HTTPS listener.
pub fn server_config(resolver: Arc<CertResolver>) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports the default protocol versions")
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}
