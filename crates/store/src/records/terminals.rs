//! Terminals, the deposits collected for them, and their usage transactions.

use std::collections::{HashMap, HashSet};

use crate::sql::{query, Conn, Row};
use yajin_core::eligibility::TerminalStatus;
use yajin_core::ids::{TerminalId, TerminalSn};
use yajin_core::plan::{DepositPlan, TxnKind};
use yajin_core::{Fen, Timestamp};

use crate::{new_id, Db, StoreError};

pub struct NewTerminal {
    pub merchant_id: String,
    pub sn: TerminalSn,
    pub terminal_id: TerminalId,
    pub model: String,
    pub status: TerminalStatus,
    pub plan_id: String,
    pub plan_snapshot: DepositPlan,
    pub bound_at: Timestamp,
    pub activated_at: Option<Timestamp>,
    pub terminated_at: Option<Timestamp>,
    pub device_returned_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminal {
    pub id: String,
    pub merchant_id: String,
    pub sn: String,
    pub terminal_id: String,
    pub model: String,
    pub status: TerminalStatus,
    pub plan: DepositPlan,
    pub bound_at: Timestamp,
    pub activated_at: Option<Timestamp>,
    pub terminated_at: Option<Timestamp>,
    pub device_returned_at: Option<Timestamp>,
}

pub async fn insert(conn: &mut Conn, t: &NewTerminal, now_ms: i64) -> Result<String, StoreError> {
    let id = new_id("tm");
    if insert_many(conn, &[(id.as_str(), t)], now_ms).await?.is_empty() {
        return Err(StoreError::Conflict(format!("terminal {} or {} is taken", t.sn.as_str(), t.terminal_id.as_str())));
    }
    Ok(id)
}

/// The terminals, each under the id given with it, in one statement. A terminal whose SN or
/// terminal id is taken (by one already there, or by an earlier one of these) is not written;
/// returns the ids of those that were.
pub async fn insert_many(
    conn: &mut Conn,
    terminals: &[(&str, &NewTerminal)],
    now_ms: i64,
) -> Result<HashSet<String>, StoreError> {
    if terminals.is_empty() {
        return Ok(HashSet::new());
    }
    // A batch's terminals share few plans: each snapshot is written out once.
    let mut snapshots: HashMap<&str, String> = HashMap::new();
    let mut rows = Vec::with_capacity(terminals.len());
    for (id, t) in terminals {
        let snapshot = match snapshots.get(t.plan_id.as_str()) {
            Some(s) => s.clone(),
            None => {
                let s = serde_json::to_string(&t.plan_snapshot).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                snapshots.insert(&t.plan_id, s.clone());
                s
            }
        };
        let count_until = t.activated_at.and_then(|at| t.plan_snapshot.counting_window(at)).map(|(_, until)| until);
        rows.push(serde_json::json!([
            id,
            t.merchant_id,
            t.sn.as_str(),
            t.terminal_id.as_str(),
            t.model,
            t.status.as_str(),
            t.plan_id,
            snapshot,
            t.bound_at.millis(),
            t.activated_at.map(Timestamp::millis),
            t.terminated_at.map(Timestamp::millis),
            t.device_returned_at.map(Timestamp::millis),
            count_until.map(Timestamp::millis),
            now_ms,
        ]));
    }
    let source = crate::json_rows(
        conn,
        &[
            ("id", "TEXT"),
            ("merchant_id", "TEXT"),
            ("sn", "TEXT"),
            ("terminal_id", "TEXT"),
            ("model", "TEXT"),
            ("status", "TEXT"),
            ("plan_id", "TEXT"),
            ("plan_snapshot", "TEXT"),
            ("bound_at", "BIGINT"),
            ("activated_at", "BIGINT"),
            ("terminated_at", "BIGINT"),
            ("device_returned_at", "BIGINT"),
            ("count_until", "BIGINT"),
            ("created_at", "BIGINT"),
        ],
    );
    let sql = format!(
        "INSERT INTO terminals (id, merchant_id, sn, terminal_id, model, status, plan_id, plan_snapshot,
            bound_at, activated_at, terminated_at, device_returned_at, count_until, created_at)
         {source} WHERE true ON CONFLICT DO NOTHING RETURNING id"
    );
    let inserted = query(&sql).bind(crate::json_array(&rows)?).fetch_all(conn).await?;
    inserted.iter().map(|r| r.try_get("id")).collect()
}

pub(crate) const COLUMNS: &str =
    "id, merchant_id, sn, terminal_id, model, status, plan_snapshot, bound_at, activated_at,
    terminated_at, device_returned_at";

/// A terminal's columns as stored (see [`COLUMNS`]), from either driver.
pub(crate) struct Raw {
    pub id: String,
    pub merchant_id: String,
    pub sn: String,
    pub terminal_id: String,
    pub model: String,
    pub status: String,
    pub plan_snapshot: String,
    pub bound_at: i64,
    pub activated_at: Option<i64>,
    pub terminated_at: Option<i64>,
    pub device_returned_at: Option<i64>,
}

impl Raw {
    pub(crate) fn into_terminal(self) -> Result<Terminal, StoreError> {
        let status = self.status;
        Ok(Terminal {
            id: self.id,
            merchant_id: self.merchant_id,
            sn: self.sn,
            terminal_id: self.terminal_id,
            model: self.model,
            status: TerminalStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("terminal status {status}")))?,
            plan: super::plans::parse(&self.plan_snapshot)?,
            bound_at: Timestamp::from_millis(self.bound_at),
            activated_at: self.activated_at.map(Timestamp::from_millis),
            terminated_at: self.terminated_at.map(Timestamp::from_millis),
            device_returned_at: self.device_returned_at.map(Timestamp::from_millis),
        })
    }

    /// From a row of the synchronous SQLite reader whose first columns are [`COLUMNS`], by
    /// position (a lookup by name compares each column's name, every row).
    pub(crate) fn of_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
        Ok(Raw {
            id: row.get(0)?,
            merchant_id: row.get(1)?,
            sn: row.get(2)?,
            terminal_id: row.get(3)?,
            model: row.get(4)?,
            status: row.get(5)?,
            plan_snapshot: row.get(6)?,
            bound_at: row.get(7)?,
            activated_at: row.get(8)?,
            terminated_at: row.get(9)?,
            device_returned_at: row.get(10)?,
        })
    }
}

/// How many columns [`COLUMNS`] names.
pub(crate) const COLUMN_COUNT: usize = {
    let (bytes, mut i, mut commas) = (COLUMNS.as_bytes(), 0, 0);
    while i < bytes.len() {
        commas += (bytes[i] == b',') as usize;
        i += 1;
    }
    commas + 1
};

pub(crate) fn from_row(row: &Row) -> Result<Terminal, StoreError> {
    raw(row)?.into_terminal()
}

pub(crate) fn raw(row: &Row) -> Result<Raw, StoreError> {
    Ok(Raw {
        id: row.try_get("id")?,
        merchant_id: row.try_get("merchant_id")?,
        sn: row.try_get("sn")?,
        terminal_id: row.try_get("terminal_id")?,
        model: row.try_get("model")?,
        status: row.try_get("status")?,
        plan_snapshot: row.try_get("plan_snapshot")?,
        bound_at: row.try_get("bound_at")?,
        activated_at: row.try_get("activated_at")?,
        terminated_at: row.try_get("terminated_at")?,
        device_returned_at: row.try_get("device_returned_at")?,
    })
}

pub async fn by_id(conn: &mut Conn, id: &str) -> Result<Option<Terminal>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM terminals WHERE id = $1")).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// Of these terminals (any number of ids, bound as one JSON array), the ones not yet told
/// their activation target was met, as `(terminal id, merchant id)`: committed data, read
/// outside any transaction (on a SQLite file, on the synchronous reader).
pub async fn not_yet_reached(db: &Db, ids: &[String]) -> Result<Vec<(String, String)>, StoreError> {
    const WHERE: &str = "AND target_reached_at IS NULL ORDER BY id";
    let ids = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if let Some(reader) = db.sqlite_reader() {
        return reader.read(|conn| {
            let sql =
                format!("SELECT id, merchant_id FROM terminals WHERE id IN (SELECT value FROM json_each($1)) {WHERE}");
            let mut statement = conn.prepare_cached(&sql)?;
            let rows = statement.query_map(rusqlite::named_params! {"$1": ids}, |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        });
    }
    let mut conn = db.pool().acquire().await?;
    let sql = format!("SELECT id, merchant_id FROM terminals WHERE id IN ({}) {WHERE}", crate::json_list(&conn));
    let rows = query(&sql).bind(ids).fetch_all(&mut *conn).await?;
    rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("merchant_id")?))).collect()
}

/// Many terminals by id, in one query.
pub async fn by_ids(conn: &mut Conn, ids: &[String]) -> Result<Vec<Terminal>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {COLUMNS} FROM terminals WHERE id IN ({})", crate::placeholders(1, ids.len()));
    let rows = crate::query_in(&sql, ids).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// A merchant's terminal by SN; another merchant's terminal is not found.
pub async fn by_sn(conn: &mut Conn, merchant_id: &str, sn: &str) -> Result<Option<Terminal>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM terminals WHERE sn = $1 AND merchant_id = $2"))
        .bind(sn)
        .bind(merchant_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// A page of the merchant's terminals in SN order, after `after_sn`.
pub async fn of_merchant(
    conn: &mut Conn,
    merchant_id: &str,
    after_sn: &str,
    limit: i64,
) -> Result<Vec<Terminal>, StoreError> {
    let rows =
        query(&format!("SELECT {COLUMNS} FROM terminals WHERE merchant_id = $1 AND sn > $2 ORDER BY sn LIMIT $3"))
            .bind(merchant_id)
            .bind(after_sn)
            .bind(limit)
            .fetch_all(conn)
            .await?;
    rows.iter().map(from_row).collect()
}

/// An inactive (never used) terminal is terminated: refused on delivery or sent back.
pub async fn terminate_unused(conn: &mut Conn, id: &str, at_ms: i64) -> Result<bool, StoreError> {
    let n =
        query("UPDATE terminals SET status = 'terminated', terminated_at = $1 WHERE id = $2 AND status = 'inactive'")
            .bind(at_ms)
            .bind(id)
            .execute(conn)
            .await?
            .rows_affected();
    Ok(n == 1)
}

/// An inactive terminal's first transaction: it is active from `at`, under the plan version
/// in force then (its snapshot, fixed from now on); false if it was not inactive.
pub async fn activate(
    conn: &mut Conn,
    id: &str,
    plan_id: &str,
    plan: &DepositPlan,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let snapshot = serde_json::to_string(plan).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let n = query(
        "UPDATE terminals SET status = 'active', activated_at = $1, plan_id = $2, plan_snapshot = $3, count_until = $4
         WHERE id = $5 AND status = 'inactive'",
    )
    .bind(at.millis())
    .bind(plan_id)
    .bind(snapshot)
    .bind(plan.counting_window(at).map(|(_, until)| until.millis()))
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A page of the terminals of an agent's merchants in SN order, after `after_sn`.
pub async fn page_of_agent(
    conn: &mut Conn,
    agent_id: &str,
    after_sn: &str,
    limit: i64,
) -> Result<Vec<Terminal>, StoreError> {
    let rows = query(&format!(
        "SELECT {COLUMNS} FROM terminals
         WHERE merchant_id IN (SELECT id FROM merchants WHERE agent_id = $1) AND sn > $2 ORDER BY sn LIMIT $3"
    ))
    .bind(agent_id)
    .bind(after_sn)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    pub id: String,
    pub amount: Fen,
    pub fee: Fen,
    pub kind: String,
    pub occurred_at: Timestamp,
}

/// A page of a terminal's usage, newest first, strictly before the cursor `(occurred_at, id)`.
pub async fn usage_page(
    conn: &mut Conn,
    terminal_id: &str,
    before: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<Usage>, StoreError> {
    let (at, id) = before.unwrap_or((i64::MAX, String::new()));
    let rows = query(
        "SELECT id, amount_fen, fee_fen, kind, occurred_at FROM usage_transactions
         WHERE terminal_id = $1 AND (occurred_at < $2 OR (occurred_at = $2 AND id < $3))
         ORDER BY occurred_at DESC, id DESC LIMIT $4",
    )
    .bind(terminal_id)
    .bind(at)
    .bind(if id.is_empty() { "\u{10FFFF}".to_owned() } else { id })
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Usage {
                id: r.try_get("id")?,
                amount: Fen::new(r.try_get("amount_fen")?),
                fee: Fen::new(r.try_get("fee_fen")?),
                kind: r.try_get("kind")?,
                occurred_at: Timestamp::from_millis(r.try_get("occurred_at")?),
            })
        })
        .collect()
}

pub struct NewDeposit {
    pub terminal_id: String,
    pub merchant_id: String,
    pub amount: Fen,
    pub route: &'static str,
    pub route_ref: String,
    pub collected_at: Timestamp,
}

/// Records the deposit rows in one statement; the money itself is each one's `collect_deposit`
/// transfer, which the caller creates in the same transaction.
pub async fn insert_deposits(conn: &mut Conn, deposits: &[NewDeposit]) -> Result<(), StoreError> {
    if deposits.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = deposits
        .iter()
        .map(|d| {
            serde_json::json!([
                new_id("dp"),
                d.terminal_id,
                d.merchant_id,
                d.amount.get(),
                d.route,
                d.route_ref,
                d.collected_at.millis()
            ])
        })
        .collect();
    let source = crate::json_rows(
        conn,
        &[
            ("id", "TEXT"),
            ("terminal_id", "TEXT"),
            ("merchant_id", "TEXT"),
            ("amount_fen", "BIGINT"),
            ("route", "TEXT"),
            ("route_ref", "TEXT"),
            ("collected_at", "BIGINT"),
        ],
    );
    let sql = format!(
        "INSERT INTO deposits (id, terminal_id, merchant_id, amount_fen, route, route_ref, collected_at) {source}"
    );
    query(&sql).bind(crate::json_array(&rows)?).execute(conn).await?;
    Ok(())
}

/// Records the deposit row; the money itself is the ledger's `collect_deposit` transfer, which
/// the caller creates in the same transaction.
pub async fn insert_deposit(conn: &mut Conn, d: &NewDeposit) -> Result<(), StoreError> {
    insert_deposits(conn, std::slice::from_ref(d)).await
}

#[derive(Clone, Debug)]
pub struct NewUsage {
    pub terminal_id: String,
    pub amount: Fen,
    pub fee: Fen,
    pub kind: TxnKind,
    pub occurred_at: Timestamp,
}

/// A new usage record's columns in the table's order, with a new id:
/// `(id, terminal_id, amount_fen, fee_fen, kind, occurred_at, ref)`.
pub(crate) type UsageColumns<'a> = (String, &'a str, i64, i64, &'static str, i64, &'a str);

impl NewUsage {
    /// This record under `reference`, as the columns of a new row.
    pub(crate) fn columns<'a>(&'a self, reference: &'a str) -> UsageColumns<'a> {
        let u = self;
        (new_id("tx"), &u.terminal_id, u.amount.get(), u.fee.get(), u.kind.as_str(), u.occurred_at.millis(), reference)
    }
}

pub async fn insert_usage(conn: &mut Conn, u: &NewUsage) -> Result<String, StoreError> {
    let id = new_id("tx");
    query(
        "INSERT INTO usage_transactions (id, terminal_id, amount_fen, fee_fen, kind, occurred_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&u.terminal_id)
    .bind(u.amount.get())
    .bind(u.fee.get())
    .bind(u.kind.as_str())
    .bind(u.occurred_at.millis())
    .execute(conn)
    .await?;
    Ok(id)
}

/// Marks the activation target as met, once: false if it was marked before.
pub async fn mark_target_reached(conn: &mut Conn, terminal_id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let n = query("UPDATE terminals SET target_reached_at = $1 WHERE id = $2 AND target_reached_at IS NULL")
        .bind(now_ms)
        .bind(terminal_id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Any merchant's terminal by SN (the back office).
pub async fn by_sn_any(conn: &mut Conn, sn: &str) -> Result<Option<Terminal>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM terminals WHERE sn = $1")).bind(sn).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// The terminals with these SNs (any merchant's), in one statement.
pub async fn by_sns(conn: &mut Conn, sns: &[String]) -> Result<Vec<Terminal>, StoreError> {
    if sns.is_empty() {
        return Ok(Vec::new());
    }
    // Each SN once (an import's rows name few terminals many times).
    let mut distinct: Vec<&String> = sns.iter().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let list = crate::json_list(conn);
    let rows = query(&format!("SELECT {COLUMNS} FROM terminals WHERE sn IN ({list})"))
        .bind(crate::json_array(&distinct)?)
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Records the returned device; false if it was recorded already.
pub async fn record_device_received(
    conn: &mut Conn,
    id: &str,
    waybill_no: &str,
    condition: &str,
    at_ms: i64,
) -> Result<bool, StoreError> {
    let n = query(
        "UPDATE terminals SET device_returned_at = $1, device_waybill_no = $2, device_condition = $3
         WHERE id = $4 AND device_returned_at IS NULL",
    )
    .bind(at_ms)
    .bind(waybill_no)
    .bind(condition)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Ends the binding of a terminated terminal to its merchant (解绑) once its deposit is paid
/// back (an active terminal stays bound): one statement, nothing read first.
pub async fn unbind_if_terminated(conn: &mut Conn, id: &str, at_ms: i64) -> Result<(), StoreError> {
    query("UPDATE terminals SET unbound_at = $1 WHERE id = $2 AND unbound_at IS NULL AND status = $3")
        .bind(at_ms)
        .bind(id)
        .bind(TerminalStatus::Terminated.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts usage records carrying the acquirer's references, in one statement; a reference
/// recorded already (or earlier in `rows`) is skipped, so a batch sent again adds nothing.
/// Returns how many were new. The rows go in the order of their references: two batches that
/// share references at once wait on each other's keys, never deadlock.
pub async fn insert_usage_many(conn: &mut Conn, rows: &[(String, NewUsage)]) -> Result<u64, StoreError> {
    let mut seen = HashSet::new();
    let mut rows: Vec<&(String, NewUsage)> = rows.iter().filter(|(reference, _)| seen.insert(reference)).collect();
    if rows.is_empty() {
        return Ok(0);
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let values: Vec<_> = rows.iter().map(|(reference, u)| u.columns(reference)).collect();
    let source = crate::json_rows(
        conn,
        &[
            ("id", "TEXT"),
            ("terminal_id", "TEXT"),
            ("amount_fen", "BIGINT"),
            ("fee_fen", "BIGINT"),
            ("kind", "TEXT"),
            ("occurred_at", "BIGINT"),
            ("ref", "TEXT"),
        ],
    );
    let sql = format!(
        "INSERT INTO usage_transactions (id, terminal_id, amount_fen, fee_fen, kind, occurred_at, ref)
         {source} WHERE true ON CONFLICT (ref) DO NOTHING"
    );
    // Rows this statement inserted (what its trigger wrote is not counted).
    Ok(query(&sql).bind(crate::json_array(&values)?).execute(conn).await?.rows_affected())
}

/// The terminals with these SNs (any merchant's): id by SN.
pub async fn ids_by_sns(conn: &mut Conn, sns: &[String]) -> Result<Vec<(String, String)>, StoreError> {
    if sns.is_empty() {
        return Ok(Vec::new());
    }
    // Each SN once, in one JSON array.
    let mut distinct: Vec<&String> = sns.iter().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let list = crate::json_list(conn);
    let rows = query(&format!("SELECT sn, id FROM terminals WHERE sn IN ({list})"))
        .bind(crate::json_array(&distinct)?)
        .fetch_all(conn)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("sn")?, r.try_get("id")?))).collect()
}

/// How many of these references are not recorded yet (a dry run's count of what would load).
pub async fn count_new_refs(conn: &mut Conn, refs: &[String]) -> Result<u64, StoreError> {
    if refs.is_empty() {
        return Ok(0);
    }
    let list = crate::json_list(conn);
    let row = query(&format!("SELECT COUNT(*) AS n FROM usage_transactions WHERE ref IN ({list})"))
        .bind(crate::json_array(refs)?)
        .fetch_one(conn)
        .await?;
    let recorded: i64 = row.try_get("n")?;
    Ok(refs.len() as u64 - recorded as u64)
}

/// The next `limit` usage records after `after_id` (ids sort in the order they were made),
/// summed up per terminal: `(terminal_id, records, last id)`. A page of thousands of records
/// comes back as one row a terminal. Committed records, read outside any transaction (on a
/// SQLite file, on the synchronous reader).
pub async fn usage_after(db: &Db, after_id: &str, limit: i64) -> Result<Vec<(String, i64, String)>, StoreError> {
    const SQL: &str = "SELECT terminal_id, count(*) AS records, max(id) AS last FROM
           (SELECT id, terminal_id FROM usage_transactions WHERE id > $1 ORDER BY id LIMIT $2) page
         GROUP BY terminal_id";
    if let Some(reader) = db.sqlite_reader() {
        return reader.read(|conn| {
            let mut statement = conn.prepare_cached(SQL)?;
            let rows = statement.query_map(rusqlite::named_params! {"$1": after_id, "$2": limit}, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        });
    }
    let mut conn = db.pool().acquire().await?;
    let rows = query(SQL).bind(after_id).bind(limit).fetch_all(&mut *conn).await?;
    rows.iter().map(|r| Ok((r.try_get("terminal_id")?, r.try_get("records")?, r.try_get("last")?))).collect()
}

/// Which reminder of its activation window a terminal is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowReminder {
    /// The window closes within the notice period, the target not met yet.
    Closing,
    /// The window has closed with the target not met.
    Closed,
}

/// Active terminals whose window reminder is due and not yet sent, up to `limit`: the window
/// closes within `notice_ms` of `now_ms` (or has closed) and the target is not met.
pub async fn window_reminders_due(
    conn: &mut Conn,
    now_ms: i64,
    notice_ms: i64,
    limit: i64,
) -> Result<Vec<(Terminal, WindowReminder)>, StoreError> {
    let rows = query(&format!(
        "SELECT {COLUMNS}, count_until FROM terminals
         WHERE status = 'active' AND count_until IS NOT NULL AND target_reached_at IS NULL
           AND ((count_until >= $1 AND count_until < $2 AND window_closing_told_at IS NULL)
             OR (count_until < $1 AND window_closed_told_at IS NULL))
         ORDER BY count_until LIMIT $3"
    ))
    .bind(now_ms)
    .bind(now_ms + notice_ms)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let until: i64 = row.try_get("count_until")?;
            let which = if until < now_ms { WindowReminder::Closed } else { WindowReminder::Closing };
            Ok((from_row(row)?, which))
        })
        .collect()
}

/// Marks the reminder sent; false when it already was (another server sent it).
pub async fn mark_window_told(
    conn: &mut Conn,
    terminal_id: &str,
    which: WindowReminder,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let column = match which {
        WindowReminder::Closing => "window_closing_told_at",
        WindowReminder::Closed => "window_closed_told_at",
    };
    let n = query(&format!("UPDATE terminals SET {column} = $1 WHERE id = $2 AND {column} IS NULL"))
        .bind(now_ms)
        .bind(terminal_id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}
