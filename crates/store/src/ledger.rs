//! The ledger persisted: transfers are rows that never change but for `pending` → `posted` /
//! `voided`, once; account counters move only here, in the caller's transaction, through
//! conditional updates whose rows-affected is checked. The CHECK constraints in the schema
//! are the second line of defence.
//!
//! Accounts are taken in one order, by id: each ledger call takes every account it will move
//! before it moves any ([`take_accounts`]; a post or a void updates its two accounts in that
//! order), and a use case that makes several calls holds all of their accounts first
//! ([`hold_accounts_of`]). Two transactions sharing accounts (the
//! company's are shared by every refund) then wait on each other in turn, never in a circle:
//! on PostgreSQL a circle is a deadlock, and one of the two fails.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::sql::{query, Conn, Row};
use yajin_core::eligibility::DepositFigures;
use yajin_core::ledger::{
    check_shape, AccountKey, Balance, Created, LedgerError, Transfer, TransferCode, TransferState,
};
use yajin_core::Fen;

use crate::StoreError;

/// Creates transfers (in the caller's transaction: all of them or, on error, none once the
/// caller rolls back). A transfer whose id exists with the same fields is "already exists".
pub async fn create(conn: &mut Conn, transfers: &[Transfer], now_ms: i64) -> Result<Vec<Created>, StoreError> {
    for t in transfers {
        check_shape(t)?;
    }
    // Every account the transfers name, created and taken in id order (not two a transfer).
    take_accounts(conn, transfers.iter().flat_map(|t| [&t.debit, &t.credit])).await?;
    let mut out = Vec::with_capacity(transfers.len());
    for t in transfers {
        out.push(create_one(conn, t, now_ms).await?);
    }
    Ok(out)
}

/// One transfer whose shape is checked and whose accounts exist.
async fn create_one(conn: &mut Conn, t: &Transfer, now_ms: i64) -> Result<Created, StoreError> {
    if !insert_transfer(conn, t, now_ms).await? {
        return already_there(conn, t).await;
    }
    let (debit_col, credit_col) =
        if t.pending { ("debits_pending", "credits_pending") } else { ("debits_posted", "credits_posted") };
    // debits_must_not_exceed_credits, as a conditional update.
    let debited = query(&format!(
        "UPDATE ledger_accounts SET {debit_col} = {debit_col} + $1
         WHERE id = $2 AND (debits_must_not_exceed_credits = 0 OR debits_pending + debits_posted + $1 <= credits_posted)"
    ))
    .bind(t.amount.get())
    .bind(t.debit.id())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if debited != 1 {
        return Err(LedgerError::ExceedsCredits(t.debit.id()).into());
    }
    query(&format!("UPDATE ledger_accounts SET {credit_col} = {credit_col} + $1 WHERE id = $2"))
        .bind(t.amount.get())
        .bind(t.credit.id())
        .execute(&mut *conn)
        .await?;
    Ok(Created::New)
}

/// A transfer whose id was there already: the same transfer ("already exists"), or an error
/// if its fields differ.
async fn already_there(conn: &mut Conn, t: &Transfer) -> Result<Created, StoreError> {
    let existing =
        load(conn, &t.id).await?.ok_or_else(|| StoreError::Corrupt(format!("transfer {} vanished", t.id)))?;
    if !same_fields(&existing.0, t) {
        return Err(LedgerError::ExistsWithDifferentFields(t.id.clone()).into());
    }
    Ok(Created::AlreadyExists)
}

/// Inserts the transfer's row unless one with its id is there: whether it inserted it.
async fn insert_transfer(conn: &mut Conn, t: &Transfer, now_ms: i64) -> Result<bool, StoreError> {
    let state = if t.pending { TransferState::Pending } else { TransferState::Posted };
    let inserted = query(
        "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount_fen, code, created_pending, state, reference, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&t.id)
    .bind(t.debit.id())
    .bind(t.credit.id())
    .bind(t.amount.get())
    .bind(t.code.as_str())
    .bind(i64::from(t.pending))
    .bind(state.as_str())
    .bind(&t.reference)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Creates many transfers (an import batch's, an approval's) with the rows and counters
/// [`create`] would give them, in a few statements whatever their number on PostgreSQL (a
/// statement a row on SQLite: [`insert_transfers`]), but for one thing: an account whose
/// debits must not exceed its credits is checked once, on the batch's net effect on it, not
/// after each transfer. All of it or, on error, none once the caller rolls back.
pub async fn create_many(conn: &mut Conn, transfers: &[Transfer], now_ms: i64) -> Result<Vec<Created>, StoreError> {
    if transfers.is_empty() {
        return Ok(Vec::new());
    }
    for t in transfers {
        check_shape(t)?;
    }
    take_accounts(conn, transfers.iter().flat_map(|t| [&t.debit, &t.credit])).await?;
    let (created, moves) = insert_counting(conn, transfers, now_ms).await?;
    move_accounts(conn, &moves).await?;
    Ok(created)
}

/// Posts pending transfers (`posting`, as [`post_many`]) and creates others (`creating`, as
/// [`create_many`]), taking every account they move first, in the ledger's order, and moving
/// each account's counters once for both: a payout's success, which turns the reservation into
/// the refund and records what the bank paid. On PostgreSQL five statements, three of them
/// after the shared accounts are taken (where [`hold_accounts_of`], [`post_many`] and
/// [`create_many`] made eight, six after): every other approval and payout waits for those
/// (docs/benchmarks.md, session 29). All of it or, on error, none once the caller rolls back.
pub async fn post_and_create(
    conn: &mut Conn,
    posting: &[&Transfer],
    creating: &[Transfer],
    now_ms: i64,
) -> Result<(), StoreError> {
    for t in creating {
        check_shape(t)?;
    }
    let accounts = posting.iter().copied().chain(creating).flat_map(|t| [&t.debit, &t.credit]);
    take_accounts(conn, accounts).await?;
    let ids: Vec<&str> = posting.iter().map(|t| t.id.as_str()).collect();
    let mut moves = post_counting(conn, &ids, now_ms).await?;
    if !creating.is_empty() {
        for (id, m) in insert_counting(conn, creating, now_ms).await?.1 {
            let total = moves.entry(id).or_default();
            for (n, add) in total.iter_mut().zip(m) {
                *n += add;
            }
        }
    }
    move_accounts(conn, &moves).await
}

/// Inserts the transfers (see [`insert_transfers`]) and counts what those new here move: what
/// each one was (new, or the same one already there), and each account's counters to move
/// (pending and posted debits, pending and posted credits). A transfer already there with
/// other fields is an error, as in [`create`].
async fn insert_counting(
    conn: &mut Conn,
    transfers: &[Transfer],
    now_ms: i64,
) -> Result<(Vec<Created>, BTreeMap<String, [i64; 4]>), StoreError> {
    let mut accounts: BTreeMap<String, [i64; 4]> = BTreeMap::new();
    let inserted = insert_transfers(conn, transfers, now_ms).await?;
    let mut out = Vec::with_capacity(transfers.len());
    let mut counted = HashSet::new();
    for t in transfers {
        if !inserted.contains(&t.id) || !counted.insert(t.id.as_str()) {
            // There already (or earlier in the batch).
            out.push(already_there(conn, t).await?);
            continue;
        }
        let (debit, credit) = if t.pending { (0, 2) } else { (1, 3) };
        accounts.entry(t.debit.id()).or_default()[debit] += t.amount.get();
        accounts.entry(t.credit.id()).or_default()[credit] += t.amount.get();
        out.push(Created::New);
    }
    Ok((out, accounts))
}

/// Inserts the transfers' rows, but for those whose ids are there: the ids it inserted. On
/// PostgreSQL in one statement (one round trip); on SQLite, which has no round trips, one
/// prepared insert a row, so that its one writer does not build, parse and take apart JSON
/// for the two or three rows of every approval (docs/benchmarks.md, session 28).
async fn insert_transfers(conn: &mut Conn, transfers: &[Transfer], now_ms: i64) -> Result<HashSet<String>, StoreError> {
    if conn.backend() != crate::Backend::Postgres {
        let mut inserted = HashSet::with_capacity(transfers.len());
        for t in transfers {
            if insert_transfer(conn, t, now_ms).await? {
                inserted.insert(t.id.clone());
            }
        }
        return Ok(inserted);
    }
    let rows: Vec<serde_json::Value> = transfers
        .iter()
        .map(|t| {
            let state = if t.pending { TransferState::Pending } else { TransferState::Posted };
            serde_json::json!([
                t.id,
                t.debit.id(),
                t.credit.id(),
                t.amount.get(),
                t.code.as_str(),
                i64::from(t.pending),
                state.as_str(),
                t.reference,
                now_ms
            ])
        })
        .collect();
    let source = crate::json_rows(
        conn,
        &[
            ("id", "TEXT"),
            ("debit_account_id", "TEXT"),
            ("credit_account_id", "TEXT"),
            ("amount_fen", "BIGINT"),
            ("code", "TEXT"),
            ("created_pending", "BIGINT"),
            ("state", "TEXT"),
            ("reference", "TEXT"),
            ("created_at", "BIGINT"),
        ],
    );
    query(&format!(
        "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount_fen, code, created_pending, state,
            reference, created_at) {source} WHERE true ON CONFLICT (id) DO NOTHING RETURNING id"
    ))
    .bind(crate::json_array(&rows)?)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| r.try_get("id"))
    .collect()
}

/// Adds to the counters of each account its `[debits pending, debits posted, credits pending,
/// credits posted]`, refusing (with nothing moved once the caller rolls back) an account whose
/// debits must not exceed its credits and would: in one statement on PostgreSQL, one prepared
/// update an account on SQLite (as [`insert_transfers`]).
async fn move_accounts(conn: &mut Conn, moves: &BTreeMap<String, [i64; 4]>) -> Result<(), StoreError> {
    let moving: Vec<(&String, &[i64; 4])> = moves.iter().filter(|(_, m)| m.iter().any(|n| *n != 0)).collect();
    if moving.is_empty() {
        return Ok(());
    }
    if conn.backend() != crate::Backend::Postgres {
        for (id, [dp, dq, cp, cq]) in moving {
            // debits_must_not_exceed_credits, as a conditional update.
            let moved = query(
                "UPDATE ledger_accounts SET debits_pending = debits_pending + $2, debits_posted = debits_posted + $3,
                    credits_pending = credits_pending + $4, credits_posted = credits_posted + $5
                 WHERE id = $1 AND (debits_must_not_exceed_credits = 0
                    OR debits_pending + debits_posted + $2 + $3 <= credits_posted + $5)",
            )
            .bind(id.as_str())
            .bind(*dp)
            .bind(*dq)
            .bind(*cp)
            .bind(*cq)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if moved != 1 {
                return Err(LedgerError::ExceedsCredits(id.clone()).into());
            }
        }
        return Ok(());
    }
    let rows: Vec<serde_json::Value> =
        moving.iter().map(|(id, [dp, dq, cp, cq])| serde_json::json!([id, dp, dq, cp, cq])).collect();
    let source = crate::json_rows(
        conn,
        &[
            ("account_id", "TEXT"),
            ("add_debits_pending", "BIGINT"),
            ("add_debits_posted", "BIGINT"),
            ("add_credits_pending", "BIGINT"),
            ("add_credits_posted", "BIGINT"),
        ],
    );
    // The accounts are also named as a list (see `json_list`): joined only to the rows of the
    // JSON array, assumed 100, the update was planned as a scan of every account.
    let looked_up = "AND id IN (SELECT unnest(ARRAY(SELECT value ->> 0 FROM jsonb_array_elements($1::jsonb))))";
    // debits_must_not_exceed_credits, as a conditional update of each account at once.
    let moved: HashSet<String> = query(&format!(
        "UPDATE ledger_accounts SET debits_pending = debits_pending + m.add_debits_pending,
            debits_posted = debits_posted + m.add_debits_posted,
            credits_pending = credits_pending + m.add_credits_pending,
            credits_posted = credits_posted + m.add_credits_posted
         FROM ({source}) AS m
         WHERE id = m.account_id {looked_up} AND (debits_must_not_exceed_credits = 0
            OR debits_pending + debits_posted + m.add_debits_pending + m.add_debits_posted
               <= credits_posted + m.add_credits_posted)
         RETURNING id"
    ))
    .bind(crate::json_array(&rows)?)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| r.try_get("id"))
    .collect::<Result<_, _>>()?;
    if let Some((refused, _)) = moving.iter().find(|(id, _)| !moved.contains(*id)) {
        return Err(LedgerError::ExceedsCredits((*refused).clone()).into());
    }
    Ok(())
}

fn same_fields(a: &Transfer, b: &Transfer) -> bool {
    a.debit.id() == b.debit.id()
        && a.credit.id() == b.credit.id()
        && a.amount == b.amount
        && a.code == b.code
        && a.pending == b.pending
        && a.reference == b.reference
}

/// Takes the account's row (creating the account if need be) until the transaction ends, for
/// a transaction that will post to it many times and append to the audit chain as it goes (an
/// import batch). Every other transaction appends to the chain as it commits, after all it
/// posted ([`crate::audit::at_commit`]), so it may hold an account while it waits for the
/// chain's head; a batch that holds the head must therefore take the accounts it will post to
/// before it, or the two wait on each other (on PostgreSQL a deadlock: one of them fails).
pub async fn hold_account(conn: &mut Conn, key: &AccountKey) -> Result<(), StoreError> {
    hold_accounts(conn, std::slice::from_ref(key)).await
}

/// [`hold_account`] for many accounts at once, taken in id order: a use case that makes several
/// ledger calls (a payout's success posts a reservation, then what the bank paid) holds all
/// of their accounts first, or it could hold one another transaction waits for while waiting
/// for one that transaction holds.
pub async fn hold_accounts(conn: &mut Conn, keys: &[AccountKey]) -> Result<(), StoreError> {
    take_accounts(conn, keys.iter()).await
}

/// [`hold_accounts`] for every account these transfers move (the several ledger calls a use
/// case is about to make).
pub async fn hold_accounts_of<'t>(
    conn: &mut Conn,
    transfers: impl Iterator<Item = &'t Transfer>,
) -> Result<(), StoreError> {
    take_accounts(conn, transfers.flat_map(|t| [&t.debit, &t.credit])).await
}

/// Creates the accounts not there yet (in id order) and, on PostgreSQL, takes the rows of those
/// that were there until the transaction ends, in the order of their ids, byte by byte. An
/// account created here is this transaction's already: no one else sees it before the commit.
/// The taking is a statement of its own, whose snapshot sees an account another transaction
/// created and committed while this one waited to create it. (SQLite's writer holds the whole
/// database for its transaction: nothing to take.)
async fn take_accounts<'k>(conn: &mut Conn, keys: impl Iterator<Item = &'k AccountKey>) -> Result<(), StoreError> {
    let keys: BTreeMap<String, &AccountKey> = keys.map(|key| (key.id(), key)).collect();
    if keys.is_empty() {
        return Ok(());
    }
    if conn.backend() != crate::Backend::Postgres {
        // One prepared insert an account (as `insert_transfers`).
        for (id, key) in &keys {
            query(
                "INSERT INTO ledger_accounts (id, kind, owner, debits_must_not_exceed_credits) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id.as_str())
            .bind(key.kind.as_str())
            .bind(key.owner.as_str())
            .bind(i64::from(key.kind.debits_must_not_exceed_credits()))
            .execute(&mut *conn)
            .await?;
        }
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = keys
        .iter()
        .map(|(id, key)| {
            serde_json::json!([id, key.kind.as_str(), key.owner, i64::from(key.kind.debits_must_not_exceed_credits())])
        })
        .collect();
    let source = crate::json_rows(
        conn,
        &[("id", "TEXT"), ("kind", "TEXT"), ("owner", "TEXT"), ("debits_must_not_exceed_credits", "BIGINT")],
    );
    let insert = format!(
        "INSERT INTO ledger_accounts (id, kind, owner, debits_must_not_exceed_credits) {source} WHERE true
         ON CONFLICT (id) DO NOTHING"
    );
    // The ids created, as one JSON array (one row, whatever the batch's size).
    let created: Option<String> =
        query(&format!("WITH created AS ({insert} RETURNING id) SELECT json_agg(id)::text AS ids FROM created"))
            .bind(crate::json_array(&rows)?)
            .fetch_one(&mut *conn)
            .await?
            .try_get("ids")?;
    let created: HashSet<String> = match created {
        Some(ids) => serde_json::from_str(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        None => HashSet::new(),
    };
    lock_in_order(conn, &keys.keys().filter(|id| !created.contains(*id)).collect()).await
}

/// On PostgreSQL, takes the rows of these accounts (which exist) in id order: the rows are
/// locked as the sort hands them on. The lock is the one an update of the counters takes, so
/// it keeps out nothing more (a transfer's foreign key check still reads the row).
async fn lock_in_order(conn: &mut Conn, ids: &BTreeSet<&String>) -> Result<(), StoreError> {
    if conn.backend() != crate::Backend::Postgres || ids.is_empty() {
        return Ok(());
    }
    let list = crate::json_list(conn);
    query(&format!(
        "SELECT count(*) AS taken FROM (SELECT id FROM ledger_accounts WHERE id IN ({list})
            ORDER BY id COLLATE \"C\" FOR NO KEY UPDATE) AS accounts"
    ))
    .bind(crate::json_array(ids)?)
    .fetch_one(&mut *conn)
    .await?;
    Ok(())
}

/// Posts a pending transfer. Only one of post / void ever succeeds, under any concurrency:
/// the state change is `WHERE state = 'pending'`.
pub async fn post(conn: &mut Conn, id: &str, now_ms: i64) -> Result<(), StoreError> {
    resolve(conn, id, TransferState::Posted, now_ms).await
}

/// Posts many pending transfers in two statements whatever their number, for a caller that
/// holds their accounts already ([`hold_accounts_of`]): each is posted, or none once the
/// caller rolls back (a transfer no longer pending is an error, as in [`post`]).
pub async fn post_many(conn: &mut Conn, ids: &[&str], now_ms: i64) -> Result<(), StoreError> {
    let moves = post_counting(conn, ids, now_ms).await?;
    // Posting moves pending to posted on both sides: no account's limit can be passed.
    move_accounts(conn, &moves).await
}

/// Marks the pending transfers `ids` posted in one statement, and counts each account's
/// counters to move for it (see [`insert_counting`]); a transfer no longer pending is an
/// error, as in [`post`].
async fn post_counting(conn: &mut Conn, ids: &[&str], now_ms: i64) -> Result<BTreeMap<String, [i64; 4]>, StoreError> {
    let ids: BTreeSet<&str> = ids.iter().copied().collect();
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let list = crate::json_list(conn);
    let rows = query(&format!(
        "UPDATE ledger_transfers SET state = 'posted', resolved_at = $2 WHERE id IN ({list}) AND state = 'pending'
         RETURNING id, debit_account_id, credit_account_id, amount_fen"
    ))
    .bind(crate::json_array(&ids)?)
    .bind(now_ms)
    .fetch_all(&mut *conn)
    .await?;
    let mut posted = BTreeSet::new();
    let mut moves: BTreeMap<String, [i64; 4]> = BTreeMap::new();
    for row in &rows {
        let amount: i64 = row.try_get("amount_fen")?;
        let [dp, dq, ..] = moves.entry(row.try_get("debit_account_id")?).or_default();
        (*dp, *dq) = (*dp - amount, *dq + amount);
        let [.., cp, cq] = moves.entry(row.try_get("credit_account_id")?).or_default();
        (*cp, *cq) = (*cp - amount, *cq + amount);
        posted.insert(row.try_get::<String, _>("id")?);
    }
    if let Some(id) = ids.iter().find(|id| !posted.contains(**id)) {
        return Err(match load(conn, id).await? {
            Some((_, state)) => LedgerError::NotPending { id: (*id).to_owned(), state },
            None => LedgerError::NotFound((*id).to_owned()),
        }
        .into());
    }
    Ok(moves)
}

/// Voids a pending transfer, releasing its reservation.
pub async fn void(conn: &mut Conn, id: &str, now_ms: i64) -> Result<(), StoreError> {
    resolve(conn, id, TransferState::Voided, now_ms).await
}

async fn resolve(conn: &mut Conn, id: &str, to: TransferState, now_ms: i64) -> Result<(), StoreError> {
    let row = query(
        "UPDATE ledger_transfers SET state = $1, resolved_at = $2 WHERE id = $3 AND state = 'pending'
         RETURNING debit_account_id, credit_account_id, amount_fen",
    )
    .bind(to.as_str())
    .bind(now_ms)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Err(match load(conn, id).await? {
            Some((_, state)) => LedgerError::NotPending { id: id.to_owned(), state },
            None => LedgerError::NotFound(id.to_owned()),
        }
        .into());
    };
    let debit: String = row.try_get("debit_account_id")?;
    let credit: String = row.try_get("credit_account_id")?;
    let amount: i64 = row.try_get("amount_fen")?;
    let (debit_sql, credit_sql) = match to {
        TransferState::Posted => (
            "UPDATE ledger_accounts SET debits_pending = debits_pending - $1, debits_posted = debits_posted + $1 WHERE id = $2",
            "UPDATE ledger_accounts SET credits_pending = credits_pending - $1, credits_posted = credits_posted + $1 WHERE id = $2",
        ),
        _ => (
            "UPDATE ledger_accounts SET debits_pending = debits_pending - $1 WHERE id = $2",
            "UPDATE ledger_accounts SET credits_pending = credits_pending - $1 WHERE id = $2",
        ),
    };
    // The two accounts in the ledger's order (by id, byte by byte): each update takes its row,
    // so the order of the updates is the order they are taken in, without a statement more.
    let mut updates = [(debit_sql, &debit), (credit_sql, &credit)];
    updates.sort_by(|a, b| a.1.cmp(b.1));
    for (sql, account) in updates {
        query(sql).bind(amount).bind(account).execute(&mut *conn).await?;
    }
    Ok(())
}

const TRANSFER_COLUMNS: &str = "t.id, t.amount_fen, t.code, t.created_pending, t.state, t.reference,
    d.kind AS debit_kind, d.owner AS debit_owner, c.kind AS credit_kind, c.owner AS credit_owner";

fn transfer_from_row(row: &Row) -> Result<(Transfer, TransferState), StoreError> {
    let kind = |col: &str| -> Result<yajin_core::ledger::AccountKind, StoreError> {
        let text: String = row.try_get(col)?;
        serde_json::from_value(serde_json::Value::String(text.clone()))
            .map_err(|_| StoreError::Corrupt(format!("account kind {text}")))
    };
    let code: String = row.try_get("code")?;
    let state: String = row.try_get("state")?;
    let transfer = Transfer {
        id: row.try_get("id")?,
        debit: AccountKey { kind: kind("debit_kind")?, owner: row.try_get("debit_owner")? },
        credit: AccountKey { kind: kind("credit_kind")?, owner: row.try_get("credit_owner")? },
        amount: Fen::new(row.try_get("amount_fen")?),
        code: TransferCode::parse(&code).ok_or_else(|| StoreError::Corrupt(format!("transfer code {code}")))?,
        pending: row.try_get::<i64, _>("created_pending")? == 1,
        reference: row.try_get("reference")?,
    };
    let state = TransferState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("transfer state {state}")))?;
    Ok((transfer, state))
}

pub async fn load(conn: &mut Conn, id: &str) -> Result<Option<(Transfer, TransferState)>, StoreError> {
    let row = query(&format!(
        "SELECT {TRANSFER_COLUMNS} FROM ledger_transfers t
         JOIN ledger_accounts d ON d.id = t.debit_account_id JOIN ledger_accounts c ON c.id = t.credit_account_id
         WHERE t.id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(transfer_from_row).transpose()
}

/// The transfers of one business object (an application, an item, a terminal), oldest first.
pub async fn by_reference(conn: &mut Conn, reference: &str) -> Result<Vec<(Transfer, TransferState)>, StoreError> {
    let rows = query(&format!(
        "SELECT {TRANSFER_COLUMNS} FROM ledger_transfers t
         JOIN ledger_accounts d ON d.id = t.debit_account_id JOIN ledger_accounts c ON c.id = t.credit_account_id
         WHERE t.reference = $1 ORDER BY t.created_at, t.id"
    ))
    .bind(reference)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(transfer_from_row).collect()
}

pub async fn balance(conn: &mut Conn, key: &AccountKey) -> Result<Balance, StoreError> {
    let row = query(
        "SELECT debits_pending, debits_posted, credits_pending, credits_posted FROM ledger_accounts WHERE id = $1",
    )
    .bind(key.id())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Balance::default());
    };
    Ok(Balance {
        debits_pending: Fen::new(row.try_get("debits_pending")?),
        debits_posted: Fen::new(row.try_get("debits_posted")?),
        credits_pending: Fen::new(row.try_get("credits_pending")?),
        credits_posted: Fen::new(row.try_get("credits_posted")?),
    })
}

/// A terminal's deposit as its transfers tell it: collected, refunded (paid out), in flight
/// (reserved, unpaid), and kept for fees and deductions.
pub async fn deposit_figures(conn: &mut Conn, terminal_id: &str) -> Result<DepositFigures, StoreError> {
    let ids = [terminal_id.to_owned()];
    Ok(deposit_figures_of(conn, &ids).await?.remove(terminal_id).unwrap_or_default())
}

/// Deposit figures of many terminals in two indexed queries (transfers out of and into each
/// terminal's `deposit_held` account).
pub async fn deposit_figures_of(
    conn: &mut Conn,
    terminal_ids: &[String],
) -> Result<std::collections::HashMap<String, DepositFigures>, StoreError> {
    let mut out: std::collections::HashMap<String, DepositFigures> = std::collections::HashMap::new();
    if terminal_ids.is_empty() {
        return Ok(out);
    }
    let accounts: Vec<String> = terminal_ids.iter().map(|t| AccountKey::deposit_held(t).id()).collect();
    for side in ["debit_account_id", "credit_account_id"] {
        let sql = format!(
            "SELECT {side} AS account, code, state, CAST(sum(amount_fen) AS BIGINT) AS total FROM ledger_transfers
             WHERE {side} IN ({}) GROUP BY {side}, code, state",
            crate::placeholders(1, accounts.len())
        );
        let mut query = query(&sql);
        for account in &accounts {
            query = query.bind(account);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let account: String = row.try_get("account")?;
            let terminal = account.strip_prefix("deposit_held:").unwrap_or(&account).to_owned();
            let code: String = row.try_get("code")?;
            let state: String = row.try_get("state")?;
            add_to_figures(out.entry(terminal).or_default(), &code, &state, Fen::new(row.try_get("total")?))?;
        }
    }
    Ok(out)
}

/// Adds the total of a deposit account's transfers of one code and state to its figures.
pub(crate) fn add_to_figures(f: &mut DepositFigures, code: &str, state: &str, total: Fen) -> Result<(), StoreError> {
    let bucket = match (TransferCode::parse(code), state) {
        (Some(TransferCode::DepositCollected), "posted") => &mut f.collected_fen,
        (Some(TransferCode::DepositCollected), _) => return Ok(()),
        (Some(_), "pending") => &mut f.in_flight_fen,
        (Some(TransferCode::Refund), "posted") => &mut f.refunded_fen,
        (Some(TransferCode::RefundFee | TransferCode::RefundDeduction), "posted") => &mut f.deducted_fen,
        _ => return Ok(()),
    };
    *bucket = bucket.checked_add(total).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(())
}

/// An account whose counters disagree with its transfers.
#[derive(Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub account_id: String,
    pub stored: Balance,
    pub derived: Balance,
}

/// How many accounts the ledger holds.
pub async fn account_count(conn: &mut Conn) -> Result<i64, StoreError> {
    let row = query("SELECT count(*) AS n FROM ledger_accounts").fetch_one(&mut *conn).await?;
    row.try_get("n")
}

/// Recomputes every account's counters from the transfers and reports any difference, and
/// checks that total debits equal total credits.
pub async fn verify(conn: &mut Conn) -> Result<Vec<Mismatch>, StoreError> {
    let rows = query(
        "SELECT a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
            CAST(coalesce((SELECT sum(amount_fen) FROM ledger_transfers WHERE debit_account_id = a.id AND state = 'pending'), 0) AS BIGINT) AS dpe,
            CAST(coalesce((SELECT sum(amount_fen) FROM ledger_transfers WHERE debit_account_id = a.id AND state = 'posted'), 0) AS BIGINT) AS dpo,
            CAST(coalesce((SELECT sum(amount_fen) FROM ledger_transfers WHERE credit_account_id = a.id AND state = 'pending'), 0) AS BIGINT) AS cpe,
            CAST(coalesce((SELECT sum(amount_fen) FROM ledger_transfers WHERE credit_account_id = a.id AND state = 'posted'), 0) AS BIGINT) AS cpo
         FROM ledger_accounts a ORDER BY a.id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let get = |c: &str| -> Result<Fen, StoreError> { Ok(Fen::new(row.try_get(c)?)) };
        let stored = Balance {
            debits_pending: get("debits_pending")?,
            debits_posted: get("debits_posted")?,
            credits_pending: get("credits_pending")?,
            credits_posted: get("credits_posted")?,
        };
        let derived = Balance {
            debits_pending: get("dpe")?,
            debits_posted: get("dpo")?,
            credits_pending: get("cpe")?,
            credits_posted: get("cpo")?,
        };
        if stored != derived {
            out.push(Mismatch { account_id: row.try_get("id")?, stored, derived });
        }
    }
    Ok(out)
}
