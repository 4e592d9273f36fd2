//! The checks of OAuth 2.1 that need no storage: PKCE (S256 only), redirect URIs, the
//! shape of tokens. Pure functions, tested here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::random_token;

/// Access tokens start with this, so a token is recognised (and never tried as a key).
pub const ACCESS_PREFIX: &str = "sh0at_";
pub const REFRESH_PREFIX: &str = "sh0rt_";
pub const CODE_PREFIX: &str = "sh0ac_";

pub fn new_access_token() -> String {
    format!("{ACCESS_PREFIX}{}", random_token())
}

pub fn new_refresh_token() -> String {
    format!("{REFRESH_PREFIX}{}", random_token())
}

pub fn new_code() -> String {
    format!("{CODE_PREFIX}{}", random_token())
}

/// RFC 7636: a verifier is 43 to 128 characters of `[A-Za-z0-9-._~]`.
pub fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A challenge is the unpadded base64url of a SHA-256: 43 characters.
pub fn valid_challenge(c: &str) -> bool {
    c.len() == 43 && c.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Whether `verifier` is the one whose S256 challenge is `challenge` (constant time).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    if !valid_verifier(verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// A redirect URI a client may register: absolute, no fragment, no user info; `https`, or
/// `http` only to the client's own machine (native apps, RFC 8252); or a private-use
/// scheme of a native app (`com.example.app:/callback`).
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let parsed = url::Url::parse(uri).map_err(|e| format!("`{uri}` is not an absolute URI ({e})"))?;
    if parsed.fragment().is_some() {
        return Err(format!("`{uri}` has a fragment, which redirect URIs may not have"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("`{uri}` carries user info"));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => match parsed.host_str() {
            Some("127.0.0.1" | "localhost" | "[::1]") => Ok(()),
            _ => Err(format!(
                "`{uri}`: plain http is allowed only to 127.0.0.1, [::1] or localhost"
            )),
        },
        "javascript" | "data" | "file" | "vbscript" => Err(format!("`{uri}`: scheme not allowed")),
        s if s.contains('.') => Ok(()),
        _ => Err(format!(
            "`{uri}`: use https, http to the loopback address, or a reverse-domain scheme"
        )),
    }
}

/// A client id that is the URL of a Client ID Metadata Document: `https`, with a path,
/// no fragment, no user info, no dot segments.
pub fn is_metadata_document_url(client_id: &str) -> bool {
    let Ok(u) = url::Url::parse(client_id) else {
        return false;
    };
    u.scheme() == "https"
        && u.host_str().is_some()
        && u.path() != "/"
        && u.fragment().is_none()
        && u.username().is_empty()
        && u.password().is_none()
        && !client_id.contains("/./")
        && !client_id.contains("/../")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_of_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj", challenge));
        assert!(!pkce_matches("short", challenge));
        assert!(valid_challenge(challenge));
        assert!(!valid_challenge("plain-verifier-as-challenge"));
    }

    #[test]
    fn redirect_uris() {
        for ok in [
            "https://client.example/cb",
            "http://127.0.0.1:33418/callback",
            "http://localhost/cb",
            "com.example.app:/oauth",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://client.example/cb",
            "https://client.example/cb#x",
            "https://user:pw@client.example/cb",
            "javascript:alert(1)",
            "/relative",
            "custom:/x",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metadata_document_urls() {
        assert!(is_metadata_document_url("https://client.example/oauth/client.json"));
        for bad in [
            "http://client.example/c.json",
            "https://client.example/",
            "oac_0123",
            "https://client.example/a/../c.json",
        ] {
            assert!(!is_metadata_document_url(bad), "{bad}");
        }
    }
}
