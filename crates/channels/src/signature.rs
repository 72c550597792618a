//! Signing the channel's messages, both ways: HMAC-SHA256 over `timestamp.body` with the shared
//! secret, hex in `X-Yajin-Signature`, the Unix time in seconds in `X-Yajin-Timestamp`. A
//! message is accepted only if the signature matches (compared in constant time) and the
//! timestamp is within [`WINDOW_S`] of now, so a captured callback cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const TIMESTAMP_HEADER: &str = "x-yajin-timestamp";
pub const SIGNATURE_HEADER: &str = "x-yajin-signature";
/// How far a message's timestamp may be from our clock, either way.
pub const WINDOW_S: i64 = 300;

pub fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no signature or timestamp")]
    Missing,
    #[error("the signature does not match")]
    Forged,
    #[error("the timestamp is outside the accepted window")]
    Stale,
}

/// Checks a message's headers against its body, before the body is parsed.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_s: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else { return Err(SignatureError::Missing) };
    let timestamp: i64 = timestamp.trim().parse().map_err(|_| SignatureError::Missing)?;
    let sent = hex::decode(signature.trim()).map_err(|_| SignatureError::Forged)?;
    mac(secret, timestamp, body).verify_slice(&sent).map_err(|_| SignatureError::Forged)?;
    if (now_s - timestamp).abs() > WINDOW_S {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn only_the_signed_body_within_the_window_passes() {
        let body = br#"{"kind":"payout","id":"po_1","status":"processing"}"#;
        let sig = sign(SECRET, 1_000, body);
        assert_eq!(verify(SECRET, Some("1000"), Some(&sig), body, 1_100), Ok(()));
        assert_eq!(verify(SECRET, Some("1000"), Some(&sig), b"{}", 1_100), Err(SignatureError::Forged));
        assert_eq!(
            verify(b"another secret, just as long....", Some("1000"), Some(&sig), body, 1_100),
            Err(SignatureError::Forged)
        );
        assert_eq!(
            verify(SECRET, Some("1001"), Some(&sig), body, 1_100),
            Err(SignatureError::Forged),
            "the time is signed"
        );
        assert_eq!(verify(SECRET, Some("1000"), Some(&sig), body, 1_000 + WINDOW_S + 1), Err(SignatureError::Stale));
        assert_eq!(verify(SECRET, Some("1000"), Some(&sig), body, 1_000 - WINDOW_S - 1), Err(SignatureError::Stale));
        assert_eq!(verify(SECRET, None, Some(&sig), body, 1_000), Err(SignatureError::Missing));
        assert_eq!(verify(SECRET, Some("1000"), Some("zz"), body, 1_000), Err(SignatureError::Forged));
    }
}
