use crate::sql::{query, Conn, Row};
use yajin_core::ids::{mask_card_last4, BankCardNo, IdCardNo, MerchantNo, PhoneNo};

use crate::pii::{Sealed, Vault};
use crate::{new_id, StoreError};

pub struct NewMerchant {
    pub merchant_no: MerchantNo,
    pub name: String,
    pub phone: PhoneNo,
    pub password_hash: String,
    pub id_card: IdCardNo,
    pub bank_card: BankCardNo,
    pub bank_name: String,
    /// The agent (a staff id) who onboarded the merchant.
    pub agent_id: Option<String>,
}

/// A merchant as most of Yajin sees it: personal numbers only masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merchant {
    pub id: String,
    pub merchant_no: String,
    pub name: String,
    pub phone: String,
    pub id_card_masked: String,
    pub bank_card_masked: String,
    pub bank_name: String,
    pub risk_frozen: bool,
    pub agent_id: Option<String>,
}

fn context(id: &str, column: &str) -> String {
    format!("merchants.{column}:{id}")
}

pub async fn insert(conn: &mut Conn, vault: &Vault, m: &NewMerchant, now_ms: i64) -> Result<String, StoreError> {
    let id = new_id("mc");
    let id_card = vault.seal(m.id_card.expose(), &context(&id, "id_card"));
    let bank_card = vault.seal(m.bank_card.expose(), &context(&id, "bank_card"));
    query(
        "INSERT INTO merchants (id, merchant_no, name, phone, password_hash,
            id_card_sealed, id_card_key_id, id_card_index, id_card_last4, id_card_first3,
            bank_card_sealed, bank_card_key_id, bank_card_index, bank_card_first4, bank_card_last4, bank_name, created_at,
            agent_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(&id)
    .bind(m.merchant_no.as_str())
    .bind(&m.name)
    .bind(m.phone.expose())
    .bind(&m.password_hash)
    .bind(id_card.bytes)
    .bind(id_card.key_id)
    .bind(vault.blind_index("id_card", m.id_card.expose()))
    .bind(m.id_card.last4())
    .bind(&m.id_card.expose()[..3])
    .bind(bank_card.bytes)
    .bind(bank_card.key_id)
    .bind(vault.blind_index("bank_card", m.bank_card.expose()))
    .bind(&m.bank_card.expose()[..4])
    .bind(m.bank_card.last4())
    .bind(&m.bank_name)
    .bind(now_ms)
    .bind(m.agent_id.as_deref())
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

const COLUMNS: &str =
    "id, merchant_no, name, phone, id_card_first3, id_card_last4, bank_card_first4, bank_card_last4, bank_name, risk_frozen,
     agent_id";

fn from_row(row: &Row) -> Result<Merchant, StoreError> {
    let first3: String = row.try_get("id_card_first3")?;
    let last4: String = row.try_get("id_card_last4")?;
    let card_first4: String = row.try_get("bank_card_first4")?;
    let card_last4: String = row.try_get("bank_card_last4")?;
    Ok(Merchant {
        id: row.try_get("id")?,
        merchant_no: row.try_get("merchant_no")?,
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
        id_card_masked: format!("{first3}***********{last4}"),
        bank_card_masked: mask_card_last4(&card_first4, &card_last4),
        bank_name: row.try_get("bank_name")?,
        risk_frozen: row.try_get::<i64, _>("risk_frozen")? == 1,
        agent_id: row.try_get("agent_id")?,
    })
}

pub async fn by_id(conn: &mut Conn, id: &str) -> Result<Option<Merchant>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM merchants WHERE id = $1")).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// Many merchants by id, in one query.
pub async fn by_ids(conn: &mut Conn, ids: &[String]) -> Result<Vec<Merchant>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {COLUMNS} FROM merchants WHERE id IN ({})", crate::placeholders(1, ids.len()));
    let rows = crate::query_in(&sql, ids).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// A page of the merchants an agent onboarded, by merchant number after `after_no`.
pub async fn page_of_agent(
    conn: &mut Conn,
    agent_id: &str,
    after_no: &str,
    limit: i64,
) -> Result<Vec<Merchant>, StoreError> {
    let rows = query(&format!(
        "SELECT {COLUMNS} FROM merchants WHERE agent_id = $1 AND merchant_no > $2 ORDER BY merchant_no LIMIT $3"
    ))
    .bind(agent_id)
    .bind(after_no)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The display names of the agents who onboarded these merchants: `(merchant_id, name)`.
pub async fn agent_names(conn: &mut Conn, merchant_ids: &[String]) -> Result<Vec<(String, String)>, StoreError> {
    if merchant_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT m.id AS merchant_id, s.display_name FROM merchants m JOIN staff s ON s.id = m.agent_id
         WHERE m.id IN ({})",
        crate::placeholders(1, merchant_ids.len())
    );
    let rows = crate::query_in(&sql, merchant_ids).fetch_all(conn).await?;
    rows.iter().map(|r| Ok((r.try_get("merchant_id")?, r.try_get("display_name")?))).collect()
}

pub async fn by_phone(conn: &mut Conn, phone: &str) -> Result<Option<Merchant>, StoreError> {
    let row =
        query(&format!("SELECT {COLUMNS} FROM merchants WHERE phone = $1")).bind(phone).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// Whether the ID card and bank card given match the merchant's real-name record, compared
/// through the blind index: the clear numbers are never read back for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentityMatch {
    pub id_card: bool,
    pub bank_card: bool,
}

pub async fn match_identity(
    conn: &mut Conn,
    vault: &Vault,
    merchant_id: &str,
    id_card: &IdCardNo,
    bank_card: &BankCardNo,
) -> Result<IdentityMatch, StoreError> {
    let row = query("SELECT id_card_index, bank_card_index FROM merchants WHERE id = $1")
        .bind(merchant_id)
        .fetch_one(conn)
        .await?;
    let indexes = BlindIndexes { id_card: row.try_get("id_card_index")?, bank_card: row.try_get("bank_card_index")? };
    Ok(indexes.matches(vault, id_card, bank_card))
}

/// The blind indexes of a merchant's real-name ID card and bound bank card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlindIndexes {
    id_card: String,
    bank_card: String,
}

impl BlindIndexes {
    pub fn matches(&self, vault: &Vault, id_card: &IdCardNo, bank_card: &BankCardNo) -> IdentityMatch {
        IdentityMatch {
            id_card: self.id_card == vault.blind_index("id_card", id_card.expose()),
            bank_card: self.bank_card == vault.blind_index("bank_card", bank_card.expose()),
        }
    }
}

/// What a refund application checks of the merchant who sends it, read in one statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applicant {
    /// The bound phone, in the form stored.
    pub phone: String,
    pub identity: BlindIndexes,
    /// How many identity mismatches were recorded since the time asked about.
    pub misses: i64,
    /// The display name of the agent who onboarded the merchant, if one did.
    pub agent_name: Option<String>,
}

/// The [`Applicant`] columns of the merchants row aliased `m`, its identity mismatches counted
/// from the statement's parameter `misses_since` (`$3`): read with the terminal an application is for, in the same
/// statement ([`super::devices::for_application`]).
pub(crate) fn applicant_columns(misses_since: &str) -> String {
    format!(
        "m.phone AS applicant_phone, m.id_card_index AS applicant_id_card_index,
    m.bank_card_index AS applicant_bank_card_index,
    (SELECT count(*) FROM identity_misses i WHERE i.merchant_id = m.id AND i.at >= {misses_since}) AS applicant_misses,
    (SELECT s.display_name FROM staff s WHERE s.id = m.agent_id) AS applicant_agent_name"
    )
}

/// The [`Applicant`] in a row with [`applicant_columns`].
pub(crate) fn applicant_of_row(row: &Row) -> Result<Applicant, StoreError> {
    Ok(Applicant {
        phone: row.try_get("applicant_phone")?,
        identity: BlindIndexes {
            id_card: row.try_get("applicant_id_card_index")?,
            bank_card: row.try_get("applicant_bank_card_index")?,
        },
        misses: row.try_get("applicant_misses")?,
        agent_name: row.try_get("applicant_agent_name")?,
    })
}

/// Whom a payout pays, in one read: the account name and the card, which is `own_card` when
/// the payout carries one (a card the merchant changed to), else the bound card, opened.
pub async fn payee(
    conn: &mut Conn,
    vault: &Vault,
    merchant_id: &str,
    own_card: Option<String>,
) -> Result<(String, String), StoreError> {
    let row = query("SELECT name, bank_card_sealed, bank_card_key_id FROM merchants WHERE id = $1")
        .bind(merchant_id)
        .fetch_one(conn)
        .await?;
    let card = match own_card {
        Some(card) => card,
        None => {
            let sealed = Sealed { bytes: row.try_get("bank_card_sealed")?, key_id: row.try_get("bank_card_key_id")? };
            vault.open(&sealed, &context(merchant_id, "bank_card"))?
        }
    };
    Ok((row.try_get("name")?, card))
}

/// The bound card in clear: only for a payout, which needs it.
pub async fn bank_card_for_payout(conn: &mut Conn, vault: &Vault, merchant_id: &str) -> Result<String, StoreError> {
    let row = query("SELECT bank_card_sealed, bank_card_key_id FROM merchants WHERE id = $1")
        .bind(merchant_id)
        .fetch_one(conn)
        .await?;
    let sealed = Sealed { bytes: row.try_get("bank_card_sealed")?, key_id: row.try_get("bank_card_key_id")? };
    vault.open(&sealed, &context(merchant_id, "bank_card"))
}

pub async fn password_hash(conn: &mut Conn, merchant_id: &str) -> Result<String, StoreError> {
    let row = query("SELECT password_hash FROM merchants WHERE id = $1").bind(merchant_id).fetch_one(conn).await?;
    row.try_get("password_hash")
}

/// Login state: the password hash, for the login use case.
#[derive(Clone, Debug)]
pub struct LoginRecord {
    pub id: String,
    pub password_hash: String,
}

pub async fn login_record(conn: &mut Conn, phone: &str) -> Result<Option<LoginRecord>, StoreError> {
    let row =
        query("SELECT id, password_hash FROM merchants WHERE phone = $1").bind(phone).fetch_optional(conn).await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(LoginRecord { id: r.try_get("id")?, password_hash: r.try_get("password_hash")? }))
}

pub async fn set_password_hash(conn: &mut Conn, id: &str, hash: &str) -> Result<(), StoreError> {
    query("UPDATE merchants SET password_hash = $1 WHERE id = $2").bind(hash).bind(id).execute(conn).await?;
    Ok(())
}

/// The ids of the merchants with these numbers, in one statement: `(merchant_no, id)`.
pub async fn ids_by_merchant_nos(
    conn: &mut Conn,
    merchant_nos: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    if merchant_nos.is_empty() {
        return Ok(Vec::new());
    }
    let list = crate::json_list(conn);
    let rows = query(&format!("SELECT merchant_no, id FROM merchants WHERE merchant_no IN ({list})"))
        .bind(crate::json_array(merchant_nos)?)
        .fetch_all(conn)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("merchant_no")?, r.try_get("id")?))).collect()
}

pub async fn by_merchant_no(conn: &mut Conn, merchant_no: &str) -> Result<Option<Merchant>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM merchants WHERE merchant_no = $1"))
        .bind(merchant_no)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}
