//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of clock skew either side), the
//! parameters every authenticator app understands. The secret is 20 random bytes (160
//! bits, RFC 4226's recommendation). A code is accepted once: callers keep the last
//! accepted step and pass it in, and any step at or before it is refused.

use rand::RngCore;
use totp_rs::{Builder, Secret, Totp};

pub const ISSUER: &str = "sh0";

fn totp(secret: &[u8], account: &str) -> Result<Totp, String> {
    Builder::new()
        .with_secret(Secret::from(secret.to_vec()))
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| e.to_string())
}

pub fn generate_secret() -> Vec<u8> {
    let mut bytes = vec![0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// What an authenticator app needs: the `otpauth://` URI, the base32 secret for typing
/// in by hand, and the URI as an SVG QR code.
pub struct Enrolment {
    pub uri: String,
    pub secret_base32: String,
    pub qr_svg: String,
}

pub fn enrolment(secret: &[u8], account: &str) -> Result<Enrolment, String> {
    let t = totp(secret, account)?;
    let uri = t.to_url().map_err(|e| e.to_string())?;
    let qr = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| e.to_string())?;
    let qr_svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(Enrolment {
        secret_base32: Secret::from(secret.to_vec()).to_base32(),
        uri,
        qr_svg,
    })
}

/// The time step `code` matches at `unix_time`, if it matches and is newer than
/// `last_step` (so a code, once used, is refused even within its window).
pub fn accept(secret: &[u8], code: &str, unix_time: u64, last_step: Option<u64>) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = totp(secret, "x").ok()?.check(&code, unix_time)?;
    match last_step {
        Some(last) if step <= last => None,
        _ => Some(step),
    }
}

/// The code for `unix_time` (for tests and for sh0's own clients in tests).
pub fn code_at(secret: &[u8], unix_time: u64) -> Option<String> {
    Some(totp(secret, "x").ok()?.generate(unix_time).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_accepted_once_within_the_window() {
        let s = generate_secret();
        let now = 1_800_000_000;
        let code = code_at(&s, now).unwrap();
        let step = accept(&s, &code, now, None).unwrap();
        assert_eq!(step, now / 30);
        assert_eq!(accept(&s, &code, now + 5, Some(step)), None, "replay");
        assert!(accept(&s, &code, now + 30, None).is_some(), "one step of skew");
        assert_eq!(accept(&s, &code, now + 120, None), None, "too late");
        assert_eq!(accept(&s, "12345", now, None), None);
        let e = enrolment(&s, "ada@example.com").unwrap();
        assert!(e.uri.starts_with("otpauth://totp/sh0:ada%40example.com?"), "{}", e.uri);
        assert!(e.uri.contains(&format!("secret={}", e.secret_base32)));
        assert!(e.qr_svg.contains("<svg"));
    }
}
