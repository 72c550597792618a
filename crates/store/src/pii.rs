//! Personal data at rest: ID card and bank card numbers are sealed with XChaCha20-Poly1305
//! (random 24-byte nonces are safe at any volume), with the row id and column as associated
//! data so a ciphertext cannot be moved to another row, and the key's id beside each value so
//! keys can rotate. Equality checks use an HMAC "blind index", never the clear value.

use std::collections::HashMap;
use std::fmt;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::StoreError;

const NONCE_LEN: usize = 24;

/// A 32-byte master key, from configuration (64 hex digits). Never printed.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    pub fn from_hex(text: &str) -> Result<MasterKey, String> {
        let bytes = hex::decode(text.trim()).map_err(|_| "the PII key must be 64 hex digits".to_owned())?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| "the PII key must be 64 hex digits (32 bytes)".to_owned())?;
        Ok(MasterKey(key))
    }

    pub fn generate() -> MasterKey {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        MasterKey(key.into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// A sealed value as stored: the ciphertext (nonce first) and the id of the key that sealed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub bytes: Vec<u8>,
    pub key_id: String,
}

/// A secret that must outlive a rotation of the master key: kept in the database sealed under
/// the master key in force (`vault_secrets`), first created as the master key derived it, so an
/// install that predates stored secrets keeps every index and chain it wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secret {
    /// Keys the blind indexes (ID and card numbers, SMS codes, idempotency bodies).
    PiiIndex,
    /// Keys the audit chain's HMAC.
    AuditChain,
    /// The audit head's Ed25519 signing key (its public key is what outside systems record).
    AuditHead,
}

impl Secret {
    pub const ALL: [Secret; 3] = [Secret::PiiIndex, Secret::AuditChain, Secret::AuditHead];

    pub fn purpose(self) -> &'static str {
        match self {
            Secret::PiiIndex => "pii_index",
            Secret::AuditChain => "audit_chain",
            Secret::AuditHead => "audit_head",
        }
    }

    fn derivation(self) -> &'static str {
        match self {
            Secret::PiiIndex => "yajin-pii-index-v1",
            Secret::AuditChain => "yajin-audit-chain-v1",
            Secret::AuditHead => "yajin-audit-head-v1",
        }
    }
}

/// Seals and opens personal data; computes blind indexes.
#[derive(Clone)]
pub struct Vault {
    current_id: String,
    ciphers: HashMap<String, XChaCha20Poly1305>,
    /// Each [`Secret`] as the current master key derives it (what a first start stores).
    derived: [[u8; 32]; 3],
    index_key: [u8; 32],
    /// Keys of the audit chain: the one in force first, then those the master keys derive
    /// (rows they keyed still verify after a rotation).
    chain_keys: Vec<[u8; 32]>,
    /// Signs the audit chain's head for outside systems (Ed25519).
    head_key: ed25519_dalek::SigningKey,
}

fn chain_mac_with(key: &[u8; 32], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// The audit chain's current key (see [`Vault::chain_key`]); never printed.
#[derive(Clone)]
pub struct ChainKey([u8; 32]);

impl ChainKey {
    /// HMAC-SHA256 of `data` under this key, hex.
    pub fn mac(&self, data: &[u8]) -> String {
        hex::encode(chain_mac_with(&self.0, data))
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainKey(…)")
    }
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vault(current key {})", self.current_id)
    }
}

impl Vault {
    /// `current` seals; `previous` keys still open what they sealed, until re-sealed. The
    /// lasting secrets are as `current` derives them until [`Vault::with_secret`] sets the
    /// stored ones (`app::keys::unlock` does, at start).
    pub fn new(current: &MasterKey, previous: &[MasterKey]) -> Vault {
        let mut ciphers = HashMap::new();
        let mut current_id = String::new();
        for (i, key) in std::iter::once(current).chain(previous).enumerate() {
            let seal_key = key.derive("yajin-pii-seal-v1");
            let id = hex::encode(&Sha256::digest(seal_key)[..4]);
            if i == 0 {
                current_id = id.clone();
            }
            ciphers.insert(id, XChaCha20Poly1305::new(&seal_key.into()));
        }
        let chain_keys = std::iter::once(current).chain(previous).map(|k| k.derive("yajin-audit-chain-v1")).collect();
        let derived = Secret::ALL.map(|s| current.derive(s.derivation()));
        let head_key = ed25519_dalek::SigningKey::from_bytes(&derived[2]);
        Vault { current_id, ciphers, derived, index_key: derived[0], chain_keys, head_key }
    }

    /// The id of the key that seals now (`key_id` of everything sealed from now on).
    pub fn current_key_id(&self) -> &str {
        &self.current_id
    }

    /// Whether previous keys are configured: only then can anything need re-sealing (a value
    /// under a key the vault does not hold could not be opened anyway).
    pub fn has_previous_keys(&self) -> bool {
        self.ciphers.len() > 1
    }

    /// `secret` as the current master key derives it.
    pub fn derived_secret(&self, secret: Secret) -> [u8; 32] {
        self.derived[secret as usize]
    }

    /// The vault with `secret` set to the stored `key`.
    pub fn with_secret(mut self, secret: Secret, key: [u8; 32]) -> Vault {
        match secret {
            Secret::PiiIndex => self.index_key = key,
            Secret::AuditChain => {
                self.chain_keys.retain(|k| *k != key);
                self.chain_keys.insert(0, key);
            }
            Secret::AuditHead => self.head_key = ed25519_dalek::SigningKey::from_bytes(&key),
        }
        self
    }

    pub fn seal(&self, clear: &str, context: &str) -> Sealed {
        self.seal_bytes(clear.as_bytes(), context)
    }

    /// Seals any bytes (a file) under the current key, bound to `context`.
    pub fn seal_bytes(&self, clear: &[u8], context: &str) -> Sealed {
        let cipher = &self.ciphers[&self.current_id];
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(&nonce, Payload { msg: clear, aad: context.as_bytes() })
            .expect("XChaCha20-Poly1305 encrypts any message under 256 GiB");
        let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Sealed { bytes, key_id: self.current_id.clone() }
    }

    /// Opens a sealed value; fails if the key is unknown, or the value was tampered with or
    /// moved from another row (the associated data no longer matches).
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<String, StoreError> {
        String::from_utf8(self.open_bytes(sealed, context)?)
            .map_err(|_| StoreError::Pii("sealed value is not text".into()))
    }

    /// Opens sealed bytes (see [`Vault::open`]).
    pub fn open_bytes(&self, sealed: &Sealed, context: &str) -> Result<Vec<u8>, StoreError> {
        let cipher = self.ciphers.get(&sealed.key_id).ok_or_else(|| StoreError::Pii("unknown PII key id".into()))?;
        if sealed.bytes.len() < NONCE_LEN {
            return Err(StoreError::Pii("sealed value too short".into()));
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: context.as_bytes() })
            .map_err(|_| StoreError::Pii("sealed value does not open with its row's context".into()))
    }

    /// An Ed25519 signature of `message` by the audit head's key, hex.
    pub fn sign_head(&self, message: &[u8]) -> String {
        use ed25519_dalek::Signer;
        hex::encode(self.head_key.sign(message).to_bytes())
    }

    /// The public key that checks [`Vault::sign_head`]'s signatures, hex.
    pub fn head_public_key(&self) -> String {
        hex::encode(self.head_key.verifying_key().to_bytes())
    }

    /// HMAC-SHA256 of `data` under the current audit-chain key, hex.
    pub fn chain_mac(&self, data: &[u8]) -> String {
        self.chain_key().mac(data)
    }

    /// The current audit-chain key, for a transaction that appends its entries when it
    /// commits ([`crate::audit::at_commit`]).
    pub fn chain_key(&self) -> ChainKey {
        ChainKey(self.chain_keys[0])
    }

    /// Whether `mac` is `data`'s under the current or a previous audit-chain key.
    pub fn chain_mac_matches(&self, data: &[u8], mac: &str) -> bool {
        let Ok(sent) = hex::decode(mac) else { return false };
        self.chain_keys.iter().any(|key| {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(data);
            m.verify_slice(&sent).is_ok()
        })
    }

    /// HMAC-SHA256 of the value under the index secret, namespaced by `column`.
    pub fn blind_index(&self, column: &str, clear: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key).expect("HMAC takes any key length");
        mac.update(column.as_bytes());
        mac.update(b"\0");
        mac.update(clear.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_in_its_own_row() {
        let vault = Vault::new(&MasterKey::generate(), &[]);
        let sealed = vault.seal("310115198506151236", "merchants.id_card:mc_1");
        assert!(!sealed.bytes.windows(18).any(|w| w == b"310115198506151236"));
        assert_eq!(vault.open(&sealed, "merchants.id_card:mc_1").unwrap(), "310115198506151236");
        assert!(vault.open(&sealed, "merchants.id_card:mc_2").is_err(), "moved to another row");
        let mut tampered = sealed.clone();
        let last = tampered.bytes.len() - 1;
        tampered.bytes[last] ^= 1;
        assert!(vault.open(&tampered, "merchants.id_card:mc_1").is_err());
    }

    #[test]
    fn old_keys_still_open_after_rotation() {
        let old = MasterKey::generate();
        let sealed = Vault::new(&old, &[]).seal("6222021234567890128", "ctx");
        let rotated = Vault::new(&MasterKey::generate(), &[old]);
        assert_eq!(rotated.open(&sealed, "ctx").unwrap(), "6222021234567890128");
        assert_ne!(rotated.seal("x", "ctx").key_id, sealed.key_id);
    }

    #[test]
    fn blind_index_is_stable_and_keyed() {
        let key = MasterKey::generate();
        let a = Vault::new(&key, &[]);
        let b = Vault::new(&key, &[]);
        assert_eq!(a.blind_index("id_card", "X"), b.blind_index("id_card", "X"));
        assert_ne!(a.blind_index("id_card", "X"), a.blind_index("bank_card", "X"));
        let other = Vault::new(&MasterKey::generate(), &[]);
        assert_ne!(a.blind_index("id_card", "X"), other.blind_index("id_card", "X"));
    }

    #[test]
    fn stored_secrets_outlive_the_master_key_that_made_them() {
        let old = Vault::new(&MasterKey::generate(), &[]);
        let index = old.blind_index("id_card", "X");
        let head = old.head_public_key();
        let mac = old.chain_mac(b"row");
        let rotated = Vault::new(&MasterKey::generate(), &[]);
        assert_ne!(rotated.blind_index("id_card", "X"), index, "a new master key derives new secrets");
        let rotated = Secret::ALL.iter().fold(rotated, |v, s| v.with_secret(*s, old.derived_secret(*s)));
        assert_eq!(rotated.blind_index("id_card", "X"), index);
        assert_eq!(rotated.head_public_key(), head);
        assert!(rotated.chain_mac_matches(b"row", &mac));
        assert_eq!(rotated.chain_mac(b"row"), mac, "the stored chain key keys new rows too");
    }

    #[test]
    fn keys_parse_from_hex_only() {
        assert!(MasterKey::from_hex(&"ab".repeat(32)).is_ok());
        assert!(MasterKey::from_hex("abc").is_err());
        assert!(MasterKey::from_hex(&"zz".repeat(32)).is_err());
        assert_eq!(format!("{:?}", MasterKey::generate()), "MasterKey(***)");
    }
}
