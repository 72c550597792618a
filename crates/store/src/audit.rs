//! The audit log: append-only (triggers refuse UPDATE, DELETE and TRUNCATE), each row hashed
//! with the previous row's hash. Appenders serialise on the one-row `audit_head`, which also
//! remembers the last hash so that a deleted last row is noticed too; a use case's entries
//! are appended as its transaction commits ([`at_commit`]), so that it holds the head last
//! and briefly.
//!
//! The hash is keyed: an HMAC under a key derived from the master key, which lives outside the
//! database, so someone who can write to the database cannot recompute the chain after editing
//! a row. Rows written before the chain was keyed keep their plain SHA-256 and verify by it;
//! once a keyed row appears, every later row must be keyed, and the last row must be keyed
//! (`serve` appends a keyed checkpoint at start), so the chain cannot be rewritten unkeyed.

use crate::sql::{query, Conn, Row};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::pii::{ChainKey, Vault};
use crate::{StoreError, Tx};

/// What happened, by whom, to what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub actor_role: String,
    pub actor_id: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    /// JSON text with the figures of the action.
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// What a row's hash covers: the previous hash and the row's fields, as a JSON array
/// (unambiguous whatever the fields contain).
fn hashed(prev_hash: &str, seq: i64, at: i64, e: &AuditEntry) -> Vec<u8> {
    let fields = serde_json::json!([seq, at, e.actor_role, e.actor_id, e.action, e.entity, e.entity_id, e.detail]);
    let mut bytes = Vec::with_capacity(prev_hash.len() + 256);
    bytes.extend_from_slice(prev_hash.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(fields.to_string().as_bytes());
    bytes
}

/// A keyed row's hash starts with this.
const KEYED: &str = "k1:";

/// The plain hash of the rows written before the chain was keyed (SHA-256).
pub fn row_hash(prev_hash: &str, seq: i64, at: i64, e: &AuditEntry) -> String {
    hex::encode(Sha256::digest(hashed(prev_hash, seq, at, e)))
}

/// The keyed hash of a row (HMAC under the audit-chain key).
pub fn keyed_row_hash(vault: &Vault, prev_hash: &str, seq: i64, at: i64, e: &AuditEntry) -> String {
    format!("{KEYED}{}", vault.chain_mac(&hashed(prev_hash, seq, at, e)))
}

/// Takes the chain's head at once, for a transaction that will append an entry for each of
/// many rows it writes as it goes (an import batch). Appenders serialise on the head anyway;
/// taken first, after the accounts the batch posts to, the transaction waits for another
/// appender before it holds anything that one is about to take.
pub async fn hold_head(conn: &mut Conn) -> Result<(), StoreError> {
    query("UPDATE audit_head SET last_seq = last_seq WHERE id = 1").execute(conn).await?;
    Ok(())
}

/// Records an entry that the transaction appends to the chain as the last thing before it
/// commits (and forgets if it rolls back): how every use case audits. The chain's head is one
/// row that every audited transaction updates and holds until it commits, so it is taken
/// last, after every account and record the transaction writes. A transaction that took the
/// head early would hold it while waiting for an account that another transaction holds
/// while that one waits for the head: on PostgreSQL a deadlock, one of the two refused. Taken
/// at the commit, the head is also held for as little time as there is.
pub fn at_commit(tx: &mut Tx, vault: &Vault, entry: AuditEntry, now_ms: i64) {
    tx.audit_at_commit(vault.chain_key(), entry, now_ms);
}

/// Appends one entry in the caller's transaction now, returning its sequence number.
pub async fn append(conn: &mut Conn, vault: &Vault, entry: &AuditEntry, now_ms: i64) -> Result<i64, StoreError> {
    append_many(conn, vault, std::slice::from_ref(entry), now_ms).await
}

/// Appends entries in the caller's transaction now, in their order (an import batch's, or
/// [`append`]'s one): on PostgreSQL in two statements whatever their number, on SQLite the
/// head's two and an insert an entry; returns the last one's sequence number (the head's,
/// when there are none).
pub async fn append_many(
    conn: &mut Conn,
    vault: &Vault,
    entries: &[AuditEntry],
    now_ms: i64,
) -> Result<i64, StoreError> {
    let timed: Vec<(&AuditEntry, i64)> = entries.iter().map(|e| (e, now_ms)).collect();
    append_timed(conn, &vault.chain_key(), &timed).await
}

/// [`append_many`] for entries each with its own time (a transaction's, at its commit).
pub(crate) async fn append_timed(
    conn: &mut Conn,
    key: &ChainKey,
    entries: &[(&AuditEntry, i64)],
) -> Result<i64, StoreError> {
    if entries.is_empty() {
        return Ok(head(conn).await?.0);
    }
    // Updating the head takes its row lock; under READ COMMITTED a waiting writer then reads
    // the head its predecessor committed, so the chain never forks.
    let head = query("UPDATE audit_head SET last_seq = last_seq + $1 WHERE id = 1 RETURNING last_seq, last_hash")
        .bind(entries.len() as i64)
        .fetch_one(&mut *conn)
        .await?;
    let last_seq: i64 = head.try_get("last_seq")?;
    let mut prev: String = head.try_get("last_hash")?;
    // Each entry's sequence number, time, entry, predecessor's hash and own hash.
    let mut chained = Vec::with_capacity(entries.len());
    for (seq, (entry, at)) in (last_seq - entries.len() as i64 + 1..).zip(entries) {
        let hash = format!("{KEYED}{}", key.mac(&hashed(&prev, seq, *at, entry)));
        chained.push((seq, *at, *entry, std::mem::replace(&mut prev, hash.clone()), hash));
    }
    if conn.backend() == crate::Backend::Postgres {
        append_chained_in_one_round_trip(conn, &chained, &prev).await?;
        return Ok(last_seq);
    }
    // SQLite has no round trips: one prepared insert an entry, as the ledger's rows
    // (`ledger::insert_transfers`).
    for (seq, at, entry, prev_hash, hash) in &chained {
        query(
            "INSERT INTO audit_log (seq, at, actor_role, actor_id, action, entity, entity_id, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(*seq)
        .bind(*at)
        .bind(entry.actor_role.as_str())
        .bind(entry.actor_id.as_str())
        .bind(entry.action.as_str())
        .bind(entry.entity.as_str())
        .bind(entry.entity_id.as_str())
        .bind(entry.detail.as_str())
        .bind(prev_hash.as_str())
        .bind(hash.as_str())
        .execute(&mut *conn)
        .await?;
    }
    query("UPDATE audit_head SET last_hash = $1 WHERE id = 1").bind(&prev).execute(&mut *conn).await?;
    Ok(last_seq)
}

/// On PostgreSQL, the chained entries and the head's new hash `last_hash` in one statement:
/// the head is held until the commit, and each round trip spent holding it is spent by every
/// transaction waiting for it.
async fn append_chained_in_one_round_trip(
    conn: &mut Conn,
    chained: &[(i64, i64, &AuditEntry, String, String)],
    last_hash: &str,
) -> Result<(), StoreError> {
    let rows: Vec<serde_json::Value> = chained
        .iter()
        .map(|(seq, at, e, prev_hash, hash)| {
            serde_json::json!([
                seq,
                at,
                e.actor_role,
                e.actor_id,
                e.action,
                e.entity,
                e.entity_id,
                e.detail,
                prev_hash,
                hash
            ])
        })
        .collect();
    let source = crate::json_rows(
        conn,
        &[
            ("seq", "BIGINT"),
            ("at", "BIGINT"),
            ("actor_role", "TEXT"),
            ("actor_id", "TEXT"),
            ("action", "TEXT"),
            ("entity", "TEXT"),
            ("entity_id", "TEXT"),
            ("detail", "TEXT"),
            ("prev_hash", "TEXT"),
            ("hash", "TEXT"),
        ],
    );
    query(&format!(
        "WITH appended AS (INSERT INTO audit_log (seq, at, actor_role, actor_id, action, entity, entity_id, detail,
            prev_hash, hash) {source}) UPDATE audit_head SET last_hash = $2 WHERE id = 1"
    ))
    .bind(crate::json_array(&rows)?)
    .bind(last_hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn row_from(row: &Row) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        entry: AuditEntry {
            actor_role: row.try_get("actor_role")?,
            actor_id: row.try_get("actor_id")?,
            action: row.try_get("action")?,
            entity: row.try_get("entity")?,
            entity_id: row.try_get("entity_id")?,
            detail: row.try_get("detail")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

const COLUMNS: &str = "seq, at, actor_role, actor_id, action, entity, entity_id, detail, prev_hash, hash";

/// Rows for one entity (or all), oldest first, after `after_seq`, at most `limit`.
pub async fn list(
    conn: &mut Conn,
    entity: Option<&str>,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let rows = match entity {
        Some(entity) => {
            query(&format!("SELECT {COLUMNS} FROM audit_log WHERE entity = $1 AND seq > $2 ORDER BY seq LIMIT $3"))
                .bind(entity)
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
        }
        None => {
            query(&format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"))
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    rows.iter().map(row_from).collect()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub ok: bool,
    pub checked: i64,
    pub first_broken_id: Option<i64>,
}

const VERIFY_BATCH: i64 = 1_000;

/// Walks the chain in batches up to the head as it stood when the walk began (rows appended
/// meanwhile are not judged half-seen): each row's hash must match its fields and its
/// predecessor's hash, sequence numbers must have no gaps, and the head must name the last row.
pub async fn verify(conn: &mut Conn, vault: &Vault) -> Result<ChainReport, StoreError> {
    let head = query("SELECT last_seq, last_hash FROM audit_head WHERE id = 1").fetch_one(&mut *conn).await?;
    let (last_seq, last_hash): (i64, String) = (head.try_get("last_seq")?, head.try_get("last_hash")?);
    let mut prev_hash = "genesis".to_owned();
    let mut expected_seq = 1;
    let mut checked = 0;
    let mut keyed = false;
    while expected_seq <= last_seq {
        let batch = list(conn, None, expected_seq - 1, VERIFY_BATCH.min(last_seq - expected_seq + 1)).await?;
        if batch.is_empty() {
            break;
        }
        for row in batch {
            let intact = match row.hash.strip_prefix(KEYED) {
                Some(mac) => {
                    keyed = true;
                    vault.chain_mac_matches(&hashed(&prev_hash, row.seq, row.at, &row.entry), mac)
                }
                // A plain row after a keyed one: someone rewrote the chain without the key.
                None => !keyed && row.hash == row_hash(&prev_hash, row.seq, row.at, &row.entry),
            };
            if row.seq != expected_seq || row.prev_hash != prev_hash || !intact {
                return Ok(ChainReport { ok: false, checked, first_broken_id: Some(row.seq) });
            }
            checked += 1;
            expected_seq += 1;
            prev_hash = row.hash;
        }
    }
    if last_seq != checked || last_hash != prev_hash {
        // Rows after the last intact one are missing: the first missing seq is what broke.
        return Ok(ChainReport { ok: false, checked, first_broken_id: Some(checked + 1) });
    }
    if checked > 0 && !prev_hash.starts_with(KEYED) {
        // A chain that ends unkeyed may have been rewritten whole: `serve` keys its end.
        return Ok(ChainReport { ok: false, checked, first_broken_id: Some(checked) });
    }
    Ok(ChainReport { ok: true, checked, first_broken_id: None })
}

/// The chain's head: its last sequence number and hash.
pub async fn head(conn: &mut Conn) -> Result<(i64, String), StoreError> {
    let head = query("SELECT last_seq, last_hash FROM audit_head WHERE id = 1").fetch_one(&mut *conn).await?;
    Ok((head.try_get("last_seq")?, head.try_get("last_hash")?))
}

/// Whether the chain's last row is unkeyed (written before the chain was keyed).
pub async fn ends_unkeyed(conn: &mut Conn) -> Result<bool, StoreError> {
    let head = query("SELECT last_seq, last_hash FROM audit_head WHERE id = 1").fetch_one(&mut *conn).await?;
    let (last_seq, last_hash): (i64, String) = (head.try_get("last_seq")?, head.try_get("last_hash")?);
    Ok(last_seq > 0 && !last_hash.starts_with(KEYED))
}
