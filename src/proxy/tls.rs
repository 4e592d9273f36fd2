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
}

impl CertResolver {
    /// Replaces the whole set (name -> key; names may be wildcards like `*.example.com`).
    pub fn replace(&self, certs: HashMap<String, Arc<CertifiedKey>>) {
        *self.certs.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(certs);
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

    /// Whether `host` can be served over HTTPS (then plain HTTP redirects to it).
    pub fn covers(&self, host: &str) -> bool {
        self.find(host).is_some()
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // No SNI (an IP address, an old client): no certificate, the handshake fails.
        self.find(hello.server_name()?)
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
