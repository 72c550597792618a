//! My Devices in one statement: a page of a merchant's terminals with every stored fact their
//! assessment needs — deposit figures from the ledger, counted volume inside each terminal's
//! window, the open application — and the merchant's own facts (risk freeze, what it owes).
//! One statement is one snapshot on both databases, so no transaction is needed, and the read
//! costs one round trip however many facts it gathers. Each terminal's facts travel as JSON
//! arrays built by the database (`json_group_array` on SQLite, `json_agg` on PostgreSQL).
//!
//! What a read costs does not grow with a terminal's history: the counted volume comes from
//! `terminal_volumes`, which the database keeps current as usage is written (migration 12),
//! and a deposit account's transfers are a handful (collected, each refund attempt), summed
//! here rather than grouped by the database.

use crate::sql::{query, Conn, Query, Row};
use yajin_core::application::Status;
use yajin_core::eligibility::{DepositFigures, OwedItem};
use yajin_core::{Fen, Timestamp};

use super::applications::OpenApplication;
use super::merchants::Applicant;
use super::terminals::{self, Terminal};
use crate::ledger::add_to_figures;
use crate::{Db, StoreError};

/// A terminal and the stored facts its assessment needs.
#[derive(Clone, Debug)]
pub struct TerminalFacts {
    pub terminal: Terminal,
    pub deposit: DepositFigures,
    /// Volume inside the counting window, per transaction kind (`credit_card`, …).
    pub volumes: Vec<(String, Fen)>,
    pub open_application: Option<OpenApplication>,
}

/// The merchant's facts that bear on every terminal.
#[derive(Clone, Debug, Default)]
pub struct MerchantFacts {
    pub risk_frozen: bool,
    /// Open items, oldest due first, each with the terminal it is for (none: the merchant's).
    pub owed: Vec<(Option<String>, OwedItem)>,
}

/// Which terminals the statement reads.
#[derive(Clone, Copy)]
enum Select {
    /// A page of the merchant's terminals: `$2` the SN after which, `$3` how many.
    Page,
    /// The terminals whose ids are in the JSON array `$2` (a use case's, in its transaction).
    Ids,
    /// The merchant's terminal whose SN is `$2` (an application's, in its transaction).
    Sn,
    /// As `Sn`, with what the application checks of the merchant (identity mismatches since
    /// `$3`): one statement where two were.
    Applying,
    /// As `Applying`, for a batch: the rows of the JSON array `$1` ([`crate::json_rows`]), each
    /// its position, a merchant and an SN, mismatches counted since `$2`.
    ApplyingMany,
    /// As `Page` for the merchant whose live session's token hashes to `$1` at `$2` (now),
    /// with `$3` the SN after which and `$4` how many: no row when there is no such session.
    SessionPage,
}

/// The statement for a backend, built once (every My Devices request runs it).
fn sql(postgres: bool, select: Select) -> &'static str {
    use std::sync::OnceLock;
    const SELECTS: usize = 6;
    static CELLS: [OnceLock<String>; 2 * SELECTS] = [const { OnceLock::new() }; 2 * SELECTS];
    let cell = &CELLS[usize::from(postgres) * SELECTS + select as usize];
    cell.get_or_init(|| build_sql(postgres, select))
}

fn build_sql(postgres: bool, select: Select) -> String {
    let open: Vec<&str> = Status::ALL.iter().filter(|s| s.is_open()).map(|s| s.as_str()).collect();
    let open = open.join("', '");
    // The aggregate and array constructors, and a cast of the aggregate to text for the driver.
    let (agg, arr, text) =
        if postgres { ("json_agg", "json_build_array", "::text") } else { ("json_group_array", "json_array", "") };
    // The merchant whose facts are read: the one bound, or each row's in a batch.
    let (merchant, request) = match select {
        Select::ApplyingMany => ("t.merchant_id".to_owned(), "r.request, "),
        Select::SessionPage => (super::sessions::live_merchant(), ""),
        _ => ("$1".to_owned(), ""),
    };
    let backend = if postgres { crate::Backend::Postgres } else { crate::Backend::Sqlite };
    format!(
        "SELECT {request}{columns},
           (SELECT {agg}({arr}(code, state, amount_fen)){text} FROM (
              SELECT code, state, amount_fen FROM ledger_transfers WHERE debit_account_id = 'deposit_held:' || t.id
              UNION ALL
              SELECT code, state, amount_fen FROM ledger_transfers WHERE credit_account_id = 'deposit_held:' || t.id) f)
              AS transfers,
           (SELECT {agg}({arr}(kind, volume_fen)){text} FROM terminal_volumes WHERE terminal_id = t.id) AS volumes,
           (SELECT {arr}(a.id, a.status, a.net_refund_fen){text} FROM refund_applications a
              WHERE a.terminal_id = t.id AND a.status IN ('{open}') LIMIT 1) AS open_application,
           (SELECT risk_frozen FROM merchants m WHERE m.id = {merchant}) AS risk_frozen,
           (SELECT {agg}({arr}(id, terminal_id, kind, amount_fen, due_at) ORDER BY due_at, id){text}
              FROM outstanding_items WHERE merchant_id = {merchant} AND status = 'open') AS owed{applicant}
         FROM terminals t{join} WHERE {filter}",
        // Qualified: the applicant's merchant row is joined in beside the terminal's.
        columns = terminals::COLUMNS.split(',').map(|c| format!("t.{}", c.trim())).collect::<Vec<_>>().join(", "),
        applicant = match select {
            Select::Applying => format!(",\n{}", super::merchants::applicant_columns("$3")),
            Select::ApplyingMany => format!(",\n{}", super::merchants::applicant_columns("$2")),
            _ => String::new(),
        },
        join = match select {
            Select::Applying => " JOIN merchants m ON m.id = t.merchant_id".to_owned(),
            Select::ApplyingMany => format!(
                " JOIN ({}) AS r ON t.merchant_id = r.merchant_id AND t.sn = r.sn JOIN merchants m ON m.id = t.merchant_id",
                crate::json_rows_for(backend, &[("request", "BIGINT"), ("merchant_id", "TEXT"), ("sn", "TEXT")])
            ),
            _ => String::new(),
        },
        filter = match (select, postgres) {
            (Select::Page, _) => "t.merchant_id = $1 AND t.sn > $2 ORDER BY t.sn LIMIT $3".to_owned(),
            (Select::Ids, true) =>
                "t.id IN (SELECT unnest(ARRAY(SELECT json_array_elements_text($2::json)))) ORDER BY t.sn".to_owned(),
            (Select::Ids, false) => "t.id IN (SELECT value FROM json_each($2)) ORDER BY t.sn".to_owned(),
            (Select::Sn | Select::Applying, _) => "t.merchant_id = $1 AND t.sn = $2".to_owned(),
            (Select::ApplyingMany, _) => "true".to_owned(),
            (Select::SessionPage, _) => format!("t.merchant_id = {merchant} AND t.sn > $3 ORDER BY t.sn LIMIT $4"),
        }
    )
}

/// The statements My Devices runs on this backend: by merchant ([`page`], `$1` the merchant,
/// `$2` the SN after which, `$3` how many) and by session ([`page_of_session`]). For reading
/// their plans with `EXPLAIN`, as an operator or a test does.
pub fn page_statements(backend: crate::Backend) -> [&'static str; 2] {
    let postgres = backend == crate::Backend::Postgres;
    [sql(postgres, Select::Page), sql(postgres, Select::SessionPage)]
}

/// The rows of a fact the database built as a JSON array of arrays, each read straight into
/// its tuple (no JSON values in between: a tenth of My Devices' time went to them). SQL's NULL
/// and JSON's `null` (an aggregate of no rows) are no rows.
fn json<T: serde::de::DeserializeOwned>(text: Option<String>) -> Result<Vec<T>, StoreError> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let rows: Option<Vec<T>> = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{e}: {text}")))?;
    Ok(rows.unwrap_or_default())
}

/// One row of the statement as stored, from either driver.
struct RawRow {
    terminal: terminals::Raw,
    transfers: Option<String>,
    volumes: Option<String>,
    open_application: Option<String>,
    risk_frozen: Option<i64>,
    owed: Option<String>,
}

impl RawRow {
    fn of_row(row: &Row) -> Result<RawRow, StoreError> {
        Ok(RawRow {
            terminal: terminals::raw(row)?,
            transfers: row.try_get("transfers")?,
            volumes: row.try_get("volumes")?,
            open_application: row.try_get("open_application")?,
            risk_frozen: row.try_get("risk_frozen")?,
            owed: row.try_get("owed")?,
        })
    }

    /// By position: the terminal's columns, then the facts in the statement's order.
    fn of_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
        let facts = terminals::COLUMN_COUNT;
        Ok(RawRow {
            terminal: terminals::Raw::of_sqlite(row)?,
            transfers: row.get(facts)?,
            volumes: row.get(facts + 1)?,
            open_application: row.get(facts + 2)?,
            risk_frozen: row.get(facts + 3)?,
            owed: row.get(facts + 4)?,
        })
    }
}

/// A page of the merchant's terminals by SN after `after_sn`, each with its facts, and the
/// merchant's facts (default when the page is empty: nothing to assess). On a SQLite file the
/// statement runs on the synchronous reader.
pub async fn page(
    db: &Db,
    merchant_id: &str,
    after_sn: &str,
    limit: i64,
) -> Result<(Vec<TerminalFacts>, MerchantFacts), StoreError> {
    facts(committed(db, Select::Page, |q| q.bind(merchant_id).bind(after_sn).bind(limit)).await?)
}

/// [`page`] for the merchant whose live session's token hashes to `token_hash` at `now_ms`,
/// with the session looked up in the same statement: one read where a request made two (on
/// SQLite one read transaction, most of what a lookup costs; on PostgreSQL one round trip).
/// Nothing for a token without a live merchant session, as for a page past the last terminal:
/// a caller that finds nothing asks [`super::sessions::live`] which it was.
pub async fn page_of_session(
    db: &Db,
    token_hash: &str,
    now_ms: i64,
    after_sn: &str,
    limit: i64,
) -> Result<(Vec<TerminalFacts>, MerchantFacts), StoreError> {
    facts(committed(db, Select::SessionPage, |q| q.bind(token_hash).bind(now_ms).bind(after_sn).bind(limit)).await?)
}

/// The merchant's terminals with these ids, each with its facts, and the merchant's facts, as
/// committed now: outside any transaction, so on a SQLite file on the synchronous reader (a
/// batch job's many terminals without a hand-off per row). A use case that writes next reads
/// with [`of_terminals`] in its transaction instead.
pub async fn of_terminals_committed(
    db: &Db,
    merchant_id: &str,
    ids: &[String],
) -> Result<(Vec<TerminalFacts>, MerchantFacts), StoreError> {
    let ids = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    facts(committed(db, Select::Ids, |q| q.bind(merchant_id).bind(ids)).await?)
}

/// Runs the statement for `select` with the values `bind` gives it, outside any transaction
/// (one statement is one snapshot): on a SQLite file on the synchronous reader, its rows read
/// by position; otherwise on a connection for hot reads ([`Db::read_connection`]).
async fn committed<'q>(
    db: &Db,
    select: Select,
    bind: impl FnOnce(Query<'q>) -> Query<'q>,
) -> Result<Vec<RawRow>, StoreError> {
    let postgres = db.backend() == crate::Backend::Postgres;
    let query = bind(query(sql(postgres, select)));
    if let Some(reader) = db.sqlite_reader() {
        return reader.read(|conn| {
            let mut statement = crate::sql::prepare_bound(conn, &query)?;
            let mut rows = statement.raw_query();
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(RawRow::of_sqlite(row)?);
            }
            Ok(out)
        });
    }
    let mut conn = db.read_connection().await?;
    conn.rows(&query).await?.iter().map(RawRow::of_row).collect()
}

/// The terminals with these ids (the merchant's), each with its facts, and the merchant's
/// facts, in one statement on `conn`: a use case's transaction sees what it reads here and
/// what it writes next as one.
pub async fn of_terminals(
    conn: &mut Conn,
    merchant_id: &str,
    ids: &[String],
) -> Result<(Vec<TerminalFacts>, MerchantFacts), StoreError> {
    let postgres = conn.backend() == crate::Backend::Postgres;
    let ids = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let rows = query(sql(postgres, Select::Ids)).bind(merchant_id).bind(ids).fetch_all(&mut *conn).await?;
    facts(rows.iter().map(RawRow::of_row).collect::<Result<Vec<_>, StoreError>>()?)
}

/// The merchant's terminal with this SN (another merchant's is not found) with its facts, and
/// the merchant's facts, in one statement on `conn`, as [`of_terminals`].
pub async fn of_sn(
    conn: &mut Conn,
    merchant_id: &str,
    sn: &str,
) -> Result<Option<(TerminalFacts, MerchantFacts)>, StoreError> {
    let postgres = conn.backend() == crate::Backend::Postgres;
    let rows = query(sql(postgres, Select::Sn)).bind(merchant_id).bind(sn).fetch_all(&mut *conn).await?;
    let (mut terminals, merchant) = facts(rows.iter().map(RawRow::of_row).collect::<Result<Vec<_>, StoreError>>()?)?;
    Ok(terminals.pop().map(|terminal| (terminal, merchant)))
}

/// What an application for the merchant's terminal with this SN reads, in one statement on
/// `conn` (its transaction): the terminal with its facts, the merchant's facts, and the
/// [`Applicant`] with its identity mismatches counted from `misses_since_ms`. None: the
/// merchant has no terminal with this SN.
pub async fn for_application(
    conn: &mut Conn,
    merchant_id: &str,
    sn: &str,
    misses_since_ms: i64,
) -> Result<Option<(TerminalFacts, MerchantFacts, Applicant)>, StoreError> {
    let postgres = conn.backend() == crate::Backend::Postgres;
    let rows = query(sql(postgres, Select::Applying))
        .bind(merchant_id)
        .bind(sn)
        .bind(misses_since_ms)
        .fetch_all(&mut *conn)
        .await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let applicant = super::merchants::applicant_of_row(row)?;
    let (mut terminals, merchant) = facts(vec![RawRow::of_row(row)?])?;
    Ok(terminals.pop().map(|terminal| (terminal, merchant, applicant)))
}

/// [`for_application`] for a batch of applications, in one statement: for each (merchant,
/// SN) of `wanted`, in order, what it reads (None where the merchant has no such terminal).
pub async fn for_applications(
    conn: &mut Conn,
    wanted: &[(&str, &str)],
    misses_since_ms: i64,
) -> Result<Vec<Option<(TerminalFacts, MerchantFacts, Applicant)>>, StoreError> {
    let mut found: Vec<Option<(TerminalFacts, MerchantFacts, Applicant)>> = wanted.iter().map(|_| None).collect();
    if wanted.is_empty() {
        return Ok(found);
    }
    let postgres = conn.backend() == crate::Backend::Postgres;
    let rows: Vec<(usize, &str, &str)> = wanted.iter().enumerate().map(|(i, (m, sn))| (i, *m, *sn)).collect();
    let rows = query(sql(postgres, Select::ApplyingMany))
        .bind(crate::json_array(&rows)?)
        .bind(misses_since_ms)
        .fetch_all(&mut *conn)
        .await?;
    for row in &rows {
        let request: i64 = row.try_get("request")?;
        let slot = usize::try_from(request).ok().and_then(|i| found.get_mut(i));
        let Some(slot) = slot else { return Err(StoreError::Corrupt(format!("no request {request} in the batch"))) };
        let applicant = super::merchants::applicant_of_row(row)?;
        let (mut terminals, merchant) = facts(vec![RawRow::of_row(row)?])?;
        *slot = terminals.pop().map(|terminal| (terminal, merchant, applicant));
    }
    Ok(found)
}

fn facts(rows: Vec<RawRow>) -> Result<(Vec<TerminalFacts>, MerchantFacts), StoreError> {
    let mut merchant = MerchantFacts::default();
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        if i == 0 {
            merchant.risk_frozen = row.risk_frozen == Some(1);
            let owed: Vec<(String, Option<String>, String, i64, i64)> = json(row.owed)?;
            for (id, terminal_id, kind, amount_fen, due_at) in owed {
                let owed =
                    OwedItem { id, kind, amount_fen: Fen::new(amount_fen), due_at: Timestamp::from_millis(due_at) };
                merchant.owed.push((terminal_id, owed));
            }
        }
        let mut deposit = DepositFigures::default();
        let transfers: Vec<(String, String, i64)> = json(row.transfers)?;
        for (code, state, amount_fen) in transfers {
            add_to_figures(&mut deposit, &code, &state, Fen::new(amount_fen))?;
        }
        let volumes: Vec<(String, i64)> = json(row.volumes)?;
        let volumes = volumes.into_iter().map(|(kind, volume_fen)| (kind, Fen::new(volume_fen))).collect();
        out.push(TerminalFacts {
            terminal: row.terminal.into_terminal()?,
            deposit,
            volumes,
            open_application: row.open_application.as_deref().map(OpenApplication::from_json).transpose()?,
        });
    }
    Ok((out, merchant))
}
