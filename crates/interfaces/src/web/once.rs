//! A form is carried out once: each rendered form holds a fresh key (`_key`), used as the
//! request's idempotency key, so a double click, a reload of the result or a form sent again
//! from the browser's history does its work once and leads where the first one led.

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use yajin_app::idempotency::{Key, Outcome, Replay};

use crate::http::idempotency::Caller;

/// A new key for a form about to be rendered.
pub fn new_key() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

type Location<T> = std::sync::Arc<dyn Fn(&T) -> Vec<u8> + Send + Sync>;

/// Where a form's success leads, and the key that makes it happen once.
pub struct Once<T> {
    key: Option<Key>,
    location: Location<T>,
}

impl<T> Once<T> {
    /// `target` names the form (`POST /apply/…`); `fields` are what it carried.
    pub fn new(
        caller: &impl Caller,
        target: &str,
        key: &str,
        fields: &impl Serialize,
        to: impl Fn(&T) -> String + Send + Sync + 'static,
    ) -> Once<T> {
        let valid = (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
        let key = valid.then(|| {
            let mut digest = Sha256::new();
            digest.update(format!("page {target}\n").as_bytes());
            digest.update(serde_json::to_vec(fields).unwrap_or_default());
            Key { principal: caller.principal(), key: key.to_owned(), request_hash: hex::encode(digest.finalize()) }
        });
        Once { key, location: std::sync::Arc::new(move |value: &T| to(value).into_bytes()) }
    }

    pub fn replay(&self) -> Replay<'static, T> {
        Replay::maybe(self.key.clone(), 303, self.location.clone())
    }

    /// Where to send the browser: the result's page, or where the first sending led.
    pub fn location(&self, outcome: Outcome<T>) -> String {
        match outcome {
            Outcome::Done(value) => String::from_utf8((self.location)(&value)).unwrap_or_else(|_| "/".to_owned()),
            Outcome::Replayed { body, .. } => String::from_utf8(body).unwrap_or_else(|_| "/".to_owned()),
        }
    }
}
