//! How long to wait before trying the outside world again.

use rand::Rng;

/// Waits grow to at most this.
pub const CAP_MS: i64 = 60_000;

/// Capped exponential backoff with jitter: attempt 1 waits 1–2 s, then up to 4, 8 … 60 s.
pub fn backoff_ms(attempts: i64) -> i64 {
    let ceiling = (1_000_i64 << attempts.clamp(1, 16)).min(CAP_MS);
    rand::thread_rng().gen_range(ceiling / 2..=ceiling)
}
