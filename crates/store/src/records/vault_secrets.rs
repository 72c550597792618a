//! The vault's lasting secrets (see [`Secret`]), each sealed under a master key.

use crate::sql::{query, Conn};

use crate::pii::{Sealed, Secret};
use crate::StoreError;

/// The associated data a secret is sealed with (bound to its row).
pub fn context(secret: Secret) -> String {
    format!("vault_secrets.secret:{}", secret.purpose())
}

pub async fn get(conn: &mut Conn, secret: Secret) -> Result<Option<Sealed>, StoreError> {
    let row = query("SELECT secret_sealed, key_id FROM vault_secrets WHERE purpose = $1")
        .bind(secret.purpose())
        .fetch_optional(conn)
        .await?;
    row.map(|r| Ok(Sealed { bytes: r.try_get("secret_sealed")?, key_id: r.try_get("key_id")? })).transpose()
}

/// Stores `sealed` unless a secret for that purpose is already stored (another server starting
/// at the same moment may have stored its own: the first one stays).
pub async fn insert_if_absent(conn: &mut Conn, secret: Secret, sealed: &Sealed, now_ms: i64) -> Result<(), StoreError> {
    query(
        "INSERT INTO vault_secrets (purpose, secret_sealed, key_id, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (purpose) DO NOTHING",
    )
    .bind(secret.purpose())
    .bind(&sealed.bytes)
    .bind(&sealed.key_id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}
