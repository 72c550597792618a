//! Failed-login counting and lockout, the same for merchants and staff.

use crate::sql::{query, Conn};

use crate::StoreError;

/// The lock on `identifier` from `client_ip`, if one is in force.
pub async fn lock_in_force(
    conn: &mut Conn,
    kind: &str,
    identifier: &str,
    client_ip: &str,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let row = query(
        "SELECT locked_until FROM login_failures
         WHERE kind = $1 AND identifier = $2 AND client_ip = $3 AND locked_until > $4",
    )
    .bind(kind)
    .bind(identifier)
    .bind(client_ip)
    .bind(now_ms)
    .fetch_optional(conn)
    .await?;
    row.map(|r| r.try_get("locked_until")).transpose()
}

/// Counts a failure of `identifier` from `client_ip`. A lock that has run out, or failures
/// older than `lock_ms`, start the count again. At `max_failures` the address is locked out
/// until `now + lock_ms`; returns the lock's end if this failure set it.
pub async fn count_failure(
    conn: &mut Conn,
    kind: &str,
    identifier: &str,
    client_ip: &str,
    now_ms: i64,
    max_failures: i64,
    lock_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let row = query(
        "INSERT INTO login_failures (kind, identifier, client_ip, failures, locked_until, last_at)
         VALUES ($1, $2, $3, 1, NULL, $4)
         ON CONFLICT (kind, identifier, client_ip) DO UPDATE SET
            failures = CASE WHEN login_failures.locked_until IS NOT NULL OR login_failures.last_at <= $5
                            THEN 1 ELSE login_failures.failures + 1 END,
            locked_until = NULL,
            last_at = $4
         RETURNING failures",
    )
    .bind(kind)
    .bind(identifier)
    .bind(client_ip)
    .bind(now_ms)
    .bind(now_ms - lock_ms)
    .fetch_one(&mut *conn)
    .await?;
    let failures: i64 = row.try_get("failures")?;
    if failures < max_failures {
        return Ok(None);
    }
    let until = now_ms + lock_ms;
    query("UPDATE login_failures SET locked_until = $1 WHERE kind = $2 AND identifier = $3 AND client_ip = $4")
        .bind(until)
        .bind(kind)
        .bind(identifier)
        .bind(client_ip)
        .execute(conn)
        .await?;
    Ok(Some(until))
}

/// Forgets the failures of `identifier` from every address (a reset proved who it is).
pub async fn forget_failures(conn: &mut Conn, kind: &str, identifier: &str) -> Result<(), StoreError> {
    query("DELETE FROM login_failures WHERE kind = $1 AND identifier = $2")
        .bind(kind)
        .bind(identifier)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets the failures of `identifier` from `client_ip` (it logged in from there).
pub async fn forget_failures_from(
    conn: &mut Conn,
    kind: &str,
    identifier: &str,
    client_ip: &str,
) -> Result<(), StoreError> {
    query("DELETE FROM login_failures WHERE kind = $1 AND identifier = $2 AND client_ip = $3")
        .bind(kind)
        .bind(identifier)
        .bind(client_ip)
        .execute(conn)
        .await?;
    Ok(())
}

/// Drops counts that can no longer matter (no lock in force, nothing recent).
pub async fn prune_failures(conn: &mut Conn, older_than_ms: i64) -> Result<u64, StoreError> {
    Ok(query("DELETE FROM login_failures WHERE last_at < $1 AND (locked_until IS NULL OR locked_until < $1)")
        .bind(older_than_ms)
        .execute(conn)
        .await?
        .rows_affected())
}

/// From how many addresses other than `client_ip` logins to `identifier` failed since
/// `since_ms`: an account under attack from many addresses at once.
pub async fn addresses_failing(
    conn: &mut Conn,
    kind: &str,
    identifier: &str,
    client_ip: &str,
    since_ms: i64,
) -> Result<i64, StoreError> {
    let row = query(
        "SELECT COUNT(*) AS n FROM login_failures
         WHERE kind = $1 AND identifier = $2 AND client_ip <> $3 AND last_at > $4",
    )
    .bind(kind)
    .bind(identifier)
    .bind(client_ip)
    .bind(since_ms)
    .fetch_one(conn)
    .await?;
    row.try_get("n")
}

/// Whether `identifier` logged in from `client_ip` since `since_ms`.
pub async fn known_address(
    conn: &mut Conn,
    kind: &str,
    identifier: &str,
    client_ip: &str,
    since_ms: i64,
) -> Result<bool, StoreError> {
    let row = query(
        "SELECT 1 AS known FROM login_addresses
         WHERE kind = $1 AND identifier = $2 AND client_ip = $3 AND last_ok_at > $4",
    )
    .bind(kind)
    .bind(identifier)
    .bind(client_ip)
    .bind(since_ms)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Remembers that `identifier` logged in from `client_ip` now.
pub async fn remember_address(
    conn: &mut Conn,
    kind: &str,
    identifier: &str,
    client_ip: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    query(
        "INSERT INTO login_addresses (kind, identifier, client_ip, last_ok_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (kind, identifier, client_ip) DO UPDATE SET last_ok_at = $4",
    )
    .bind(kind)
    .bind(identifier)
    .bind(client_ip)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets addresses not used to log in since `older_than_ms`.
pub async fn prune_addresses(conn: &mut Conn, older_than_ms: i64) -> Result<u64, StoreError> {
    Ok(query("DELETE FROM login_addresses WHERE last_ok_at < $1")
        .bind(older_than_ms)
        .execute(conn)
        .await?
        .rows_affected())
}
