//! Login sessions: only the SHA-256 of the random token is stored, so a database leak does not
//! leak sessions. Cookie sessions also carry a CSRF token, stored the same way.

use crate::sql::{query, Conn};

use crate::StoreError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub token_hash: String,
    pub principal_kind: String,
    pub principal_id: String,
    pub role: String,
    pub csrf_hash: String,
    pub expires_at: i64,
}

pub async fn insert(conn: &mut Conn, s: &Session, now_ms: i64) -> Result<(), StoreError> {
    query(
        "INSERT INTO sessions (token_hash, principal_kind, principal_id, role, csrf_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&s.token_hash)
    .bind(&s.principal_kind)
    .bind(&s.principal_id)
    .bind(&s.role)
    .bind(&s.csrf_hash)
    .bind(now_ms)
    .bind(s.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A live session: not revoked, not expired, and (staff) of a member who is still active, with
/// the role they hold now: a disabled member or a changed role takes effect on their next
/// request, not when the session would have expired.
const LIVE: &str = "SELECT s.token_hash, s.principal_kind, s.principal_id,
        CASE WHEN s.principal_kind = 'staff' THEN st.role ELSE s.role END AS role,
        s.csrf_hash, s.expires_at
    FROM sessions s LEFT JOIN staff st ON s.principal_kind = 'staff' AND st.id = s.principal_id
    WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
      AND (s.principal_kind <> 'staff' OR st.active = 1)";

/// The merchant whose live session's token hashes to `$1` at `$2` (now), as a scalar
/// subquery (no row: no such session): what [`LIVE`] finds, for a statement that reads with
/// it what the merchant asked. Built on [`LIVE`], so a session is live by one rule.
pub(crate) fn live_merchant() -> String {
    format!("(SELECT principal_id FROM ({LIVE}) AS live WHERE principal_kind = 'merchant')")
}

/// The live session behind a token hash (every request asks): on a SQLite file through the
/// synchronous reader, on PostgreSQL on a connection for hot reads.
pub async fn live(db: &crate::Db, token_hash: &str, now_ms: i64) -> Result<Option<Session>, StoreError> {
    if let Some(reader) = db.sqlite_reader() {
        return reader.read(|conn| {
            let mut statement = conn.prepare_cached(LIVE)?;
            let mut rows = statement.query(rusqlite::named_params! {"$1": token_hash, "$2": now_ms})?;
            let Some(r) = rows.next()? else { return Ok(None) };
            Ok(Some(Session {
                token_hash: r.get("token_hash")?,
                principal_kind: r.get("principal_kind")?,
                principal_id: r.get("principal_id")?,
                role: r.get("role")?,
                csrf_hash: r.get("csrf_hash")?,
                expires_at: r.get("expires_at")?,
            }))
        });
    }
    let mut conn = db.read_connection().await?;
    find_live(&mut *conn, token_hash, now_ms).await
}

pub async fn find_live(conn: &mut Conn, token_hash: &str, now_ms: i64) -> Result<Option<Session>, StoreError> {
    let row = query(LIVE).bind(token_hash).bind(now_ms).fetch_optional(conn).await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Session {
        token_hash: r.try_get("token_hash")?,
        principal_kind: r.try_get("principal_kind")?,
        principal_id: r.try_get("principal_id")?,
        role: r.try_get("role")?,
        csrf_hash: r.try_get("csrf_hash")?,
        expires_at: r.try_get("expires_at")?,
    }))
}

pub async fn revoke(conn: &mut Conn, token_hash: &str, now_ms: i64) -> Result<(), StoreError> {
    query("UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
        .bind(now_ms)
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends every session of a principal (after a password reset).
pub async fn revoke_all(conn: &mut Conn, kind: &str, principal_id: &str, now_ms: i64) -> Result<(), StoreError> {
    query("UPDATE sessions SET revoked_at = $1 WHERE principal_kind = $2 AND principal_id = $3 AND revoked_at IS NULL")
        .bind(now_ms)
        .bind(kind)
        .bind(principal_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets sessions that ended (expired or revoked) before `ended_before_ms`: they can never be
/// used again, and the table would otherwise grow with every login.
pub async fn prune(conn: &mut Conn, ended_before_ms: i64) -> Result<u64, StoreError> {
    let deleted = query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
        .bind(ended_before_ms)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(deleted)
}
