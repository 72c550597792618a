//! The sandbox bank: it answers Yajin's payout-channel protocol (`docs/payout-channel.md`) as a
//! real bank's gateway would, keeps what it paid in its own SQLite file (so a test can count
//! real payments, and a restarted bank still knows them), sends signed callbacks, exports a
//! statement, and misbehaves on request: failures, timeouts after paying, 5xx before paying,
//! duplicate and reordered callbacks, latency.
//!
//! A payout id is paid at most once: it is the idempotency key, claimed with
//! `INSERT … ON CONFLICT DO NOTHING`. Two payments with one `reference` would be a double payout
//! by Yajin; `GET /sandbox/payments` lets tests look for them.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use yajin_channels::payout::{BankStatus, Callback, CollectionOrder, PayoutOrder};
use yajin_channels::signature;

/// How the bank behaves. Rates are probabilities in 0..=1, drawn per new order.
#[derive(Clone, Debug)]
pub struct Faults {
    /// A definite failure (`account_closed`): nothing paid.
    pub fail_rate: f64,
    /// The payment is made, and the answer never comes (the caller times out).
    pub timeout_rate: f64,
    /// 503 before anything is done.
    pub error_rate: f64,
    /// The callback is sent twice.
    pub duplicate_callback_rate: f64,
    /// Callbacks wait a random extra 0–1 s, so they arrive out of order.
    pub reorder_callbacks: bool,
    /// Every answer and callback waits this long first.
    pub latency_ms: u64,
    /// How long a "timeout" holds the answer back.
    pub hold_ms: u64,
    /// Payouts to a card ending in these digits fail (a closed account).
    pub failing_card_last4: Option<String>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            fail_rate: 0.0,
            timeout_rate: 0.0,
            error_rate: 0.0,
            duplicate_callback_rate: 0.0,
            reorder_callbacks: false,
            latency_ms: 0,
            hold_ms: 30_000,
            failing_card_last4: None,
        }
    }
}

pub struct Config {
    /// Where the bank keeps what it paid (`sandbox-bank.db` inside it).
    pub data_dir: std::path::PathBuf,
    /// Where callbacks go (Yajin's `/api/v1/channels/sandbox/callbacks`); none: no callbacks.
    pub callback_url: Option<String>,
    pub secret: Vec<u8>,
    pub seed: u64,
    pub faults: Faults,
}

#[derive(Clone)]
struct Bank {
    db: SqlitePool,
    secret: Arc<Vec<u8>>,
    callback_url: Option<Arc<String>>,
    faults: Arc<Faults>,
    rng: Arc<Mutex<StdRng>>,
    client: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum BankError {
    #[error("the sandbox bank's database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the sandbox bank's data directory: {0}")]
    Io(#[from] std::io::Error),
}

/// The bank's routes over its store, ready to serve.
pub async fn router(config: Config) -> Result<Router, BankError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let path = config.data_dir.join("sandbox-bank.db");
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10));
    // One connection: orders are decided one at a time, so an id is claimed once.
    let db = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS orders (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, reference TEXT NOT NULL, amount_fen INTEGER NOT NULL,
            card_last4 TEXT NOT NULL, status TEXT NOT NULL, bank_reference TEXT, failure_code TEXT,
            failure_message TEXT, paid_at INTEGER, seq INTEGER NOT NULL)",
    )
    .execute(&db)
    .await?;
    let bank = Bank {
        db,
        secret: Arc::new(config.secret),
        callback_url: config.callback_url.map(Arc::new),
        faults: Arc::new(config.faults),
        rng: Arc::new(Mutex::new(StdRng::seed_from_u64(config.seed))),
        client: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default(),
    };
    Ok(Router::new()
        .route("/payouts", post(pay))
        .route("/payouts/{id}", get(payout_status))
        .route("/collections", post(collect))
        .route("/collections/{id}", get(collection_status))
        .route("/sandbox/payments", get(payments))
        .route("/sandbox/statement", get(statement))
        .with_state(bank))
}

/// Serves the bank on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, config: Config) -> Result<(), BankError> {
    let app = router(config).await?;
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, Json(serde_json::json!({"error": why}))).into_response()
}

impl Bank {
    /// The refusal to send, if the request is not signed by Yajin.
    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        signature::verify(
            &self.secret,
            get(signature::TIMESTAMP_HEADER),
            get(signature::SIGNATURE_HEADER),
            body,
            signature::now_s(),
        )
        .err()
        .map(|e| refuse(StatusCode::UNAUTHORIZED, &e.to_string()))
    }

    fn roll(&self, rate: f64) -> bool {
        rate > 0.0 && self.rng.lock().map(|mut r| r.gen_bool(rate.clamp(0.0, 1.0))).unwrap_or(false)
    }

    async fn status_of(&self, kind: &str, id: &str) -> Result<BankStatus, sqlx::Error> {
        let row = sqlx::query("SELECT status, bank_reference, failure_code, failure_message, paid_at FROM orders WHERE id = ? AND kind = ?")
            .bind(id)
            .bind(kind)
            .fetch_optional(&self.db)
            .await?;
        Ok(match row {
            None => BankStatus::NotFound,
            Some(r) if r.get::<String, _>("status") == "succeeded" => {
                BankStatus::Succeeded { bank_reference: r.get("bank_reference"), paid_at_ms: r.get("paid_at") }
            }
            Some(r) => {
                BankStatus::Failed { failure_code: r.get("failure_code"), failure_message: r.get("failure_message") }
            }
        })
    }

    /// Decides a new order once: pays it or fails it. A repeat of the id gets the first decision.
    async fn order(&self, kind: &str, id: &str, reference: &str, amount_fen: i64, card_no: &str) -> Response {
        if self.faults.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.faults.latency_ms)).await;
        }
        if amount_fen <= 0 || id.is_empty() || reference.is_empty() {
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, "an order needs an id, a reference and an amount");
        }
        match self.status_of(kind, id).await {
            Ok(BankStatus::NotFound) => {}
            Ok(known) => return Json(known).into_response(),
            Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        }
        if self.roll(self.faults.error_rate) {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "try again later");
        }
        let closed = self.faults.failing_card_last4.as_deref().is_some_and(|last4| card_no.ends_with(last4));
        let failed = closed || self.roll(self.faults.fail_rate);
        let hold = !failed && self.roll(self.faults.timeout_rate);
        let now = now_ms();
        let bank_reference =
            format!("SBX{now}{:06}", self.rng.lock().map(|mut r| r.gen_range(0..1_000_000)).unwrap_or(0));
        let last4: String = card_no.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        let (status, code, message, paid_at) = if failed {
            ("failed", Some("account_closed"), Some("收款账户已销户 / the account is closed"), None)
        } else {
            ("succeeded", None, None, Some(now))
        };
        let inserted = sqlx::query(
            "INSERT INTO orders (id, kind, reference, amount_fen, card_last4, status, bank_reference, failure_code, failure_message, paid_at, seq)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM orders)) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(kind)
        .bind(reference)
        .bind(amount_fen)
        .bind(&last4)
        .bind(status)
        .bind((!failed).then_some(&bank_reference))
        .bind(code)
        .bind(message)
        .bind(paid_at)
        .execute(&self.db)
        .await;
        match inserted {
            Ok(r) if r.rows_affected() == 1 => {}
            Ok(_) => {
                // A twin of this request decided first.
                return match self.status_of(kind, id).await {
                    Ok(known) => Json(known).into_response(),
                    Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
                };
            }
            Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        }
        let outcome = match (failed, paid_at) {
            (false, Some(paid_at_ms)) => BankStatus::Succeeded { bank_reference, paid_at_ms },
            _ => BankStatus::Failed {
                failure_code: code.unwrap_or_default().to_owned(),
                failure_message: message.unwrap_or_default().to_owned(),
            },
        };
        self.notify(Callback { kind: kind.to_owned(), id: id.to_owned(), status: outcome.clone() });
        if hold {
            tokio::time::sleep(Duration::from_millis(self.faults.hold_ms)).await;
        }
        if failed {
            Json(outcome).into_response()
        } else {
            Json(BankStatus::Processing).into_response()
        }
    }

    /// Sends the callback in the background, retrying while Yajin does not take it.
    fn notify(&self, callback: Callback) {
        let Some(url) = self.callback_url.clone() else { return };
        let copies = if self.roll(self.faults.duplicate_callback_rate) { 2 } else { 1 };
        for _ in 0..copies {
            let extra = if self.faults.reorder_callbacks {
                self.rng.lock().map(|mut r| r.gen_range(0..1_000)).unwrap_or(0)
            } else {
                0
            };
            let (bank, url, callback) = (self.clone(), url.clone(), callback.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(bank.faults.latency_ms + extra + 50)).await;
                let body = serde_json::to_vec(&callback).unwrap_or_default();
                for attempt in 0..5u32 {
                    let timestamp = signature::now_s();
                    let sent = bank
                        .client
                        .post(url.as_str())
                        .header("content-type", "application/json")
                        .header(signature::TIMESTAMP_HEADER, timestamp.to_string())
                        .header(signature::SIGNATURE_HEADER, signature::sign(&bank.secret, timestamp, &body))
                        .body(body.clone())
                        .send()
                        .await;
                    if sent.is_ok_and(|r| r.status().is_success()) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            });
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

async fn pay(State(bank): State<Bank>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = bank.verify(&headers, &body) {
        return refused;
    }
    let Ok(order) = serde_json::from_slice::<PayoutOrder>(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "not a payout order");
    };
    bank.order("payout", &order.payout_id, &order.reference, order.amount_fen, &order.card_no).await
}

async fn collect(State(bank): State<Bank>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = bank.verify(&headers, &body) {
        return refused;
    }
    let Ok(order) = serde_json::from_slice::<CollectionOrder>(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "not a collection order");
    };
    bank.order("collection", &order.collection_id, &order.reference, order.amount_fen, &order.card_no).await
}

async fn status(bank: &Bank, headers: &HeaderMap, kind: &str, id: &str) -> Response {
    if let Some(refused) = bank.verify(headers, b"") {
        return refused;
    }
    match bank.status_of(kind, id).await {
        Ok(BankStatus::NotFound) => (StatusCode::NOT_FOUND, Json(BankStatus::NotFound)).into_response(),
        Ok(known) => Json(known).into_response(),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

async fn payout_status(State(bank): State<Bank>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    status(&bank, &headers, "payout", &id).await
}

async fn collection_status(State(bank): State<Bank>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    status(&bank, &headers, "collection", &id).await
}

/// One payment the bank made.
#[derive(Debug, Serialize, Deserialize)]
pub struct Payment {
    pub payout_id: String,
    pub reference: String,
    pub amount_fen: i64,
    pub card_last4: String,
    pub bank_reference: String,
    pub paid_at: String,
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

async fn paid(bank: &Bank, from_ms: i64, to_ms: i64) -> Result<Vec<Payment>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, reference, amount_fen, card_last4, bank_reference, paid_at FROM orders
         WHERE kind = 'payout' AND status = 'succeeded' AND paid_at >= ? AND paid_at < ? ORDER BY seq",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(&bank.db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Payment {
            payout_id: r.get("id"),
            reference: r.get("reference"),
            amount_fen: r.get("amount_fen"),
            card_last4: r.get("card_last4"),
            bank_reference: r.get("bank_reference"),
            paid_at: rfc3339(r.get("paid_at")),
        })
        .collect())
}

async fn payments(State(bank): State<Bank>) -> Response {
    match paid(&bank, i64::MIN, i64::MAX).await {
        Ok(items) => Json(serde_json::json!({"items": items})).into_response(),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

#[derive(Deserialize)]
struct StatementQuery {
    date: String,
}

/// The day's payouts as the CSV that reconciliation reads (UTC days).
async fn statement(State(bank): State<Bank>, Query(q): Query<StatementQuery>) -> Response {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let Ok(day) = time::Date::parse(&q.date, &format) else {
        return refuse(StatusCode::BAD_REQUEST, "date must be YYYY-MM-DD");
    };
    let start = day.midnight().assume_utc().unix_timestamp() * 1000;
    match paid(&bank, start, start + 86_400_000).await {
        Ok(items) => {
            let mut csv = String::from("payout_id,reference,amount_fen,bank_reference,paid_at\n");
            for p in items {
                csv.push_str(&format!(
                    "{},{},{},{},{}\n",
                    p.payout_id, p.reference, p.amount_fen, p.bank_reference, p.paid_at
                ));
            }
            ([("content-type", "text/csv; charset=utf-8")], csv).into_response()
        }
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}
