//! Bulk import (`yajin import KIND FILE`): the records of the provisioning endpoints, from
//! rows of text (a CSV file's, decoded by the command line), checked with the domain's types,
//! loaded where good and reported where not, idempotent on each record's natural key.
//!
//! Columns are the provisioning endpoints' fields (api.md), a terminal's deposit flattened as
//! `deposit_amount_fen`, `deposit_route`, `deposit_route_ref`, `deposit_collected_at`. Rows
//! arrive in batches; a batch of transactions is one transaction through the database's bulk
//! path (`store::bulk`: prepared inserts on SQLite, `COPY` on PostgreSQL); a batch of
//! terminals is one transaction too, through the terminals' use case for many at once
//! (multi-row statements: a batch costs a few statements, not a few a row), and a batch of
//! outstanding items likewise; merchants go through their use case a row at a time, several
//! rows at once (each hashes a password).

use std::collections::{HashMap, HashSet};

use yajin_core::eligibility::{TerminalStatus, OWED_KINDS};
use yajin_core::ids::PhoneNo;
use yajin_core::ledger::{AccountKey, AccountKind};
use yajin_core::plan::TxnKind;
use yajin_core::validation::{due_date, happened, printable, FieldError, Lines};
use yajin_core::{Fen, Timestamp};
use yajin_store::bulk::UsageLoader;
use yajin_store::records::outstanding;
use yajin_store::records::terminals::{self, NewUsage};
use yajin_store::StoreError;

use crate::onboarding::{self, Provisioned};
use crate::provisioning::{self, DepositInput, MerchantInput, TerminalInput};
use crate::{Actor, App, AppError};

/// What is imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Merchants,
    Terminals,
    Transactions,
    OutstandingItems,
}

impl Kind {
    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "merchants" => Some(Kind::Merchants),
            "terminals" => Some(Kind::Terminals),
            "transactions" => Some(Kind::Transactions),
            "outstanding-items" => Some(Kind::OutstandingItems),
            _ => None,
        }
    }

    /// The columns a file must have, then those it may have.
    pub fn columns(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Kind::Merchants => (
                &["merchant_no", "name", "phone", "password", "id_card_no", "bank_card_no", "bank_name"],
                &["agent_username"],
            ),
            Kind::Terminals => (
                &["merchant_no", "sn", "model", "plan_code", "status", "bound_at"],
                &[
                    "terminal_id",
                    "activated_at",
                    "terminated_at",
                    "device_returned_at",
                    "deposit_amount_fen",
                    "deposit_route",
                    "deposit_route_ref",
                    "deposit_collected_at",
                ],
            ),
            Kind::Transactions => (&["ref", "sn", "amount_fen", "kind", "occurred_at"], &["fee_fen"]),
            Kind::OutstandingItems => (&["sn", "kind", "amount_fen", "due_at"], &[]),
        }
    }
}

/// Where each column is in a file's rows.
#[derive(Clone, Debug)]
pub struct Columns {
    kind: Kind,
    index: HashMap<&'static str, usize>,
    width: usize,
}

impl Columns {
    /// The header row, checked: every required column, no unknown or repeated one.
    pub fn new(kind: Kind, header: &[String]) -> Result<Columns, String> {
        let (required, optional) = kind.columns();
        let mut index = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let name = name.trim();
            let Some(known) = required.iter().chain(optional).find(|c| **c == name) else {
                return Err(format!(
                    "column {name:?} is not one of {} (header row, column {})",
                    required.iter().chain(optional).copied().collect::<Vec<_>>().join(", "),
                    i + 1
                ));
            };
            if index.insert(*known, i).is_some() {
                return Err(format!("column {name:?} appears twice in the header row"));
            }
        }
        let missing: Vec<&str> = required.iter().filter(|c| !index.contains_key(*c)).copied().collect();
        if !missing.is_empty() {
            return Err(format!("the header row lacks {}", missing.join(", ")));
        }
        Ok(Columns { kind, index, width: header.len() })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }
}

/// One row of the file: its line number and its fields as text.
#[derive(Clone, Debug)]
pub struct Row {
    pub line: u64,
    pub fields: Vec<String>,
}

/// Why a row was not loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl RowError {
    pub fn new(line: u64, field: &str, code: &'static str, message: impl Into<String>) -> RowError {
        RowError { line, field: field.to_owned(), code, message: message.into() }
    }

    fn of(line: u64, e: FieldError) -> RowError {
        RowError { line, field: e.field, code: e.code, message: e.message.en.into_owned() }
    }
}

/// What a batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Rows read.
    pub rows: u64,
    /// Rows that made a new record (or would have, in a dry run).
    pub loaded: u64,
    /// Rows whose record was already there, the same.
    pub existing: u64,
    /// Rows refused (each with at least one [`RowError`]).
    pub refused: u64,
}

impl Tally {
    pub fn add(&mut self, other: Tally) {
        self.rows += other.rows;
        self.loaded += other.loaded;
        self.existing += other.existing;
        self.refused += other.refused;
    }
}

/// A row's fields by column name, collecting what is wrong with them.
struct Fields<'a> {
    columns: &'a Columns,
    row: &'a Row,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    fn text(&self, column: &str) -> &'a str {
        self.columns.index.get(column).and_then(|i| self.row.fields.get(*i)).map_or("", |s| s.trim())
    }

    fn optional(&self, column: &str) -> Option<&'a str> {
        Some(self.text(column)).filter(|s| !s.is_empty())
    }

    /// Whole fen: digits only (no sign, no decimals, no grouping).
    fn fen(&mut self, column: &str) -> Option<Fen> {
        match whole_fen(self.text(column)) {
            Some(fen) => Some(fen),
            None => {
                self.errors.push(FieldError::new(
                    column,
                    "invalid_amount",
                    "须为整数分（不带符号、小数点或千分位）",
                    "whole fen: digits only, no sign, decimals or grouping",
                ));
                None
            }
        }
    }

    fn time(&mut self, column: &str) -> Option<Timestamp> {
        let parsed = Timestamp::parse_rfc3339(self.text(column));
        if parsed.is_none() {
            self.errors.push(FieldError::new(column, "invalid_format", "须为 RFC 3339 时间", "an RFC 3339 time"));
        }
        parsed
    }

    fn optional_time(&mut self, column: &str) -> Option<Timestamp> {
        self.optional(column).and_then(|_| self.time(column))
    }

    fn one_of<T>(&mut self, column: &str, parsed: Option<T>, allowed: &str) -> Option<T> {
        if parsed.is_none() {
            self.errors.push(FieldError::new(
                column,
                "invalid_value",
                format!("须为 {allowed} 之一"),
                format!("one of {allowed}"),
            ));
        }
        parsed
    }
}

/// An amount as a file gives it: whole fen, digits only (no sign, decimals or grouping), at
/// most the largest amount Yajin takes.
pub fn whole_fen(text: &str) -> Option<Fen> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>().ok().filter(|n| *n <= Fen::PARSE_MAX.get()).map(Fen::new)
}

/// An import under way: what is imported, by whom, and whether anything is written. A batch
/// is checked first ([`Import::check`]: every field, and for usage records each row's terminal
/// looked up), then written ([`Import::write`]); the two are apart so that a caller can check
/// the next batch while the database writes the last one.
#[derive(Clone, Copy)]
pub struct Import<'a> {
    app: &'a App,
    actor: &'a Actor,
    columns: &'a Columns,
    dry_run: bool,
}

/// Where an import's batches are written, kept from one batch to the next (the bulk loader of
/// usage records keeps its connection).
pub struct Writer {
    usage: UsageLoader,
}

/// A batch checked and not yet written.
pub struct Checked {
    tally: Tally,
    errors: Vec<RowError>,
    pending: Pending,
}

enum Pending {
    /// Usage records: the rows already decided (refused, or repeated in the batch), and the
    /// records to write with each one's line.
    Usage { decided: Vec<(u64, Outcome)>, lines: Vec<u64>, records: Vec<(String, NewUsage)> },
    /// Other kinds: the rows whose fields are text, checked further as they are written.
    Rows(Vec<Row>),
}

impl<'a> Import<'a> {
    /// `dry_run`: nothing is written, and a row counts as loaded when it would be.
    pub fn new(app: &'a App, actor: &'a Actor, columns: &'a Columns, dry_run: bool) -> Import<'a> {
        Import { app, actor, columns, dry_run }
    }

    /// How many writers this import keeps busy at once: for usage records as many as the
    /// database writes side by side with profit ([`UsageLoader::at_once`]); other kinds one,
    /// batch after batch.
    pub fn writers(&self) -> usize {
        match self.columns.kind {
            Kind::Transactions if !self.dry_run => UsageLoader::at_once(&self.app.db),
            _ => 1,
        }
    }

    /// Where this import writes.
    pub fn writer(&self) -> Writer {
        Writer { usage: UsageLoader::new(&self.app.db) }
    }

    /// Checks a batch and writes it: [`Import::check`], then [`Import::write`].
    pub async fn load(&self, writer: &mut Writer, rows: Vec<Row>) -> Result<(Tally, Vec<RowError>), StoreError> {
        let checked = self.check(rows, Vec::new()).await?;
        self.write(writer, checked).await
    }

    /// Checks a batch of rows, writing nothing: each row's width and text, and for usage records
    /// every field and each row's terminal. `unreadable`: the batch's lines that could not be
    /// read as rows of text, counted and reported with the others.
    pub async fn check(&self, rows: Vec<Row>, unreadable: Vec<RowError>) -> Result<Checked, StoreError> {
        let columns = self.columns;
        let tally = Tally { rows: (rows.len() + unreadable.len()) as u64, ..Tally::default() };
        let mut errors = unreadable;
        let mut good = Vec::with_capacity(rows.len());
        let names = header_names(columns);
        for row in rows {
            if row.fields.len() != columns.width {
                errors.push(RowError::new(
                    row.line,
                    "",
                    "wrong_column_count",
                    format!("{} fields where the header has {}", row.fields.len(), columns.width),
                ));
                continue;
            }
            let typed: Vec<FieldError> = row
                .fields
                .iter()
                .zip(&names)
                .filter_map(|(value, column)| printable(column, value, Lines::One))
                .collect();
            if !typed.is_empty() {
                errors.extend(typed.into_iter().map(|e| RowError::of(row.line, e)));
                continue;
            }
            good.push(row);
        }
        let pending = match columns.kind {
            Kind::Transactions => usage_checked(self.app, columns, &good).await?,
            _ => Pending::Rows(good),
        };
        Ok(Checked { tally, errors, pending })
    }

    /// Writes a checked batch (or, in a dry run, counts what would be new); returns the tally
    /// and every refused row's errors. A database failure stops the import (what was committed
    /// stays; running it again resumes, since every record is idempotent on its natural key).
    pub async fn write(&self, writer: &mut Writer, checked: Checked) -> Result<(Tally, Vec<RowError>), StoreError> {
        let (app, actor, columns, dry_run) = (self.app, self.actor, self.columns, self.dry_run);
        let Checked { mut tally, mut errors, pending } = checked;
        let outcomes = match pending {
            Pending::Usage { decided, lines, records } => {
                usage_written(app, &mut writer.usage, decided, lines, records, dry_run).await?
            }
            Pending::Rows(good) => {
                let good: Vec<&Row> = good.iter().collect();
                match columns.kind {
                    Kind::Terminals if !dry_run => terminals_batch(app, actor, columns, &good).await?,
                    Kind::OutstandingItems => outstanding_batch(app, actor, columns, &good, dry_run).await?,
                    Kind::Merchants if !dry_run => merchants_batch(app, actor, columns, &good).await?,
                    _ => {
                        let mut outcomes = Vec::with_capacity(good.len());
                        for row in &good {
                            outcomes.push((row.line, one(app, actor, columns, row, dry_run).await?));
                        }
                        outcomes
                    }
                }
            }
        };
        for (line, outcome) in outcomes {
            match outcome {
                Ok(true) => tally.loaded += 1,
                Ok(false) => tally.existing += 1,
                Err(row_errors) => errors.extend(row_errors.into_iter().map(|e| RowError::of(line, e))),
            }
        }
        // In the file's order (a row cut short is refused before the others are looked at).
        errors.sort_by_key(|e| e.line);
        let mut refused: Vec<u64> = errors.iter().map(|e| e.line).collect();
        refused.sort_unstable();
        refused.dedup();
        tally.refused = refused.len() as u64;
        Ok((tally, errors))
    }
}

/// One batch on its own: [`Import::load`] of a new [`Import`].
pub async fn load(
    app: &App,
    actor: &Actor,
    columns: &Columns,
    rows: Vec<Row>,
    dry_run: bool,
) -> Result<(Tally, Vec<RowError>), StoreError> {
    let import = Import::new(app, actor, columns, dry_run);
    import.load(&mut import.writer(), rows).await
}

fn header_names(columns: &Columns) -> Vec<&'static str> {
    let mut names = vec![""; columns.width];
    for (name, i) in &columns.index {
        names[*i] = name;
    }
    names
}

/// A row's outcome: `Ok(true)` new, `Ok(false)` already there, or what is wrong with it.
type Outcome = Result<bool, Vec<FieldError>>;

/// The result of a use case as a row's outcome; only a database failure is an error.
fn outcome<T>(result: Result<Provisioned<T>, AppError>) -> Result<Outcome, StoreError> {
    match result {
        Ok(Provisioned::Created(_)) => Ok(Ok(true)),
        Ok(Provisioned::Existing(_)) => Ok(Ok(false)),
        Err(AppError::Fields(errors)) => Ok(Err(as_columns(errors))),
        Err(AppError::Duplicate { field }) => Ok(Err(vec![FieldError::new(
            field,
            "already_exists",
            "已有此记录，内容不同",
            "a different record already has this key",
        )])),
        Err(AppError::NotFound(what)) => Ok(Err(vec![FieldError::new(
            match what {
                "deposit plan" => "plan_code",
                "merchant" => "merchant_no",
                _ => "sn",
            },
            "not_found",
            format!("没有这个{what}"),
            format!("no such {what}"),
        )])),
        Err(AppError::Store(e)) => Err(e),
        Err(other) => Ok(Err(vec![FieldError::new("", "refused", other.to_string(), other.to_string())])),
    }
}

/// Errors named as the file's columns: a terminal's deposit is flattened there
/// (`deposit.route_ref` is `deposit_route_ref`).
fn as_columns(errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| match e.field.strip_prefix("deposit.") {
            Some(rest) => FieldError { field: format!("deposit_{rest}"), ..e },
            None => e,
        })
        .collect()
}

async fn one(app: &App, actor: &Actor, columns: &Columns, row: &Row, dry_run: bool) -> Result<Outcome, StoreError> {
    let f = Fields { columns, row, errors: Vec::new() };
    match columns.kind {
        Kind::Merchants => {
            let input = MerchantInput {
                merchant_no: f.text("merchant_no").to_owned(),
                name: f.text("name").to_owned(),
                phone: f.text("phone").to_owned(),
                password: f.text("password").to_owned(),
                id_card_no: f.text("id_card_no").to_owned(),
                bank_card_no: f.text("bank_card_no").to_owned(),
                bank_name: f.text("bank_name").to_owned(),
                agent_id: None,
            };
            if dry_run {
                return Ok(provisioning::check_merchant(&input).map(|()| true));
            }
            outcome(onboarding::merchant(app, actor, input, f.optional("agent_username")).await)
        }
        Kind::Terminals => match terminal_row(columns, row) {
            Err(errors) => Ok(Err(errors)),
            Ok((_, input)) if dry_run => {
                Ok(provisioning::check_terminal(&input, app.clock.now()).map(|()| true).map_err(as_columns))
            }
            Ok((merchant_no, input)) => outcome(onboarding::terminal(app, actor, merchant_no, input).await),
        },
        Kind::Transactions | Kind::OutstandingItems => unreachable!("transactions and items load in batches"),
    }
}

/// Merchant rows, several at once: each is its own use case and transaction, and what it costs
/// is hashing the password (Argon2id, tens a second a core), which then runs on every core the
/// machine has instead of one. A row repeating the merchant number or phone of a row before it
/// in the batch waits until that row is done, so a file reads as if loaded row by row.
async fn merchants_batch(
    app: &App,
    actor: &Actor,
    columns: &Columns,
    rows: &[&Row],
) -> Result<Vec<(u64, Outcome)>, StoreError> {
    let width = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut rest = rows;
    while !rest.is_empty() {
        // The longest run of rows whose numbers and phones are all different (at least one row).
        let mut keys = HashSet::new();
        let run = rest
            .iter()
            .take_while(|row| {
                let f = Fields { columns, row, errors: Vec::new() };
                let phone = PhoneNo::parse(f.text("phone"))
                    .map_or_else(|_| f.text("phone").to_owned(), |p| p.expose().to_owned());
                keys.insert(format!("merchant_no:{}", f.text("merchant_no"))) & keys.insert(format!("phone:{phone}"))
            })
            .count()
            .max(1);
        let (run, next) = rest.split_at(run);
        let mut results: Vec<Option<Outcome>> = vec![None; run.len()];
        let mut tasks = tokio::task::JoinSet::new();
        let mut queued = run.iter().enumerate();
        loop {
            while tasks.len() < width {
                let Some((i, row)) = queued.next() else { break };
                let (app, actor, columns, row) = (app.clone(), actor.clone(), columns.clone(), (*row).clone());
                tasks.spawn(async move { (i, one(&app, &actor, &columns, &row, false).await) });
            }
            let Some(done) = tasks.join_next().await else { break };
            let (i, outcome) = done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            results[i] = Some(outcome?);
        }
        outcomes.extend(run.iter().zip(results).map(|(row, r)| (row.line, r.expect("every row of the run ran"))));
        rest = next;
    }
    Ok(outcomes)
}

/// A terminal row as the use case takes it, with the merchant number it names.
fn terminal_row<'a>(columns: &'a Columns, row: &'a Row) -> Result<(&'a str, TerminalInput), Vec<FieldError>> {
    let mut f = Fields { columns, row, errors: Vec::new() };
    let status = f.one_of("status", TerminalStatus::parse(f.text("status")), "inactive, active, terminated");
    let bound_at = f.time("bound_at");
    let activated_at = f.optional_time("activated_at");
    let terminated_at = f.optional_time("terminated_at");
    let device_returned_at = f.optional_time("device_returned_at");
    let deposit = match f.optional("deposit_amount_fen") {
        None => {
            let partial = ["deposit_route", "deposit_route_ref", "deposit_collected_at"]
                .into_iter()
                .any(|c| f.optional(c).is_some());
            if partial {
                f.errors.push(FieldError::new(
                    "deposit_amount_fen",
                    "required",
                    "填写了押金的其他列，须同时填写押金金额",
                    "the deposit's other columns are filled: its amount is needed too",
                ));
            }
            None
        }
        Some(_) => {
            let amount = f.fen("deposit_amount_fen");
            let route = ["card", "wechat", "alipay"].into_iter().find(|r| *r == f.text("deposit_route"));
            let route = f.one_of("deposit_route", route, "card, wechat, alipay");
            let collected_at = f.time("deposit_collected_at");
            match (amount, route, collected_at) {
                (Some(amount), Some(route), Some(collected_at)) => Some(DepositInput {
                    amount,
                    route,
                    route_ref: f.text("deposit_route_ref").to_owned(),
                    collected_at,
                }),
                _ => None,
            }
        }
    };
    let (Some(status), Some(bound_at), true) = (status, bound_at, f.errors.is_empty()) else {
        return Err(f.errors);
    };
    let input = TerminalInput {
        merchant_id: String::new(),
        sn: f.text("sn").to_owned(),
        terminal_id: f.text("terminal_id").to_owned(),
        model: f.text("model").to_owned(),
        plan_code: f.text("plan_code").to_owned(),
        status,
        bound_at,
        activated_at,
        terminated_at,
        device_returned_at,
        deposit,
    };
    Ok((f.text("merchant_no"), input))
}

/// A batch of terminal rows in one write transaction and a few statements (the merchants and
/// terminals already there looked up at once, the new ones written at once with their
/// deposits, transfers and audit entries): a refused row writes nothing and is reported, the
/// others are kept, and the batch costs one commit instead of one a row. A database failure
/// undoes the batch and stops the import. The transaction runs where the writer's statements
/// are cheapest ([`yajin_store::Db::on_writer`]).
async fn terminals_batch(
    app: &App,
    actor: &Actor,
    columns: &Columns,
    rows: &[&Row],
) -> Result<Vec<(u64, Outcome)>, StoreError> {
    let parsed: Vec<(u64, Result<(String, TerminalInput), _>)> = rows
        .iter()
        .map(|row| (row.line, terminal_row(columns, row).map(|(merchant_no, input)| (merchant_no.to_owned(), input))))
        .collect();
    let (app, actor) = (app.clone(), actor.clone());
    let db = app.db.clone();
    db.on_writer(async move {
        let mut tx = app.db.begin_write().await?;
        // Each row posts its deposit against the channel's clearing account, then appends to
        // the audit chain; both are taken now, in the order every other use case takes them
        // (the account, then the chain), so a payout or a terminal added through the API
        // meanwhile waits for this batch instead of deadlocking with it. A second import at
        // once waits here for this one to commit, then finds its terminals (instead of
        // tripping on their keys).
        yajin_store::ledger::hold_account(&mut tx, &AccountKey::company(AccountKind::ChannelClearing)).await?;
        yajin_store::audit::hold_head(&mut tx).await?;
        let mut outcomes = Vec::with_capacity(parsed.len());
        let (mut lines, mut good) = (Vec::new(), Vec::new());
        for (line, row) in parsed {
            match row {
                Ok(row) => {
                    lines.push(line);
                    good.push(row);
                }
                Err(errors) => outcomes.push((line, Err(errors))),
            }
        }
        for (line, result) in lines.into_iter().zip(onboarding::terminals_in(&mut tx, &app, &actor, good).await?) {
            outcomes.push((line, outcome(result)?));
        }
        outcomes.sort_by_key(|(line, _)| *line);
        tx.commit().await?;
        Ok(outcomes)
    })
    .await
}

/// A batch of outstanding items in one write transaction and a few statements: each row
/// checked, the terminals looked up at once, an item that its terminal has already (the same
/// kind, amount and due date, there before or earlier in the file) counted as there, the new
/// ones written at once with their transfers and audit entries. A dry run decides the same and
/// writes nothing.
async fn outstanding_batch(
    app: &App,
    actor: &Actor,
    columns: &Columns,
    rows: &[&Row],
    dry_run: bool,
) -> Result<Vec<(u64, Outcome)>, StoreError> {
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut parsed = Vec::with_capacity(rows.len());
    for row in rows {
        let mut f = Fields { columns, row, errors: Vec::new() };
        let kind = OWED_KINDS.into_iter().find(|k| *k == f.text("kind"));
        let kind = f.one_of("kind", kind, &OWED_KINDS.join(", "));
        let amount = f.fen("amount_fen");
        let due_at = f.time("due_at");
        if let Some(e) = due_at.and_then(|at| due_date("due_at", at)) {
            f.errors.push(e);
        }
        match (kind, amount, due_at, f.errors.is_empty()) {
            (Some(_), Some(amount), Some(_), true) if !amount.is_positive() => outcomes
                .push((row.line, Err(vec![FieldError::new("amount_fen", "out_of_range", "须大于 0", "more than 0")]))),
            (Some(kind), Some(amount), Some(due_at), true) => {
                parsed.push((row.line, f.text("sn").to_ascii_uppercase(), kind, amount, due_at))
            }
            _ => outcomes.push((row.line, Err(f.errors))),
        }
    }
    let (app, actor) = (app.clone(), actor.clone());
    let db = app.db.clone();
    db.on_writer(async move {
        let mut tx = app.db.begin_write().await?;
        let sns: Vec<String> = parsed.iter().map(|(_, sn, ..)| sn.clone()).collect();
        let found: HashMap<String, terminals::Terminal> =
            terminals::by_sns(&mut tx, &sns).await?.into_iter().map(|t| (t.sn.clone(), t)).collect();
        // The accounts every item posts to, then the audit chain's head, in the order other
        // use cases take them (an approval credits the fee revenue before a merchant's
        // receivable); held, the check of what is there already stands until this batch
        // commits (a second import of the same file at once waits, then finds it).
        yajin_store::ledger::hold_account(&mut tx, &AccountKey::company(AccountKind::FeeRevenue)).await?;
        let mut merchants: Vec<&str> = found.values().map(|t| t.merchant_id.as_str()).collect();
        merchants.sort_unstable();
        merchants.dedup();
        let receivables: Vec<AccountKey> = merchants.into_iter().map(AccountKey::receivable).collect();
        yajin_store::ledger::hold_accounts(&mut tx, &receivables).await?;
        yajin_store::audit::hold_head(&mut tx).await?;
        let terminal_ids: Vec<String> = found.values().map(|t| t.id.clone()).collect();
        let mut there = outstanding::keys_of_terminals(&mut tx, &terminal_ids).await?;
        let mut new = Vec::new();
        for (line, sn, kind, amount, due_at) in parsed {
            let Some(t) = found.get(&sn) else {
                outcomes
                    .push((line, Err(vec![FieldError::new("sn", "not_found", "没有这台终端", "no such terminal")])));
                continue;
            };
            let key = (t.id.clone(), kind.to_owned(), amount.get(), due_at.millis());
            let is_new = there.insert(key);
            outcomes.push((line, Ok(is_new)));
            if is_new {
                new.push(outstanding::NewItem {
                    merchant_id: t.merchant_id.clone(),
                    terminal_id: Some(t.id.clone()),
                    kind,
                    amount,
                    due_at,
                });
            }
        }
        if dry_run {
            tx.rollback().await?;
        } else {
            provisioning::add_outstanding_many_in(&app.vault, &mut tx, &actor, &new, app.now_ms()).await?;
            tx.commit().await?;
        }
        outcomes.sort_by_key(|(line, _)| *line);
        Ok(outcomes)
    })
    .await
}

/// Usage records checked: each row's fields, and the terminals of the good ones looked up at
/// once. A reference repeated in the batch is already there from its first row on.
async fn usage_checked(app: &App, columns: &Columns, rows: &[Row]) -> Result<Pending, StoreError> {
    let now = app.clock.now();
    let mut parsed = Vec::with_capacity(rows.len());
    for row in rows {
        let mut f = Fields { columns, row, errors: Vec::new() };
        let reference = f.text("ref");
        if reference.is_empty() || reference.len() > 64 {
            f.errors.push(FieldError::new("ref", "invalid_length", "1–64 个字符", "1–64 characters"));
        }
        let amount = f.fen("amount_fen");
        let fee = if f.optional("fee_fen").is_some() { f.fen("fee_fen") } else { Some(Fen::ZERO) };
        let kind = f.one_of("kind", TxnKind::parse(f.text("kind")), "credit_card, debit_card, qr_code, nfc");
        let occurred_at = f.time("occurred_at");
        if let Some(e) = occurred_at.and_then(|at| happened("occurred_at", at, now)) {
            f.errors.push(e);
        }
        if let (Some(amount), Some(fee)) = (amount, fee) {
            if !amount.is_positive() {
                f.errors.push(FieldError::new("amount_fen", "out_of_range", "须大于 0", "more than 0"));
            } else if fee > amount {
                f.errors.push(FieldError::new("fee_fen", "out_of_range", "0 至交易金额", "0 up to the amount"));
            }
        }
        let sn = f.text("sn").to_ascii_uppercase();
        match (amount, fee, kind, occurred_at, f.errors.is_empty()) {
            (Some(amount), Some(fee), Some(kind), Some(occurred_at), true) => {
                parsed.push((row.line, Ok((reference.to_owned(), sn, amount, fee, kind, occurred_at))))
            }
            _ => parsed.push((row.line, Err(f.errors))),
        }
    }
    let sns: Vec<String> = parsed.iter().filter_map(|(_, p)| p.as_ref().ok().map(|p| p.1.clone())).collect();
    // Terminals are never deleted, and the insert checks each one's key again.
    let ids: HashMap<String, String> = {
        let mut conn = app.db.begin_read().await?;
        terminals::ids_by_sns(&mut conn, &sns).await?.into_iter().collect()
    };
    let mut decided = Vec::new();
    let mut lines = Vec::with_capacity(parsed.len());
    let mut records = Vec::with_capacity(parsed.len());
    let mut seen = HashSet::new();
    for (line, p) in parsed {
        match p {
            Err(errors) => decided.push((line, Err(errors))),
            Ok((reference, sn, amount, fee, kind, occurred_at)) => match ids.get(&sn) {
                None => decided
                    .push((line, Err(vec![FieldError::new("sn", "not_found", "没有这台终端", "no such terminal")]))),
                Some(terminal_id) => {
                    if !seen.insert(reference.clone()) {
                        decided.push((line, Ok(false)));
                        continue;
                    }
                    lines.push(line);
                    let usage = NewUsage { terminal_id: terminal_id.clone(), amount, fee, kind, occurred_at };
                    records.push((reference, usage));
                }
            },
        }
    }
    Ok(Pending::Usage { decided, lines, records })
}

/// Usage records written in one transaction of the bulk loader (a reference already recorded
/// is skipped), or in a dry run counted; each row's outcome, in the file's order.
async fn usage_written(
    app: &App,
    loader: &mut UsageLoader,
    mut outcomes: Vec<(u64, Outcome)>,
    lines: Vec<u64>,
    records: Vec<(String, NewUsage)>,
    dry_run: bool,
) -> Result<Vec<(u64, Outcome)>, StoreError> {
    let new = if dry_run {
        let mut conn = app.db.begin_read().await?;
        terminals::count_new_refs(&mut conn, &records.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>()).await?
    } else {
        loader.load(records).await?
    };
    // The statement says how many were new, not which: the first `new` good rows are counted
    // as loaded and the rest as already there (the totals are exact).
    for (i, line) in lines.into_iter().enumerate() {
        outcomes.push((line, Ok((i as u64) < new)));
    }
    outcomes.sort_by_key(|(line, _)| *line);
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn amounts_are_taken_exactly_when_whole_fen(text in "[-+0-9.,e ]{0,22}|\\PC{0,8}") {
            let expected = !text.is_empty()
                && text.bytes().all(|b| b.is_ascii_digit())
                && text.parse::<i64>().is_ok_and(|n| n <= Fen::PARSE_MAX.get());
            prop_assert_eq!(whole_fen(&text).is_some(), expected, "{:?}", text);
            if let Some(fen) = whole_fen(&text) {
                prop_assert_eq!(Some(fen.get()), text.parse::<i64>().ok());
            }
        }

        #[test]
        fn a_header_is_taken_exactly_when_it_names_every_required_column_once(
            names in proptest::collection::vec(prop_oneof![
                proptest::sample::select(vec!["ref", "sn", "amount_fen", "kind", "occurred_at", "fee_fen"]).prop_map(String::from),
                "\\PC{0,10}",
            ], 0..9)
        ) {
            let (required, optional) = Kind::Transactions.columns();
            let trimmed: Vec<&str> = names.iter().map(|n| n.trim()).collect();
            let known = trimmed.iter().all(|n| required.contains(n) || optional.contains(n));
            let once = trimmed.iter().enumerate().all(|(i, n)| !trimmed[..i].contains(n));
            let complete = required.iter().all(|c| trimmed.contains(c));
            prop_assert_eq!(Columns::new(Kind::Transactions, &names).is_ok(), known && once && complete);
        }
    }

    #[test]
    fn amounts_with_signs_decimals_or_grouping_are_refused() {
        assert_eq!(whole_fen("9900"), Some(Fen::new(9900)));
        for bad in ["", "99.00", "+9900", "-5", "9,900", " 9900", "1e4", "９９"] {
            assert_eq!(whole_fen(bad), None, "{bad:?}");
        }
        assert_eq!(whole_fen(&(Fen::PARSE_MAX.get() + 1).to_string()), None);
    }
}
