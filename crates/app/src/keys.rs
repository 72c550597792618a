//! The master (PII) key's lifecycle: unlocking the vault's lasting secrets at start, and
//! re-sealing everything under a new master key after a rotation.
//!
//! Rotating: set the new key as `pii_key`, list the old one in `pii_previous_keys`, and run
//! `yajin admin rotate-keys` (or let `serve` do it in the background). Blind indexes, the audit
//! chain's key and the audit head's signing key are stored secrets, not derived from the key in
//! force, so nothing stored stops matching; once nothing is sealed under the old key, it can go.

use yajin_store::pii::{Secret, Vault};
use yajin_store::records::{sealed, vault_secrets};
use yajin_store::{Db, StoreError};

/// Values re-sealed per transaction.
const BATCH: i64 = 200;

/// The vault with its lasting secrets read from the database; on the first start with stored
/// secrets, each is stored as the master key in force derives it (what the install has used
/// until now, so no index or chain changes).
pub async fn unlock(db: &Db, vault: Vault, now_ms: i64) -> Result<Vault, StoreError> {
    let mut tx = db.begin_write().await?;
    let mut unlocked = vault.clone();
    for secret in Secret::ALL {
        let context = vault_secrets::context(secret);
        if vault_secrets::get(&mut tx, secret).await?.is_none() {
            let sealed = vault.seal_bytes(&vault.derived_secret(secret), &context);
            vault_secrets::insert_if_absent(&mut tx, secret, &sealed, now_ms).await?;
        }
        let sealed =
            vault_secrets::get(&mut tx, secret).await?.ok_or_else(|| StoreError::Corrupt("vault secret".into()))?;
        let clear = vault.open_bytes(&sealed, &context).map_err(|_| {
            StoreError::Pii(format!(
                "the stored {} secret is sealed under key {}, which is neither the PII key nor one of the previous \
                 keys: list the key it was sealed with in pii_previous_keys",
                secret.purpose(),
                sealed.key_id
            ))
        })?;
        let key: [u8; 32] = clear
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("the {} secret is not 32 bytes", secret.purpose())))?;
        unlocked = unlocked.with_secret(secret, key);
    }
    tx.commit().await?;
    Ok(unlocked)
}

/// What a rotation did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Values re-sealed under the key in force.
    pub resealed: u64,
}

/// How many values are still sealed under an older key.
pub async fn stale(db: &Db, vault: &Vault) -> Result<u64, StoreError> {
    let mut conn = db.begin_read().await?;
    sealed::count_stale(&mut conn, vault).await
}

/// Re-seals everything sealed under an older key with the key in force, a batch per
/// transaction (servers keep working meanwhile: every older key in the vault still opens what
/// is not yet re-sealed); `progress` hears the running total after each batch.
pub async fn rotate(db: &Db, vault: &Vault, mut progress: impl FnMut(u64)) -> Result<Rotation, StoreError> {
    let mut rotation = Rotation::default();
    loop {
        let mut tx = db.begin_write().await?;
        let n = sealed::reseal_batch(&mut tx, vault, BATCH).await?;
        tx.commit().await?;
        if n == 0 {
            return Ok(rotation);
        }
        rotation.resealed += n;
        progress(rotation.resealed);
    }
}
