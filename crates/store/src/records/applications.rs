//! Refund applications and their timeline. State changes are conditional updates
//! (`… WHERE status IN (the action's sources)`) whose rows-affected is checked, so two racing
//! actors can never both move one application.

use std::sync::LazyLock;

use crate::sql::{query, Conn, Query, Row};
use yajin_core::application::{Role, Status};
use yajin_core::notice::{Note, Notice};
use yajin_core::{Fen, Timestamp};

use super::idempotency::{self, Answer};
use super::notifications;
use crate::pii::Vault;
use crate::{new_id, StoreError};

pub struct NewApplication<'a> {
    pub merchant_id: &'a str,
    pub terminal_id: &'a str,
    pub reason: &'a str,
    pub note: &'a str,
    pub amount: Fen,
    pub fee: Fen,
    pub deducted: Fen,
    pub net_refund: Fen,
    pub deduct_outstanding: bool,
    pub bank_card: &'a yajin_core::ids::BankCardNo,
    pub four_eyes_required: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    pub id: String,
    pub merchant_id: String,
    pub terminal_id: String,
    pub status: Status,
    pub reason: String,
    pub note: String,
    pub amount: Fen,
    pub fee: Fen,
    pub deducted: Fen,
    pub net_refund: Fen,
    pub deduct_outstanding: bool,
    pub bank_card_masked: String,
    pub four_eyes_required: bool,
    pub claimed_by: Option<String>,
    pub first_approver: Option<String>,
    pub second_approver: Option<String>,
    /// The refund receipt's number, once refunded.
    pub receipt_number: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The columns an application is inserted with, `$1` … `$17` (`$16` the time, twice; `$17`
/// the status it stands in once its first steps are written).
const INSERT_COLUMNS: &str = "INSERT INTO refund_applications (id, merchant_id, terminal_id, status, reason, note,
        amount_fen, fee_fen, deducted_fen, net_refund_fen, deduct_outstanding, bank_card_sealed, bank_card_key_id,
        bank_card_first4, bank_card_last4, four_eyes_required, created_at, updated_at)
     VALUES ($1, $2, $3, $17, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)";

/// The insert giving the row back as stored, on PostgreSQL (one round trip; see [`insert_row`]).
static INSERT_RETURNING: LazyLock<String> = LazyLock::new(|| format!("{INSERT_COLUMNS} RETURNING {COLUMNS}"));

/// The row just inserted on this SQLite connection, read back by its rowid.
static INSERTED: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {COLUMNS} FROM refund_applications WHERE rowid = last_insert_rowid()"));

/// Inserts the application and gives the row back as stored. SQLite gathers a `RETURNING`
/// clause's rows in a temporary table it builds for each statement, half as much again as the
/// insert (`cargo bench -p yajin-store --bench read_back`: 5.9 µs, with `RETURNING` 8.8, read
/// back by rowid 6.7): there the row is read back by its rowid, on the same connection and in
/// the same transaction, instead.
async fn insert_row(
    conn: &mut Conn,
    vault: &Vault,
    id: &str,
    a: &NewApplication<'_>,
    now_ms: i64,
) -> Result<Application, StoreError> {
    if conn.backend() == crate::Backend::Postgres {
        let row =
            bind_application(query(&INSERT_RETURNING), vault, id, a, Status::Submitted, now_ms).fetch_one(conn).await?;
        return from_row(&row);
    }
    bind_application(query(INSERT_COLUMNS), vault, id, a, Status::Submitted, now_ms).execute(&mut *conn).await?;
    from_row(&query(&INSERTED).fetch_one(conn).await?)
}

/// A fresh application id, for an application whose first event and notification are made
/// before it is written ([`insert_submitted`]).
pub fn new_application_id() -> String {
    new_id("ra")
}

/// `query` with the application's `$1` … `$17` bound ([`INSERT_COLUMNS`]), its card sealed.
fn bind_application<'q>(
    query: Query<'q>,
    vault: &Vault,
    id: &'q str,
    a: &'q NewApplication<'q>,
    status: Status,
    now_ms: i64,
) -> Query<'q> {
    let card = vault.seal(a.bank_card.expose(), &format!("refund_applications.bank_card:{id}"));
    query
        .bind(id)
        .bind(a.merchant_id)
        .bind(a.terminal_id)
        .bind(a.reason)
        .bind(a.note)
        .bind(a.amount.get())
        .bind(a.fee.get())
        .bind(a.deducted.get())
        .bind(a.net_refund.get())
        .bind(i64::from(a.deduct_outstanding))
        .bind(card.bytes)
        .bind(card.key_id)
        .bind(&a.bank_card.expose()[..4])
        .bind(a.bank_card.last4())
        .bind(i64::from(a.four_eyes_required))
        .bind(now_ms)
        .bind(status.as_str())
}

/// Inserts a `submitted` application. A second open application for the same terminal is a
/// `Conflict` from the partial unique index, whichever server inserted the first.
pub async fn insert(
    conn: &mut Conn,
    vault: &Vault,
    a: &NewApplication<'_>,
    now_ms: i64,
) -> Result<Application, StoreError> {
    insert_row(conn, vault, &new_application_id(), a, now_ms).await
}

/// A new application as [`insert_submitted`] writes it: its row, its first timeline event
/// (`first`, for `id`, by the merchant or the system) and the merchant's notification of it
/// (`notice`, for `id`), and, when the system approves it at once, the approval's step and
/// notice (`then`), written with it.
pub struct Submission<'a> {
    /// From [`new_application_id`].
    pub id: &'a str,
    pub application: &'a NewApplication<'a>,
    pub first: &'a NewEvent<'a>,
    pub notice: &'a Notice,
    /// A second step from where `first` leaves the application, by the merchant or the
    /// system, with its notice: the row is written as standing where this step leaves it.
    pub then: Option<(&'a NewEvent<'a>, &'a Notice)>,
}

impl Submission<'_> {
    /// The steps, in their order.
    fn steps(&self) -> impl Iterator<Item = (&NewEvent<'_>, &Notice)> {
        std::iter::once((self.first, self.notice)).chain(self.then)
    }

    /// Where the application stands once its steps are written.
    fn status(&self) -> Status {
        self.then.map_or(self.first.to, |(step, _)| step.to)
    }
}

/// What [`insert_submitted`] wrote, as stored (nothing is read back: every column is a value
/// bound there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub application: Application,
    /// The steps, in their order.
    pub timeline: Vec<Event>,
    /// The notifications' ids, a step's each.
    pub notification_ids: Vec<String>,
}

/// Inserts a new application with its steps and notifications ([`Submission`]), and stores
/// the answer `answer` renders from the row and its timeline as written (when it gives one)
/// under the request's idempotency key, claimed earlier in this transaction. An application
/// the system approves at once is written approved, its two steps in their order: no one
/// sees it between them, and it is neither written nor indexed twice. On PostgreSQL it is
/// [`insert_submitted_many`] of one, one statement; on SQLite, where a statement costs no
/// round trip and a batch's JSON would be read four times, a statement each. Conflicts as
/// [`insert`].
pub async fn insert_submitted(
    conn: &mut Conn,
    vault: &Vault,
    s: &Submission<'_>,
    answer: impl FnOnce(&Application, &[Event]) -> Option<Answer>,
    now_ms: i64,
) -> Result<Written, StoreError> {
    if conn.backend() == crate::Backend::Postgres {
        let mut answer = Some(answer);
        let answer = |_: usize, a: &Application, t: &[Event]| answer.take().and_then(|answer| answer(a, t));
        let mut written = insert_submitted_many(conn, vault, std::slice::from_ref(s), answer, now_ms).await?;
        return written.pop().ok_or_else(|| StoreError::Corrupt(format!("{} was not written", s.id)));
    }
    check_submission(s)?;
    let written = as_written(s, now_ms)?;
    let answer = answer(&written.0.application, &written.0.timeline);
    let a = s.application;
    bind_application(query(INSERT_COLUMNS), vault, s.id, a, s.status(), now_ms).execute(&mut *conn).await?;
    for ((step, _), n) in s.steps().zip(&written.1) {
        bind_event(query(INSERT_EVENT).bind(s.id).bind(now_ms), step).execute(&mut *conn).await?;
        notifications::insert_columns(conn, a.merchant_id, n, now_ms).await?;
    }
    if let Some(answer) = &answer {
        idempotency::complete(conn, &answer.principal, &answer.key, answer.status, &answer.body).await?;
    }
    Ok(written.0)
}

/// Refuses steps or notices for another application, a step by a staff member (whose step is
/// read with their name, which is not written here), and a second step that does not start
/// where the first leaves the application.
fn check_submission(s: &Submission<'_>) -> Result<(), StoreError> {
    let id = s.id;
    for (step, notice) in s.steps() {
        if step.application_id != id || notice.application_id() != Some(id) {
            return Err(StoreError::Corrupt(format!("a step or notice of {id} is for another application")));
        }
        if !matches!(step.actor_role, Role::Merchant | Role::System) {
            return Err(StoreError::Corrupt(format!("a first step of {id} names a staff member")));
        }
    }
    if s.first.from.is_some() || s.then.is_some_and(|(step, _)| step.from != Some(s.first.to)) {
        return Err(StoreError::Corrupt(format!("the first steps of {id} do not follow one another")));
    }
    Ok(())
}

/// [`insert_submitted`] for a batch (each application with its steps and notifications, and
/// the answer `answer` renders for the `i`th from the row and timeline as written): one
/// statement on PostgreSQL, four on SQLite, however many applications. Rows go in in
/// terminal order, so that two batches racing for the unique index on open applications wait
/// rather than deadlock; a second open application for a terminal fails the whole statement
/// with `Conflict`, as it fails [`insert_submitted`].
pub async fn insert_submitted_many(
    conn: &mut Conn,
    vault: &Vault,
    batch: &[Submission<'_>],
    mut answer: impl FnMut(usize, &Application, &[Event]) -> Option<Answer>,
    now_ms: i64,
) -> Result<Vec<Written>, StoreError> {
    for s in batch {
        check_submission(s)?;
    }
    let mut written = Vec::with_capacity(batch.len());
    let mut rows = Vec::with_capacity(batch.len());
    for (i, s) in batch.iter().enumerate() {
        let (id, a) = (s.id, s.application);
        let (w, columns) = as_written(s, now_ms)?;
        let answer = answer(i, &w.application, &w.timeline);
        let card = vault.seal(a.bank_card.expose(), &format!("refund_applications.bank_card:{id}"));
        // A row of the JSON array for each step: the application's columns on the first only.
        for (k, ((step, _), n)) in s.steps().zip(&columns).enumerate() {
            let system_note = step.system_note.map(serde_json::to_string).transpose();
            let first = k == 0;
            rows.push(serde_json::json!([
                id,
                a.merchant_id,
                first.then_some(a.terminal_id),
                a.reason,
                a.note,
                a.amount.get(),
                a.fee.get(),
                a.deducted.get(),
                a.net_refund.get(),
                i64::from(a.deduct_outstanding),
                first.then(|| hex::encode(&card.bytes)),
                card.key_id,
                &a.bank_card.expose()[..4],
                a.bank_card.last4(),
                i64::from(a.four_eyes_required),
                now_ms,
                s.status().as_str(),
                k,
                step.from.map(Status::as_str),
                step.to.as_str(),
                step.actor_role.as_str(),
                step.actor_id,
                step.note,
                step.detail,
                system_note.map_err(|e| StoreError::Corrupt(e.to_string()))?,
                n.id,
                n.kind,
                n.title,
                n.body,
                n.params,
                answer.as_ref().filter(|_| first).map(|k| k.status),
                answer.as_ref().filter(|_| first).map(|k| hex::encode(&k.body)),
                answer.as_ref().filter(|_| first).map(|k| k.principal.as_str()),
                answer.as_ref().filter(|_| first).map(|k| k.key.as_str()),
            ]));
        }
        written.push(w);
    }
    if batch.is_empty() {
        return Ok(written);
    }
    let rows = crate::json_array(&rows)?;
    for statement in submitted_many_sql(conn.backend()) {
        query(statement).bind(&rows).execute(&mut *conn).await?;
    }
    Ok(written)
}

/// The statements of [`insert_submitted_many`] for a backend, built once: the rows of the
/// JSON array `$1` (see [`crate::json_rows`]), one a step, as applications (a first step's
/// row, which alone names the terminal), events and notifications (every row, in the order of
/// the applications and then of their steps) and stored answers.
fn submitted_many_sql(backend: crate::Backend) -> &'static [String] {
    static SQL: [LazyLock<Vec<String>>; 2] = [
        LazyLock::new(|| build_submitted_many_sql(crate::Backend::Sqlite)),
        LazyLock::new(|| build_submitted_many_sql(crate::Backend::Postgres)),
    ];
    &SQL[usize::from(backend == crate::Backend::Postgres)]
}

fn build_submitted_many_sql(backend: crate::Backend) -> Vec<String> {
    let source = crate::json_rows_for(
        backend,
        &[
            ("id", "TEXT"),
            ("merchant_id", "TEXT"),
            ("terminal_id", "TEXT"),
            ("reason", "TEXT"),
            ("note", "TEXT"),
            ("amount_fen", "BIGINT"),
            ("fee_fen", "BIGINT"),
            ("deducted_fen", "BIGINT"),
            ("net_refund_fen", "BIGINT"),
            ("deduct_outstanding", "BIGINT"),
            ("card_sealed", "TEXT"),
            ("card_key_id", "TEXT"),
            ("card_first4", "TEXT"),
            ("card_last4", "TEXT"),
            ("four_eyes_required", "BIGINT"),
            ("at", "BIGINT"),
            ("status", "TEXT"),
            ("step", "BIGINT"),
            ("from_status", "TEXT"),
            ("to_status", "TEXT"),
            ("actor_role", "TEXT"),
            ("actor_id", "TEXT"),
            ("event_note", "TEXT"),
            ("detail", "TEXT"),
            ("system_note", "TEXT"),
            ("notification_id", "TEXT"),
            ("notification_kind", "TEXT"),
            ("title", "TEXT"),
            ("body", "TEXT"),
            ("params", "TEXT"),
            ("response_status", "BIGINT"),
            ("response_body", "TEXT"),
            ("principal", "TEXT"),
            ("key", "TEXT"),
        ],
    );
    let unhex = |column: &str| match backend {
        crate::Backend::Postgres => format!("decode({column}, 'hex')"),
        crate::Backend::Sqlite => format!("unhex({column})"),
    };
    let applications = format!(
        "INSERT INTO refund_applications (id, merchant_id, terminal_id, status, reason, note, amount_fen, fee_fen,
            deducted_fen, net_refund_fen, deduct_outstanding, bank_card_sealed, bank_card_key_id, bank_card_first4,
            bank_card_last4, four_eyes_required, created_at, updated_at)
         SELECT id, merchant_id, terminal_id, status, reason, note, amount_fen, fee_fen, deducted_fen,
            net_refund_fen, deduct_outstanding, {card}, card_key_id, card_first4, card_last4, four_eyes_required,
            at, at
         FROM r WHERE step = 0 ORDER BY terminal_id",
        card = unhex("card_sealed")
    );
    // The steps in order: an event's `seq` is given as the rows go in.
    let events = "INSERT INTO application_events (application_id, at, from_status, to_status, actor_role, actor_id,
            note, detail, system_note)
         SELECT id, at, from_status, to_status, actor_role, actor_id, event_note, detail, system_note FROM r
         ORDER BY id, step";
    let notifications =
        "INSERT INTO notifications (id, merchant_id, kind, title, body, application_id, created_at, params)
         SELECT notification_id, merchant_id, notification_kind, title, body, id, at, params FROM r ORDER BY id, step";
    // Each answer goes to its key's row through the key's index (an `UPDATE … FROM` is
    // planned for the hundred rows PostgreSQL guesses a JSON array has, and scans a small
    // table whole). The row is this transaction's claim; were it missing, the row written
    // holds no request's digest, and a retry under the key is refused, never answered.
    let answers = format!(
        "INSERT INTO idempotency_keys (principal, key, request_hash, created_at, response_status, response_body)
         SELECT principal, key, '', at, response_status, {body} FROM r WHERE principal IS NOT NULL
         ON CONFLICT (principal, key) DO UPDATE
         SET response_status = excluded.response_status, response_body = excluded.response_body",
        body = unhex("response_body")
    );
    match backend {
        // One statement: each part of a WITH sees the same snapshot and none another's rows,
        // and the events' foreign key is checked at the statement's end (as `insert_submitted`).
        crate::Backend::Postgres => vec![format!(
            "WITH r AS MATERIALIZED ({source}),
                  e AS ({events}),
                  n AS ({notifications}),
                  k AS ({answers})
             {applications}"
        )],
        // SQLite has no writing WITH: four statements, each reading the rows again.
        crate::Backend::Sqlite => [applications.as_str(), events, notifications, answers.as_str()]
            .iter()
            .map(|statement| format!("WITH r AS ({source}) {statement}"))
            .collect(),
    }
}

/// What [`insert_submitted`] writes of `s`, as [`by_id`] and [`events`] read it, with the
/// notifications' columns.
fn as_written(s: &Submission<'_>, now_ms: i64) -> Result<(Written, Vec<notifications::Columns>), StoreError> {
    let columns = s.steps().map(|(_, notice)| notifications::Columns::of(notice)).collect::<Result<Vec<_>, _>>()?;
    let written = Written {
        application: Application { status: s.status(), ..as_submitted(s.id, s.application, now_ms) },
        timeline: s.steps().map(|(step, _)| as_appended(step, now_ms)).collect(),
        notification_ids: columns.iter().map(|n| n.id.clone()).collect(),
    };
    Ok((written, columns))
}

/// The row [`insert_submitted`] writes, as [`by_id`] reads it, standing as submitted.
fn as_submitted(id: &str, a: &NewApplication<'_>, now_ms: i64) -> Application {
    let card = a.bank_card.expose();
    Application {
        id: id.to_owned(),
        merchant_id: a.merchant_id.to_owned(),
        terminal_id: a.terminal_id.to_owned(),
        status: Status::Submitted,
        reason: a.reason.to_owned(),
        note: a.note.to_owned(),
        amount: a.amount,
        fee: a.fee,
        deducted: a.deducted,
        net_refund: a.net_refund,
        deduct_outstanding: a.deduct_outstanding,
        bank_card_masked: yajin_core::ids::mask_card_last4(&card[..4], a.bank_card.last4()),
        four_eyes_required: a.four_eyes_required,
        claimed_by: None,
        first_approver: None,
        second_approver: None,
        receipt_number: None,
        created_at: Timestamp::from_millis(now_ms),
        updated_at: Timestamp::from_millis(now_ms),
    }
}

/// The event [`insert_submitted`] appends (the merchant's or the system's: no staff name), as
/// [`events`] reads it.
fn as_appended(e: &NewEvent<'_>, now_ms: i64) -> Event {
    Event {
        from: e.from,
        to: e.to,
        actor_role: e.actor_role.as_str().to_owned(),
        actor_id: e.actor_id.to_owned(),
        actor_name: None,
        note: e.note.to_owned(),
        system_note: e.system_note.cloned(),
        detail: e.detail.to_owned(),
        at: Timestamp::from_millis(now_ms),
    }
}

/// Moves the application from one of `from` to `to`. Returns false, changing nothing, if it
/// was no longer in any of `from` (someone else moved it first).
pub async fn transition(
    conn: &mut Conn,
    id: &str,
    from: &[Status],
    to: Status,
    now_ms: i64,
) -> Result<bool, StoreError> {
    if from.is_empty() {
        return Ok(false);
    }
    let placeholders: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 4)).collect();
    let sql = format!(
        "UPDATE refund_applications SET status = $1, updated_at = $2 WHERE id = $3 AND status IN ({})",
        placeholders.join(", ")
    );
    let mut query = query(&sql).bind(to.as_str()).bind(now_ms).bind(id);
    for s in from {
        query = query.bind(s.as_str());
    }
    Ok(query.execute(conn).await?.rows_affected() == 1)
}

pub struct NewEvent<'a> {
    pub application_id: &'a str,
    pub from: Option<Status>,
    pub to: Status,
    pub actor_role: Role,
    pub actor_id: &'a str,
    /// A person's words (the merchant's note, a reviewer's comment); empty for the system.
    pub note: &'a str,
    /// What the system says of the step, put into words when read.
    pub system_note: Option<&'a Note>,
    /// JSON text: amounts and reason codes of the step.
    pub detail: &'a str,
}

/// An event's insert: `$1` the application, `$2` the time, then [`bind_event`]'s values.
const INSERT_EVENT: &str = "INSERT INTO application_events (application_id, at, from_status, to_status, actor_role,
                                actor_id, note, detail, system_note)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// `query` with the event's values bound after those already bound: from, to, role, actor,
/// note, detail, then the system's note.
fn bind_event<'q>(query: Query<'q>, e: &'q NewEvent<'q>) -> Query<'q> {
    query
        .bind(e.from.map(Status::as_str))
        .bind(e.to.as_str())
        .bind(e.actor_role.as_str())
        .bind(e.actor_id)
        .bind(e.note)
        .bind(e.detail)
        .bind(e.system_note.map(|n| serde_json::to_string(n).unwrap_or_default()))
}

/// Appends a step to the timeline and gives it back as read (with the staff member's name).
pub async fn append_event(conn: &mut Conn, e: &NewEvent<'_>, now_ms: i64) -> Result<Event, StoreError> {
    // As `insert_row`: on SQLite the event is read back by its rowid (its `seq`).
    let row = if conn.backend() == crate::Backend::Postgres {
        static RETURNING: LazyLock<String> = LazyLock::new(|| {
            format!(
                "{INSERT_EVENT} RETURNING from_status, to_status, actor_role, actor_id, note, system_note, detail, at,
                     (SELECT s.display_name FROM staff s WHERE s.id = actor_id) AS actor_name"
            )
        });
        bind_event(query(&RETURNING).bind(e.application_id).bind(now_ms), e).fetch_one(conn).await?
    } else {
        bind_event(query(INSERT_EVENT).bind(e.application_id).bind(now_ms), e).execute(&mut *conn).await?;
        query(
            "SELECT e.from_status, e.to_status, e.actor_role, e.actor_id, e.note, e.system_note, e.detail, e.at,
                    s.display_name AS actor_name
             FROM application_events e LEFT JOIN staff s ON s.id = e.actor_id
             WHERE e.seq = last_insert_rowid()",
        )
        .fetch_one(conn)
        .await?
    };
    event_from_row(&row, "note")
}

/// A step that names no staff member (the system's, or the merchant's): moves `a` from its
/// status to `e.to` and appends `e`, and gives back the row and the event as stored without
/// reading either back ([`as_appended`]: no staff name to look up). `receipt_number`, for the
/// step to refunded, is given to a row that has none yet, in the same update. None, changing
/// nothing, when the row was no longer in `a`'s status (someone moved it first). One
/// statement on PostgreSQL (the event is appended only for the row moved); two on SQLite.
pub async fn step_naming_no_staff(
    conn: &mut Conn,
    a: &Application,
    e: &NewEvent<'_>,
    receipt_number: Option<&str>,
    now_ms: i64,
) -> Result<Option<(Application, Event)>, StoreError> {
    if e.application_id != a.id || e.from != Some(a.status) {
        return Err(StoreError::Corrupt(format!("a step of {} from {:?} is not the application's", a.id, e.from)));
    }
    if !matches!(e.actor_role, Role::Merchant | Role::System) {
        return Err(StoreError::Corrupt(format!("a step of {} names a staff member", a.id)));
    }
    // `$1` the application, `$2` the time, `$3` from, `$4` to: the event's own values; then
    // the receipt number (`$10` after the event's, `$5` alone).
    fn moving(receipt: &str) -> String {
        format!(
            "UPDATE refund_applications SET status = $4, updated_at = $2, receipt_number = COALESCE(receipt_number, {receipt})
             WHERE id = $1 AND status = $3"
        )
    }
    let moved = if conn.backend() == crate::Backend::Postgres {
        static MOVE_AND_APPEND: LazyLock<String> = LazyLock::new(|| {
            format!(
                "WITH moved AS ({} RETURNING id)
                 INSERT INTO application_events (application_id, at, from_status, to_status, actor_role, actor_id,
                     note, detail, system_note)
                 SELECT id, $2, $3, $4, $5, $6, $7, $8, $9 FROM moved",
                moving("$10")
            )
        });
        let moved = bind_event(query(&MOVE_AND_APPEND).bind(&a.id).bind(now_ms), e).bind(receipt_number);
        moved.execute(&mut *conn).await?.rows_affected()
    } else {
        static MOVE: LazyLock<String> = LazyLock::new(|| moving("$5"));
        let moved =
            query(&MOVE).bind(&a.id).bind(now_ms).bind(a.status.as_str()).bind(e.to.as_str()).bind(receipt_number);
        let moved = moved.execute(&mut *conn).await?.rows_affected();
        if moved == 1 {
            bind_event(query(INSERT_EVENT).bind(&a.id).bind(now_ms), e).execute(&mut *conn).await?;
        }
        moved
    };
    if moved != 1 {
        return Ok(None);
    }
    let application = Application {
        status: e.to,
        updated_at: Timestamp::from_millis(now_ms),
        receipt_number: a.receipt_number.clone().or_else(|| receipt_number.map(str::to_owned)),
        ..a.clone()
    };
    Ok(Some((application, as_appended(e, now_ms))))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub from: Option<Status>,
    pub to: Status,
    pub actor_role: String,
    pub actor_id: String,
    /// The staff member's display name, for a step a staff member took.
    pub actor_name: Option<String>,
    pub note: String,
    pub system_note: Option<Note>,
    pub detail: String,
    pub at: Timestamp,
}

fn status(text: &str) -> Result<Status, StoreError> {
    Status::parse(text).ok_or_else(|| StoreError::Corrupt(format!("application status {text}")))
}

pub async fn events(conn: &mut Conn, application_id: &str) -> Result<Vec<Event>, StoreError> {
    let rows = query(
        "SELECT e.from_status, e.to_status, e.actor_role, e.actor_id, e.note, e.system_note, e.detail, e.at,
                s.display_name AS actor_name
         FROM application_events e LEFT JOIN staff s ON s.id = e.actor_id
         WHERE e.application_id = $1 ORDER BY e.seq",
    )
    .bind(application_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| event_from_row(r, "note")).collect()
}

/// The timelines of many applications in one query: `(application_id, event)`, in order.
pub async fn events_of(conn: &mut Conn, ids: &[String]) -> Result<Vec<(String, Event)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT e.application_id, e.from_status, e.to_status, e.actor_role, e.actor_id, e.note, e.system_note, e.detail,
                e.at, s.display_name AS actor_name
         FROM application_events e LEFT JOIN staff s ON s.id = e.actor_id
         WHERE e.application_id IN ({}) ORDER BY e.application_id, e.seq",
        crate::placeholders(1, ids.len())
    );
    let rows = crate::query_in(&sql, ids).fetch_all(conn).await?;
    rows.iter().map(|r| Ok((r.try_get("application_id")?, event_from_row(r, "note")?))).collect()
}

/// An event from a row whose event note is the column `note` (`event_note` beside an
/// application's own).
fn event_from_row(r: &Row, note: &str) -> Result<Event, StoreError> {
    let from: Option<String> = r.try_get("from_status")?;
    let to: String = r.try_get("to_status")?;
    Ok(Event {
        from: from.as_deref().map(status).transpose()?,
        to: status(&to)?,
        actor_role: r.try_get("actor_role")?,
        actor_id: r.try_get("actor_id")?,
        actor_name: r.try_get("actor_name")?,
        note: r.try_get(note)?,
        system_note: r.try_get::<Option<String>, _>("system_note")?.and_then(|n| serde_json::from_str(&n).ok()),
        detail: r.try_get("detail")?,
        at: Timestamp::from_millis(r.try_get("at")?),
    })
}

const COLUMNS: &str = "id, merchant_id, terminal_id, status, reason, note, amount_fen, fee_fen, deducted_fen,
    net_refund_fen, deduct_outstanding, bank_card_first4, bank_card_last4, four_eyes_required, claimed_by,
    first_approver, second_approver, receipt_number, created_at, updated_at";

fn from_row(r: &Row) -> Result<Application, StoreError> {
    let st: String = r.try_get("status")?;
    let first4: String = r.try_get("bank_card_first4")?;
    let last4: String = r.try_get("bank_card_last4")?;
    Ok(Application {
        id: r.try_get("id")?,
        merchant_id: r.try_get("merchant_id")?,
        terminal_id: r.try_get("terminal_id")?,
        status: status(&st)?,
        reason: r.try_get("reason")?,
        note: r.try_get("note")?,
        amount: Fen::new(r.try_get("amount_fen")?),
        fee: Fen::new(r.try_get("fee_fen")?),
        deducted: Fen::new(r.try_get("deducted_fen")?),
        net_refund: Fen::new(r.try_get("net_refund_fen")?),
        deduct_outstanding: r.try_get::<i64, _>("deduct_outstanding")? == 1,
        bank_card_masked: yajin_core::ids::mask_card_last4(&first4, &last4),
        four_eyes_required: r.try_get::<i64, _>("four_eyes_required")? == 1,
        claimed_by: r.try_get("claimed_by")?,
        first_approver: r.try_get("first_approver")?,
        second_approver: r.try_get("second_approver")?,
        receipt_number: r.try_get("receipt_number")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

pub async fn by_receipt_number(conn: &mut Conn, number: &str) -> Result<Option<Application>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM refund_applications WHERE receipt_number = $1"))
        .bind(number)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn by_id(conn: &mut Conn, id: &str) -> Result<Option<Application>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM refund_applications WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The terminal's open application, if any.
pub async fn open_for_terminal(conn: &mut Conn, terminal_id: &str) -> Result<Option<Application>, StoreError> {
    let open: Vec<&str> = Status::ALL.iter().filter(|s| s.is_open()).map(|s| s.as_str()).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM refund_applications WHERE terminal_id = $1 AND status IN ('{}')",
        open.join("', '")
    );
    let row = query(&sql).bind(terminal_id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// The open application of each of these terminals that has one: `(terminal_id, application_id)`.
/// A terminal's application in progress, as My Devices shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenApplication {
    pub id: String,
    pub status: Status,
    pub net_refund: Fen,
}

impl OpenApplication {
    /// From its JSON form `[id, status, net_refund_fen]` (what the one-statement read builds).
    pub fn from_json(text: &str) -> Result<OpenApplication, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("open application {text}"));
        let v: serde_json::Value = serde_json::from_str(text).map_err(|_| corrupt())?;
        Ok(OpenApplication {
            id: v[0].as_str().ok_or_else(corrupt)?.to_owned(),
            status: status(v[1].as_str().ok_or_else(corrupt)?)?,
            net_refund: Fen::new(v[2].as_i64().ok_or_else(corrupt)?),
        })
    }
}

/// The open application of each terminal that has one: `(terminal_id, application)`.
pub async fn open_for_terminals(
    conn: &mut Conn,
    terminal_ids: &[String],
) -> Result<Vec<(String, OpenApplication)>, StoreError> {
    if terminal_ids.is_empty() {
        return Ok(Vec::new());
    }
    let open: Vec<&str> = Status::ALL.iter().filter(|s| s.is_open()).map(|s| s.as_str()).collect();
    let sql = format!(
        "SELECT terminal_id, id, status, net_refund_fen FROM refund_applications
         WHERE terminal_id IN ({}) AND status IN ('{}')",
        crate::placeholders(1, terminal_ids.len()),
        open.join("', '")
    );
    let mut query = query(&sql);
    for id in terminal_ids {
        query = query.bind(id);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            let open = OpenApplication {
                id: r.try_get("id")?,
                status: status(&r.try_get::<String, _>("status")?)?,
                net_refund: Fen::new(r.try_get("net_refund_fen")?),
            };
            Ok((r.try_get("terminal_id")?, open))
        })
        .collect()
}

/// A page of a merchant's applications, newest first, before the id cursor.
pub async fn page_of_merchant(
    conn: &mut Conn,
    merchant_id: &str,
    before_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Application>, StoreError> {
    let (before, cursor) = crate::before_cursor("id", before_id);
    let rows = query(&format!(
        "SELECT {COLUMNS} FROM refund_applications WHERE merchant_id = $1 AND {before} ORDER BY id DESC LIMIT $3"
    ))
    .bind(merchant_id)
    .bind(cursor)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// A page of the applications of an agent's merchants, newest first, before the id cursor.
pub async fn page_of_agent(
    conn: &mut Conn,
    agent_id: &str,
    before_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Application>, StoreError> {
    let (before, cursor) = crate::before_cursor("id", before_id);
    let rows = query(&format!(
        "SELECT {COLUMNS} FROM refund_applications
         WHERE merchant_id IN (SELECT id FROM merchants WHERE agent_id = $1) AND {before}
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(agent_id)
    .bind(cursor)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// One application of one of the agent's merchants; any other is not found.
pub async fn of_agent(conn: &mut Conn, agent_id: &str, id: &str) -> Result<Option<Application>, StoreError> {
    let row = query(&format!(
        "SELECT {COLUMNS} FROM refund_applications
         WHERE id = $1 AND merchant_id IN (SELECT id FROM merchants WHERE agent_id = $2)"
    ))
    .bind(id)
    .bind(agent_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// One of the merchant's applications; another merchant's is not found.
pub async fn of_merchant(conn: &mut Conn, merchant_id: &str, id: &str) -> Result<Option<Application>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM refund_applications WHERE id = $1 AND merchant_id = $2"))
        .bind(id)
        .bind(merchant_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Appends to the merchant's note (a supplement), keeping what was said before.
pub async fn append_note(conn: &mut Conn, id: &str, addition: &str) -> Result<(), StoreError> {
    query(
        "UPDATE refund_applications SET note = CASE WHEN note = '' THEN $1 ELSE note || '\n' || $1 END WHERE id = $2",
    )
    .bind(addition)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Who did what, written together with a status change by [`transition_by`].
#[derive(Clone, Copy, Debug)]
pub enum Mark<'a> {
    None,
    Claimed(&'a str),
    /// The first approval: only by the one who claimed it.
    FirstApproval(&'a str),
    /// The second approval: never by the first approver (also a CHECK in the schema).
    SecondApproval(&'a str),
    Rejected(&'a str),
}

/// A conditional status change that also records who acted; false (nothing changed) when the
/// application was no longer in `from` or the actor may not do it.
pub async fn transition_by(
    conn: &mut Conn,
    id: &str,
    from: Status,
    to: Status,
    mark: Mark<'_>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let (set, guard, value) = match mark {
        Mark::None => ("", "", ""),
        Mark::Claimed(staff) => (", claimed_by = $5", "", staff),
        Mark::FirstApproval(staff) => (", first_approver = $5", " AND claimed_by = $5", staff),
        Mark::SecondApproval(staff) => (", second_approver = $5", " AND first_approver <> $5", staff),
        Mark::Rejected(code) => (", reject_reason_code = $5", "", code),
    };
    let sql = format!(
        "UPDATE refund_applications SET status = $1, updated_at = $2{set} WHERE id = $3 AND status = $4{guard}"
    );
    let mut query = query(&sql).bind(to.as_str()).bind(now_ms).bind(id).bind(from.as_str());
    if !value.is_empty() {
        query = query.bind(value);
    }
    Ok(query.execute(conn).await?.rows_affected() == 1)
}

/// The review queue: applications in `status`, oldest first, after the id cursor.
pub async fn queue(
    conn: &mut Conn,
    status: Status,
    after_id: &str,
    limit: i64,
) -> Result<Vec<Application>, StoreError> {
    let rows =
        query(&format!("SELECT {COLUMNS} FROM refund_applications WHERE status = $1 AND id > $2 ORDER BY id LIMIT $3"))
            .bind(status.as_str())
            .bind(after_id)
            .bind(limit)
            .fetch_all(conn)
            .await?;
    rows.iter().map(from_row).collect()
}
