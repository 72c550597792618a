//! Every value sealed at rest, and re-sealing them under the key in force after the master key
//! rotates (`yajin admin rotate-keys`, and `serve` in the background at start).

use crate::sql::{query, Conn};

use crate::pii::{Sealed, Vault};
use crate::StoreError;

/// A sealed column: its table, the column its row is known by (part of the associated data),
/// the ciphertext and key id columns, and the associated data's prefix.
struct SealedColumn {
    table: &'static str,
    key: &'static str,
    sealed: &'static str,
    key_id: &'static str,
    context: &'static str,
}

/// The associated data here must be what each record module seals with; the rotation tests
/// open every kind after re-sealing.
const SEALED: [SealedColumn; 7] = [
    SealedColumn {
        table: "merchants",
        key: "id",
        sealed: "id_card_sealed",
        key_id: "id_card_key_id",
        context: "merchants.id_card:",
    },
    SealedColumn {
        table: "merchants",
        key: "id",
        sealed: "bank_card_sealed",
        key_id: "bank_card_key_id",
        context: "merchants.bank_card:",
    },
    SealedColumn {
        table: "refund_applications",
        key: "id",
        sealed: "bank_card_sealed",
        key_id: "bank_card_key_id",
        context: "refund_applications.bank_card:",
    },
    SealedColumn {
        table: "payouts",
        key: "id",
        sealed: "card_sealed",
        key_id: "card_key_id",
        context: "payouts.card:",
    },
    SealedColumn {
        table: "terminal_orders",
        key: "id",
        sealed: "shipping_address_sealed",
        key_id: "shipping_address_key_id",
        context: "terminal_orders.shipping_address:",
    },
    SealedColumn {
        table: "attachment_blobs",
        key: "sha256",
        sealed: "content",
        key_id: "key_id",
        context: "attachment_blobs.content:",
    },
    SealedColumn {
        table: "vault_secrets",
        key: "purpose",
        sealed: "secret_sealed",
        key_id: "key_id",
        context: "vault_secrets.secret:",
    },
];

/// How many values are sealed under a key other than the one in force.
pub async fn count_stale(conn: &mut Conn, vault: &Vault) -> Result<u64, StoreError> {
    let mut total = 0;
    for c in &SEALED {
        let sql = format!("SELECT COUNT(*) AS n FROM {} WHERE {} <> $1", c.table, c.key_id);
        let n: i64 = query(&sql).bind(vault.current_key_id()).fetch_one(&mut *conn).await?.try_get("n")?;
        total += n as u64;
    }
    Ok(total)
}

/// Re-seals up to `limit` values under the key in force; how many it re-sealed (0: none left).
/// Each update is conditional on the key id it read, so two re-sealers never undo each other.
/// A value no key in the vault opens is an error naming its table: the old key is missing.
pub async fn reseal_batch(conn: &mut Conn, vault: &Vault, limit: i64) -> Result<u64, StoreError> {
    let current = vault.current_key_id();
    let mut done = 0;
    for c in &SEALED {
        let select = format!(
            "SELECT {key} AS k, {sealed} AS s, {key_id} AS kid FROM {table} WHERE {key_id} <> $1 LIMIT $2",
            key = c.key,
            sealed = c.sealed,
            key_id = c.key_id,
            table = c.table
        );
        let rows = query(&select).bind(current).bind(limit - done as i64).fetch_all(&mut *conn).await?;
        let update = format!(
            "UPDATE {table} SET {sealed} = $1, {key_id} = $2 WHERE {key} = $3 AND {key_id} = $4",
            table = c.table,
            sealed = c.sealed,
            key_id = c.key_id,
            key = c.key
        );
        for row in rows {
            let key: String = row.try_get("k")?;
            let old = Sealed { bytes: row.try_get("s")?, key_id: row.try_get("kid")? };
            let context = format!("{}{key}", c.context);
            let clear = vault.open_bytes(&old, &context).map_err(|_| {
                StoreError::Pii(format!(
                    "{}.{} of {key} is sealed under key {}, which is neither the PII key nor one of the previous keys",
                    c.table, c.sealed, old.key_id
                ))
            })?;
            let new = vault.seal_bytes(&clear, &context);
            done += query(&update)
                .bind(&new.bytes)
                .bind(&new.key_id)
                .bind(&key)
                .bind(&old.key_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
        }
        if done as i64 >= limit {
            break;
        }
    }
    Ok(done)
}
