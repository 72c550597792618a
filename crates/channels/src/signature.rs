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
    // Checked: a signed but absurd time (i64::MIN) is stale, not an overflow.
    let in_window = now_s.checked_sub(timestamp).is_some_and(|d| d.unsigned_abs() <= WINDOW_S.unsigned_abs());
    if !in_window {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever headers and body arrive, the check answers without panicking, and it
        /// accepts exactly a body signed with the secret for a time inside the window.
        #[test]
        fn accepts_exactly_what_was_signed_in_time(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            sent_at in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), -4_000_000_000i64..4_000_000_000],
            now in -4_000_000_000i64..4_000_000_000,
            forged_sig in proptest::option::of("\\PC{0,80}"),
            forged_ts in proptest::option::of("\\PC{0,24}"),
        ) {
            // Forged headers are refused (or, by a miracle, equal to the real ones).
            let real_sig = sign(SECRET, sent_at, &body);
            let ts = sent_at.to_string();
            let verdict = verify(SECRET, forged_ts.as_deref(), forged_sig.as_deref(), &body, now);
            if forged_sig.as_deref() != Some(real_sig.as_str()) || forged_ts.as_deref().map(str::trim) != Some(ts.as_str()) {
                prop_assert!(verdict.is_err());
            }
            // The real signature passes exactly inside the window.
            let in_window = now.checked_sub(sent_at).is_some_and(|d| d.unsigned_abs() <= WINDOW_S.unsigned_abs());
            let real = verify(SECRET, Some(&ts), Some(&real_sig), &body, now);
            prop_assert_eq!(real.is_ok(), in_window, "{:?}", real);
        }
    }

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
