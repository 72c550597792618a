//! Payout channels: paying refunds to merchants and collecting what they owe, through a bank
//! gateway. [`PayoutChannel`] is what the use cases see; [`HttpChannel`] speaks Yajin's wire
//! protocol (`docs/payout-channel.md`), which the sandbox bank answers and a real bank's adapter
//! implements.
//!
//! The rules a channel keeps (design notes, "exactly-once payouts"):
//! - our payout (collection) id is the bank's idempotency key: sending it again is harmless;
//! - an answer that never came is [`ChannelError::Unknown`], never a failure: ask again
//!   ([`PayoutChannel::payout_status`]) before anything else;
//! - [`ChannelError::NotDone`] means the bank did nothing (it said so: 5xx, or the connection
//!   was refused before the request left): sending again later is safe.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::gateway::{self, PlainHttp};
use crate::signature;

/// A payout as the bank is asked to make it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutOrder {
    /// Our payout id: the bank's idempotency key.
    pub payout_id: String,
    /// The refund application it pays.
    pub reference: String,
    pub amount_fen: i64,
    /// The full card number: it leaves the server only here.
    pub card_no: String,
    /// The card holder's name (the merchant's registered name).
    pub account_name: String,
}

/// A collection of what a merchant owes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionOrder {
    pub collection_id: String,
    /// The outstanding item it settles.
    pub reference: String,
    pub amount_fen: i64,
    /// The merchant's settlement account is debited (the card on file).
    pub card_no: String,
    pub account_name: String,
}

/// Where a payout or collection stands at the bank.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum BankStatus {
    /// Accepted; the outcome follows (callback or status query).
    Processing,
    /// The money moved.
    Succeeded { bank_reference: String, paid_at_ms: i64 },
    /// Definitely not paid, and never will be under this id.
    Failed { failure_code: String, failure_message: String },
    /// The bank has never seen this id.
    NotFound,
}

impl BankStatus {
    pub fn is_final(&self) -> bool {
        matches!(self, BankStatus::Succeeded { .. } | BankStatus::Failed { .. })
    }

    /// A bank's answer, read and checked: JSON of this shape whose references fit what we
    /// store (a bank reference and failure code of 1–64 visible ASCII characters, a message of
    /// at most 500 characters without control characters, a payment time between 2000 and
    /// 2200). Anything else is refused whole, never stored in part.
    pub fn parse(bytes: &[u8]) -> Result<BankStatus, String> {
        let status: BankStatus = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        status.check()?;
        Ok(status)
    }

    fn check(&self) -> Result<(), String> {
        /// 2000-01-01 and 2200-01-01, in ms.
        const PAID_AT_MS: std::ops::Range<i64> = 946_684_800_000..7_258_118_400_000;
        let reference = |field: &str, value: &str| {
            if (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic()) {
                Ok(())
            } else {
                Err(format!("{field}: 1–64 visible ASCII characters"))
            }
        };
        match self {
            BankStatus::Succeeded { bank_reference, paid_at_ms } => {
                reference("bank_reference", bank_reference)?;
                if !PAID_AT_MS.contains(paid_at_ms) {
                    return Err("paid_at_ms: a time between 2000 and 2200".into());
                }
            }
            BankStatus::Failed { failure_code, failure_message } => {
                reference("failure_code", failure_code)?;
                if failure_message.chars().count() > 500 || failure_message.chars().any(char::is_control) {
                    return Err("failure_message: at most 500 characters, no control characters".into());
                }
            }
            BankStatus::Processing | BankStatus::NotFound => {}
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChannelError {
    /// The request may have reached the bank, and no answer came (a timeout, a cut
    /// connection): the outcome is unknown until the bank is asked.
    #[error("no answer from the bank: {0}")]
    Unknown(String),
    /// The bank did nothing: safe to send again later.
    #[error("the bank did not take the request: {0}")]
    NotDone(String),
}

pub type ChannelFuture<'a> = Pin<Box<dyn Future<Output = Result<BankStatus, ChannelError>> + Send + 'a>>;

pub trait PayoutChannel: Send + Sync {
    /// The channel's name in URLs and records (`sandbox`).
    fn name(&self) -> &str;
    fn pay<'a>(&'a self, order: &'a PayoutOrder) -> ChannelFuture<'a>;
    fn payout_status<'a>(&'a self, payout_id: &'a str) -> ChannelFuture<'a>;
    fn collect<'a>(&'a self, order: &'a CollectionOrder) -> ChannelFuture<'a>;
    fn collection_status<'a>(&'a self, collection_id: &'a str) -> ChannelFuture<'a>;
}

/// A bank's signed notice that a payout or collection reached a final (or new) status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    /// `payout` or `collection`.
    pub kind: String,
    /// Our payout or collection id.
    pub id: String,
    #[serde(flatten)]
    pub status: BankStatus,
}

impl Callback {
    /// A callback's body, read and checked: `kind` is `payout` or `collection`, `id` 1–64
    /// visible ASCII characters, and the status as [`BankStatus::parse`] checks it.
    pub fn parse(bytes: &[u8]) -> Result<Callback, String> {
        let callback: Callback = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if !matches!(callback.kind.as_str(), "payout" | "collection") {
            return Err("kind: payout or collection".into());
        }
        if !(1..=64).contains(&callback.id.len()) || !callback.id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("id: 1–64 visible ASCII characters".into());
        }
        callback.status.check()?;
        Ok(callback)
    }
}

/// Yajin's wire protocol over HTTP(S): JSON bodies, each request and callback signed with
/// HMAC-SHA256 over `timestamp.body` (see [`signature`]).
pub struct HttpChannel {
    name: String,
    base: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelSetupError {
    #[error(transparent)]
    Url(#[from] crate::gateway::GatewayUrlError),
    #[error("the payout channel secret must be at least 32 bytes")]
    WeakSecret,
    #[error("{0}")]
    Client(String),
}

impl HttpChannel {
    /// `base` is the gateway's root (`https://bank.example/yajin`); requests time out after
    /// `timeout`, and a timeout is an unknown outcome.
    pub fn new(
        name: &str,
        base: &str,
        secret: &[u8],
        timeout: Duration,
        plain_http: PlainHttp,
    ) -> Result<HttpChannel, ChannelSetupError> {
        gateway::check("the payout channel", base, plain_http)?;
        if secret.len() < 32 {
            return Err(ChannelSetupError::WeakSecret);
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| ChannelSetupError::Client(e.to_string()))?;
        Ok(HttpChannel {
            name: name.to_owned(),
            base: base.trim_end_matches('/').to_owned(),
            secret: secret.to_vec(),
            client,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<BankStatus, ChannelError> {
        let body = body.unwrap_or_default();
        let timestamp = signature::now_s();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header(signature::TIMESTAMP_HEADER, timestamp.to_string())
            .header(signature::SIGNATURE_HEADER, signature::sign(&self.secret, timestamp, &body));
        if !body.is_empty() {
            request = request.header("content-type", "application/json").body(body);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_connect() {
                // Nothing left this host: the bank did nothing.
                ChannelError::NotDone(e.to_string())
            } else {
                ChannelError::Unknown(e.to_string())
            }
        })?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(BankStatus::NotFound);
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ChannelError::NotDone(format!("HTTP {status}")));
        }
        let bytes = response.bytes().await.map_err(|e| ChannelError::Unknown(e.to_string()))?;
        if !status.is_success() {
            // A refusal of the request itself (a bad signature, a malformed order) is a bug on
            // one side or the other; the outcome is not known to be a payment failure.
            return Err(ChannelError::Unknown(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes))));
        }
        BankStatus::parse(&bytes).map_err(|e| ChannelError::Unknown(format!("unreadable answer: {e}")))
    }
}

impl PayoutChannel for HttpChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn pay<'a>(&'a self, order: &'a PayoutOrder) -> ChannelFuture<'a> {
        Box::pin(async move {
            let body = serde_json::to_vec(order).map_err(|e| ChannelError::NotDone(e.to_string()))?;
            self.call(reqwest::Method::POST, "/payouts", Some(body)).await
        })
    }

    fn payout_status<'a>(&'a self, payout_id: &'a str) -> ChannelFuture<'a> {
        Box::pin(async move { self.call(reqwest::Method::GET, &format!("/payouts/{payout_id}"), None).await })
    }

    fn collect<'a>(&'a self, order: &'a CollectionOrder) -> ChannelFuture<'a> {
        Box::pin(async move {
            let body = serde_json::to_vec(order).map_err(|e| ChannelError::NotDone(e.to_string()))?;
            self.call(reqwest::Method::POST, "/collections", Some(body)).await
        })
    }

    fn collection_status<'a>(&'a self, collection_id: &'a str) -> ChannelFuture<'a> {
        Box::pin(async move { self.call(reqwest::Method::GET, &format!("/collections/{collection_id}"), None).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn only_tls_leaves_this_host() {
        let open = |url: &str, secret: &[u8]| {
            HttpChannel::new("bank", url, secret, Duration::from_secs(1), PlainHttp::LoopbackOnly).map(|_| ())
        };
        assert!(open("https://bank.example/yajin", SECRET).is_ok());
        assert!(open("http://127.0.0.1:8090", SECRET).is_ok());
        assert!(open("http://localhost:8090", SECRET).is_ok());
        let insecure = |r| matches!(r, Err(ChannelSetupError::Url(crate::gateway::GatewayUrlError::Insecure { .. })));
        assert!(insecure(open("http://bank.example", SECRET)));
        assert!(insecure(open("ftp://127.0.0.1", SECRET)));
        assert!(matches!(
            open("not a url", SECRET),
            Err(ChannelSetupError::Url(crate::gateway::GatewayUrlError::NotUrl { .. }))
        ));
        assert!(matches!(open("https://bank.example", b"short"), Err(ChannelSetupError::WeakSecret)));
    }
}

#[cfg(test)]
mod parsing {
    use super::*;
    use proptest::prelude::*;

    fn reference() -> impl Strategy<Value = String> {
        "[!-~]{1,64}"
    }

    fn valid_status() -> impl Strategy<Value = BankStatus> {
        prop_oneof![
            Just(BankStatus::Processing),
            Just(BankStatus::NotFound),
            (reference(), 946_684_800_000i64..7_258_118_400_000)
                .prop_map(|(bank_reference, paid_at_ms)| BankStatus::Succeeded { bank_reference, paid_at_ms }),
            (reference(), "[^\\p{Cc}]{0,500}")
                .prop_map(|(failure_code, failure_message)| BankStatus::Failed { failure_code, failure_message }),
        ]
    }

    fn valid_callback() -> impl Strategy<Value = Callback> {
        (prop_oneof![Just("payout".to_owned()), Just("collection".to_owned())], reference(), valid_status())
            .prop_map(|(kind, id, status)| Callback { kind, id, status })
    }

    proptest! {
        #[test]
        fn any_bytes_are_read_or_refused_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Callback::parse(&bytes);
            let _ = BankStatus::parse(&bytes);
        }

        #[test]
        fn every_valid_callback_is_read_back_as_sent(callback in valid_callback()) {
            let bytes = serde_json::to_vec(&callback).unwrap();
            prop_assert_eq!(Callback::parse(&bytes), Ok(callback.clone()));
            prop_assert_eq!(BankStatus::parse(&serde_json::to_vec(&callback.status).unwrap()), Ok(callback.status));
        }

        #[test]
        fn one_bad_field_refuses_the_whole_callback(callback in valid_callback(), which in 0usize..6, junk in "\\PC{0,3}") {
            let mut value = serde_json::to_value(&callback).unwrap();
            let object = value.as_object_mut().unwrap();
            match which {
                0 => { object.insert("kind".into(), serde_json::json!(format!("refund{junk}"))); }
                1 => { object.insert("id".into(), serde_json::json!("")); }
                2 => { object.insert("id".into(), serde_json::json!(format!("a b{junk}"))); }
                3 => { object.insert("status".into(), serde_json::json!("paid")); }
                4 => {
                    object.insert("status".into(), serde_json::json!("succeeded"));
                    object.insert("bank_reference".into(), serde_json::json!("x".repeat(65)));
                    object.insert("paid_at_ms".into(), serde_json::json!(1_800_000_000_000i64));
                }
                _ => { object.remove("kind"); }
            }
            prop_assert!(Callback::parse(&serde_json::to_vec(&value).unwrap()).is_err(), "{}", value);
        }
    }

    #[test]
    fn references_that_do_not_fit_are_refused() {
        let paid = |r: &str, at: i64| {
            serde_json::to_vec(&BankStatus::Succeeded { bank_reference: r.into(), paid_at_ms: at }).unwrap()
        };
        assert!(BankStatus::parse(&paid("BANK-1", 1_800_000_000_000)).is_ok());
        assert!(BankStatus::parse(&paid("BANK\u{0}1", 1_800_000_000_000)).is_err());
        assert!(BankStatus::parse(&paid("", 1_800_000_000_000)).is_err());
        assert!(BankStatus::parse(&paid("BANK-1", -1)).is_err());
        assert!(BankStatus::parse(&paid("BANK-1", i64::MAX)).is_err());
        let failed =
            serde_json::to_vec(&BankStatus::Failed { failure_code: "E1".into(), failure_message: "卡\n号".into() })
                .unwrap();
        assert!(BankStatus::parse(&failed).is_err());
    }
}
