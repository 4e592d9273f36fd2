//! Test certificates made with rcgen: a CA and leaves it signs, with chosen names and validity.

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair};
use time::{Duration, OffsetDateTime};

pub struct TestCa {
    /// The CA certificate in PEM (the root to trust).
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf certificate and its private key, in PEM.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names` (DNS names or IP addresses) valid from `from` to `until`.
    pub fn leaf_between(&self, names: &[&str], from: OffsetDateTime, until: OffsetDateTime) -> Leaf {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.not_before = from;
        params.not_after = until;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A leaf for `names` valid from yesterday for 90 days.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let now = OffsetDateTime::now_utc();
        self.leaf_between(names, now - Duration::days(1), now + Duration::days(90))
    }
}
