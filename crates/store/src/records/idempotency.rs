//! Idempotency keys (Stripe's design): claimed with `INSERT … ON CONFLICT DO NOTHING` in the
//! same transaction as the work, and completed with the response in that transaction. A
//! concurrent request with the same key waits on the first one's row and then replays it; a
//! failed request rolls back and stores nothing, so a corrected retry with the key works.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use crate::sql::{query, Conn, Row};

use crate::StoreError;

#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    New,
    Replay {
        status: u16,
        body: Vec<u8>,
    },
    /// The key was used with a different request body.
    Mismatch,
}

pub async fn claim(
    conn: &mut Conn,
    principal: &str,
    key: &str,
    request_hash: &str,
    now_ms: i64,
) -> Result<Claim, StoreError> {
    let inserted = query(
        "INSERT INTO idempotency_keys (principal, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (principal, key) DO NOTHING",
    )
    .bind(principal)
    .bind(key)
    .bind(request_hash)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::New);
    }
    let row = query(
        "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE principal = $1 AND key = $2",
    )
    .bind(principal)
    .bind(key)
    .fetch_one(conn)
    .await?;
    Stored::of(&row)?.claim(request_hash)
}

/// What is stored under a key another request claimed.
struct Stored {
    request_hash: String,
    status: Option<i64>,
    body: Option<Vec<u8>>,
}

impl Stored {
    fn of(row: &Row) -> Result<Stored, StoreError> {
        Ok(Stored {
            request_hash: row.try_get("request_hash")?,
            status: row.try_get("response_status")?,
            body: row.try_get("response_body")?,
        })
    }

    /// How a request with digest `request_hash` under this key is answered.
    fn claim(self, request_hash: &str) -> Result<Claim, StoreError> {
        if self.request_hash != request_hash {
            return Ok(Claim::Mismatch);
        }
        match (self.status, self.body) {
            (Some(status), Some(body)) => Ok(Claim::Replay { status: status as u16, body }),
            _ => Err(StoreError::Corrupt("idempotency key committed without a response".into())),
        }
    }
}

/// A request's answer, to be stored under its key by the statement that does its work (see
/// [`crate::records::applications::insert_submitted`]) rather than by [`complete`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub principal: String,
    pub key: String,
    pub status: u16,
    pub body: Vec<u8>,
}

pub async fn complete(conn: &mut Conn, principal: &str, key: &str, status: u16, body: &[u8]) -> Result<(), StoreError> {
    query("UPDATE idempotency_keys SET response_status = $1, response_body = $2 WHERE principal = $3 AND key = $4")
        .bind(i64::from(status))
        .bind(body)
        .bind(principal)
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Gives up a claim made in this transaction (its request was refused).
pub async fn release(conn: &mut Conn, principal: &str, key: &str) -> Result<(), StoreError> {
    query("DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND response_status IS NULL")
        .bind(principal)
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Keys are kept at least a day; older ones may go.
pub async fn prune(conn: &mut Conn, older_than_ms: i64) -> Result<u64, StoreError> {
    Ok(query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(older_than_ms)
        .execute(conn)
        .await?
        .rows_affected())
}

/// One key of a batch of requests ([`claim_many`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyClaim {
    pub principal: String,
    pub key: String,
    pub request_hash: String,
}

/// Claims many keys at once, each as [`claim`] would, in two statements at most whatever
/// their number: the claims, then what is stored under the keys already taken (none when
/// every key is new). The keys must differ from one another. They are claimed in key order,
/// so that two batches sharing keys wait on each other rather than deadlock.
pub async fn claim_many(conn: &mut Conn, claims: &[KeyClaim], now_ms: i64) -> Result<Vec<Claim>, StoreError> {
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen = HashSet::new();
    if !claims.iter().all(|c| seen.insert((c.principal.as_str(), c.key.as_str()))) {
        return Err(StoreError::Corrupt("a batch claims one idempotency key twice".into()));
    }
    let rows: Vec<(&str, &str, &str)> =
        claims.iter().map(|c| (c.principal.as_str(), c.key.as_str(), c.request_hash.as_str())).collect();
    let rows = crate::json_array(&rows)?;
    let postgres = usize::from(conn.backend() == crate::Backend::Postgres);
    let inserted = query(&CLAIM_MANY[postgres]).bind(&rows).bind(now_ms).fetch_all(&mut *conn).await?;
    let mut new = HashSet::with_capacity(inserted.len());
    for row in &inserted {
        new.insert((row.try_get::<String, _>("principal")?, row.try_get::<String, _>("key")?));
    }
    let mut stored = HashMap::new();
    if new.len() < claims.len() {
        for row in &query(&STORED_MANY[postgres]).bind(&rows).fetch_all(&mut *conn).await? {
            let id = (row.try_get::<String, _>("principal")?, row.try_get::<String, _>("key")?);
            stored.insert(id, Stored::of(row)?);
        }
    }
    claims
        .iter()
        .map(|c| {
            let id = (c.principal.clone(), c.key.clone());
            if new.contains(&id) {
                return Ok(Claim::New);
            }
            match stored.remove(&id) {
                Some(stored) => stored.claim(&c.request_hash),
                None => Err(StoreError::Corrupt("an idempotency key neither claimed nor stored".into())),
            }
        })
        .collect()
}

/// The claims of [`claim_many`], and what is stored under keys already taken, for SQLite and
/// PostgreSQL, built once.
static CLAIM_MANY: [LazyLock<String>; 2] = [
    LazyLock::new(|| claim_many_sql(crate::Backend::Sqlite)),
    LazyLock::new(|| claim_many_sql(crate::Backend::Postgres)),
];
static STORED_MANY: [LazyLock<String>; 2] = [
    LazyLock::new(|| stored_many_sql(crate::Backend::Sqlite)),
    LazyLock::new(|| stored_many_sql(crate::Backend::Postgres)),
];

fn claims_source(backend: crate::Backend) -> String {
    crate::json_rows_for(backend, &[("principal", "TEXT"), ("key", "TEXT"), ("request_hash", "TEXT")])
}

fn claim_many_sql(backend: crate::Backend) -> String {
    format!(
        "INSERT INTO idempotency_keys (principal, key, request_hash, created_at)
         SELECT principal, key, request_hash, $2 FROM ({}) AS c WHERE true ORDER BY principal, key
         ON CONFLICT (principal, key) DO NOTHING RETURNING principal, key",
        claims_source(backend)
    )
}

fn stored_many_sql(backend: crate::Backend) -> String {
    format!(
        "SELECT k.principal, k.key, k.request_hash, k.response_status, k.response_body
         FROM ({}) AS c JOIN idempotency_keys k ON k.principal = c.principal AND k.key = c.key",
        claims_source(backend)
    )
}

/// Gives up claims made in this transaction (their requests were refused), in one statement.
pub async fn release_many(conn: &mut Conn, keys: &[(String, String)]) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let source = crate::json_rows(conn, &[("principal", "TEXT"), ("key", "TEXT")]);
    query(&format!(
        "DELETE FROM idempotency_keys WHERE response_status IS NULL
         AND (principal, key) IN (SELECT principal, key FROM ({source}) AS c)"
    ))
    .bind(crate::json_array(keys)?)
    .execute(conn)
    .await?;
    Ok(())
}
