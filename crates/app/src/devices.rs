//! My Devices (我的设备): the merchant's terminals assessed, their usage records, what the
//! merchant owes. Reads in a fixed number of queries per request.

use yajin_core::ids::TerminalSn;
use yajin_core::Timestamp;
use yajin_store::records::devices;
use yajin_store::records::merchants::{self, Merchant};
use yajin_store::records::outstanding::{self, Item};
use yajin_store::records::terminals::{self, Usage};

use crate::assessment::{assess_by_sn, assess_facts, TerminalAssessment};
use crate::paging::{Page, PageRequest};
use crate::{App, AppError};

/// A page of the merchant's terminals by SN, each assessed as of `now`.
pub async fn list_terminals(
    app: &App,
    merchant_id: &str,
    page: &PageRequest,
) -> Result<(Page<TerminalAssessment>, Timestamp), AppError> {
    let now = app.clock.now();
    // One statement: one snapshot and one round trip, so no transaction.
    let (rows, merchant) = devices::page(&app.db, merchant_id, page.after_or_empty(), page.fetch()).await?;
    Ok((assessed_page(rows, &merchant, page, now)?, now))
}

/// A page of terminals as read (one more than asked for, when there is more), assessed.
fn assessed_page(
    rows: Vec<devices::TerminalFacts>,
    merchant: &devices::MerchantFacts,
    page: &PageRequest,
    now: Timestamp,
) -> Result<Page<TerminalAssessment>, AppError> {
    let page = Page::of(rows, page, |f| f.terminal.sn.clone());
    let items = assess_facts(page.items, merchant, false, now)?;
    Ok(Page { items, next_cursor: page.next_cursor })
}

/// What My Devices answers whoever holds a session token.
#[derive(Debug)]
pub enum MyDevices {
    /// No live session behind the token.
    NoSession,
    /// A live session, not a merchant's.
    NotMerchant,
    /// The merchant's page, each terminal assessed as of the instant given.
    Page(Page<TerminalAssessment>, Timestamp),
}

/// [`list_terminals`] for whoever holds `token`, with the session looked up in the statement
/// that reads the page: one read where a request made two (on SQLite, beginning and ending a
/// read transaction was most of what the lookup cost). Only a page that comes back empty,
/// which is also what a token without a live merchant session gets, asks again who holds it.
pub async fn list_terminals_of_session(app: &App, token: &str, page: &PageRequest) -> Result<MyDevices, AppError> {
    let now = app.clock.now();
    let token_hash = crate::auth::token_hash(token);
    let (rows, merchant) =
        devices::page_of_session(&app.db, &token_hash, now.millis(), page.after_or_empty(), page.fetch()).await?;
    if rows.is_empty() {
        match crate::auth::session(app, token).await? {
            None => return Ok(MyDevices::NoSession),
            Some(session) if session.principal_kind != "merchant" => return Ok(MyDevices::NotMerchant),
            Some(_) => {}
        }
    }
    Ok(MyDevices::Page(assessed_page(rows, &merchant, page, now)?, now))
}

/// One of the merchant's terminals by SN (spaces and case as people type them).
pub async fn terminal(app: &App, merchant_id: &str, sn: &str) -> Result<(TerminalAssessment, Timestamp), AppError> {
    let now = app.clock.now();
    let sn = TerminalSn::parse(sn).map_err(|_| AppError::NotFound("terminal"))?;
    let mut conn = app.db.begin_read().await?;
    let assessed =
        assess_by_sn(&mut conn, merchant_id, sn.as_str(), false, now).await?.ok_or(AppError::NotFound("terminal"))?;
    Ok((assessed, now))
}

/// What a refund form is filled from: the terminal, assessed as the merchant would apply
/// (`deduct`: with what is owed taken from the deposit), and the merchant's own record, masked.
pub struct ApplyForm {
    pub assessed: TerminalAssessment,
    pub merchant: Merchant,
    pub now: Timestamp,
    /// Identity checks are locked (too many numbers that did not match): an SMS code first.
    pub identity_locked: bool,
}

pub async fn apply_form(app: &App, merchant_id: &str, sn: &str, deduct: bool) -> Result<ApplyForm, AppError> {
    let now = app.clock.now();
    let sn = TerminalSn::parse(sn).map_err(|_| AppError::NotFound("terminal"))?;
    let mut conn = app.db.begin_read().await?;
    let assessed =
        assess_by_sn(&mut conn, merchant_id, sn.as_str(), deduct, now).await?.ok_or(AppError::NotFound("terminal"))?;
    let merchant = merchants::by_id(&mut conn, merchant_id).await?.ok_or(AppError::NotFound("merchant"))?;
    let identity_locked = crate::applications::identity_locked(&mut conn, merchant_id, now.millis()).await?;
    Ok(ApplyForm { assessed, merchant, now, identity_locked })
}

/// A terminal's usage records, newest first.
pub async fn transactions(app: &App, merchant_id: &str, sn: &str, page: &PageRequest) -> Result<Page<Usage>, AppError> {
    let sn = TerminalSn::parse(sn).map_err(|_| AppError::NotFound("terminal"))?;
    let before = match page.after.as_deref() {
        None => None,
        Some(key) => {
            let (at, id) = key.split_once('|').ok_or(AppError::InvalidCursor)?;
            Some((at.parse::<i64>().map_err(|_| AppError::InvalidCursor)?, id.to_owned()))
        }
    };
    let mut conn = app.db.begin_read().await?;
    let terminal =
        terminals::by_sn(&mut conn, merchant_id, sn.as_str()).await?.ok_or(AppError::NotFound("terminal"))?;
    let rows = terminals::usage_page(&mut conn, &terminal.id, before, page.fetch()).await?;
    Ok(Page::of(rows, page, |u| format!("{}|{}", u.occurred_at.millis(), u.id)))
}

/// What the merchant owes, and what they owed.
pub async fn outstanding_items(app: &App, merchant_id: &str, page: &PageRequest) -> Result<Page<Item>, AppError> {
    let mut conn = app.db.begin_read().await?;
    let rows = outstanding::page_of_merchant(&mut conn, merchant_id, page.after_or_empty(), page.fetch()).await?;
    Ok(Page::of(rows, page, |i| i.id.clone()))
}
