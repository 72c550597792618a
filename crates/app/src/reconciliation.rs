//! Reconciling the bank's statement with our payouts (`docs/payout-channel.md`, "Statement").
//!
//! The statement is streamed: fed in chunks of any size, parsed line by line, looked up 1,000
//! lines at a time (one query each), so a file of millions of lines needs neither memory for the
//! whole file nor a query per line. Every line is accounted for: matched, a duplicate, unknown to
//! us, an amount that differs, or an error with its line number; a garbage line or a truncated
//! last line does not stop the good ones. A payout we still held as `sent` or `unknown` that the
//! statement shows paid is settled by it (the statement is the bank's word). Our successful
//! payouts on the statement's days that it does not list are reported missing.

use std::collections::{BTreeSet, HashMap, HashSet};

use yajin_core::statement::{self, LineError, StatementLine};
use yajin_store::records::payouts;

use crate::{App, AppError};

/// How many lines are looked up at once.
const BATCH: usize = 1_000;
/// Each list in the report names at most this many; the counts are always whole.
pub const LIST_MAX: usize = 1_000;
const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mismatch {
    pub payout_id: String,
    pub ours_fen: i64,
    pub statement_fen: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Lines read, the header and blank lines included.
    pub lines: u64,
    pub matched: u64,
    /// Payouts we held as sent or unknown that the statement settled.
    pub settled_by_statement: Vec<String>,
    pub duplicates: Vec<String>,
    pub unknown_in_statement: Vec<String>,
    pub amount_mismatches: Vec<Mismatch>,
    /// Paid according to the bank, failed according to us: for a person to look at.
    pub conflicts: Vec<String>,
    pub missing_in_statement: Vec<String>,
    pub errors: Vec<LineError>,
    /// Totals of each list (the lists stop at [`LIST_MAX`]).
    pub duplicates_total: u64,
    pub unknown_total: u64,
    pub mismatches_total: u64,
    pub conflicts_total: u64,
    pub missing_total: u64,
    pub errors_total: u64,
}

fn push<T>(list: &mut Vec<T>, total: &mut u64, item: T) {
    *total += 1;
    if list.len() < LIST_MAX {
        list.push(item);
    }
}

pub struct Reconciler<'a> {
    app: &'a App,
    partial: Vec<u8>,
    line: u64,
    batch: Vec<StatementLine>,
    seen: HashSet<String>,
    days: BTreeSet<i64>,
    report: Report,
}

impl<'a> Reconciler<'a> {
    pub fn new(app: &'a App) -> Reconciler<'a> {
        Reconciler {
            app,
            partial: Vec::new(),
            line: 0,
            batch: Vec::new(),
            seen: HashSet::new(),
            days: BTreeSet::new(),
            report: Report::default(),
        }
    }

    /// Takes the next bytes of the statement.
    pub async fn feed(&mut self, chunk: &[u8]) -> Result<(), AppError> {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                self.line_done(&rest[..end]);
            } else {
                self.partial.extend_from_slice(&rest[..end]);
                let line = std::mem::take(&mut self.partial);
                self.line_done(&line);
            }
            rest = &rest[end + 1..];
            if self.batch.len() >= BATCH {
                self.flush().await?;
            }
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    fn line_done(&mut self, bytes: &[u8]) {
        self.line += 1;
        self.report.lines += 1;
        match statement::parse_line(self.line, bytes) {
            Ok(Some(line)) => self.batch.push(line),
            Ok(None) => {}
            Err(e) => push(&mut self.report.errors, &mut self.report.errors_total, e),
        }
    }

    async fn flush(&mut self) -> Result<(), AppError> {
        let batch = std::mem::take(&mut self.batch);
        if batch.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = batch.iter().map(|l| l.payout_id.clone()).collect();
        let ours: HashMap<String, payouts::Payout> = {
            let mut conn = self.app.db.begin_read().await?;
            payouts::by_ids(&mut conn, &ids).await?.into_iter().map(|p| (p.id.clone(), p)).collect()
        };
        let r = &mut self.report;
        for line in batch {
            self.days.insert(line.paid_at.millis().div_euclid(DAY_MS));
            if !self.seen.insert(line.payout_id.clone()) {
                push(&mut r.duplicates, &mut r.duplicates_total, line.payout_id);
                continue;
            }
            let Some(payout) = ours.get(&line.payout_id) else {
                push(&mut r.unknown_in_statement, &mut r.unknown_total, line.payout_id);
                continue;
            };
            if payout.amount != line.amount || payout.application_id != line.reference {
                let m = Mismatch {
                    payout_id: line.payout_id,
                    ours_fen: payout.amount.get(),
                    statement_fen: line.amount.get(),
                };
                push(&mut r.amount_mismatches, &mut r.mismatches_total, m);
                continue;
            }
            match payout.status.as_str() {
                "succeeded" => r.matched += 1,
                "failed" => push(&mut r.conflicts, &mut r.conflicts_total, line.payout_id),
                _ => {
                    crate::payouts::succeeded(self.app, &payout.id, &line.bank_reference, line.paid_at.millis())
                        .await?;
                    r.matched += 1;
                    r.settled_by_statement.push(line.payout_id);
                }
            }
        }
        Ok(())
    }

    /// The end of the statement: the last line (reported if it was cut off), then what it
    /// should have listed and did not.
    pub async fn finish(mut self) -> Result<Report, AppError> {
        if !self.partial.is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.line += 1;
            self.report.lines += 1;
            match statement::parse_line(self.line, &last) {
                Ok(Some(line)) => self.batch.push(line),
                Ok(None) => {}
                Err(e) => {
                    let message = format!("the last line is cut off or unreadable: {}", e.message);
                    push(&mut self.report.errors, &mut self.report.errors_total, LineError { line: e.line, message });
                }
            }
        }
        self.flush().await?;
        let mut conn = self.app.db.begin_read().await?;
        for day in &self.days {
            for id in payouts::succeeded_between(&mut conn, day * DAY_MS, (day + 1) * DAY_MS).await? {
                if !self.seen.contains(&id) {
                    push(&mut self.report.missing_in_statement, &mut self.report.missing_total, id);
                }
            }
        }
        Ok(self.report)
    }
}
