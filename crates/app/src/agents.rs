//! What an agent (代理商) sees: the merchants it onboarded, their terminals and their refund
//! applications with the timeline — read-only, personal numbers masked, and nothing of another
//! agent's merchants (not found, as for a merchant). The company owns every refund; the agent
//! sees each step, so that nobody can say "ask the other side".

use std::collections::HashMap;

use yajin_core::eligibility::DepositFigures;
use yajin_store::ledger;
use yajin_store::records::applications::{self, OpenApplication};
use yajin_store::records::merchants::{self, Merchant};
use yajin_store::records::terminals::{self, Terminal};

use crate::application_detail::{load_details, ApplicationDetail};
use crate::paging::{Page, PageRequest};
use crate::{App, AppError};

/// The agent's merchants, by merchant number.
pub async fn merchants(app: &App, agent_id: &str, page: &PageRequest) -> Result<Page<Merchant>, AppError> {
    let mut conn = app.db.begin_read().await?;
    let rows = merchants::page_of_agent(&mut conn, agent_id, page.after_or_empty(), page.fetch()).await?;
    Ok(Page::of(rows, page, |m| m.merchant_no.clone()))
}

/// A terminal of one of the agent's merchants, with its deposit and any refund in progress.
#[derive(Clone, Debug)]
pub struct AgentTerminal {
    pub terminal: Terminal,
    pub merchant_no: String,
    pub merchant_name: String,
    pub deposit: DepositFigures,
    pub open_application: Option<OpenApplication>,
}

/// The terminals of the agent's merchants, by SN: three queries a page, however long.
pub async fn terminals(app: &App, agent_id: &str, page: &PageRequest) -> Result<Page<AgentTerminal>, AppError> {
    let mut conn = app.db.begin_read().await?;
    let rows = terminals::page_of_agent(&mut conn, agent_id, page.after_or_empty(), page.fetch()).await?;
    let page = Page::of(rows, page, |t| t.sn.clone());
    let ids: Vec<String> = page.items.iter().map(|t| t.id.clone()).collect();
    let mut figures = ledger::deposit_figures_of(&mut conn, &ids).await?;
    let mut open: HashMap<String, OpenApplication> =
        applications::open_for_terminals(&mut conn, &ids).await?.into_iter().collect();
    let merchant_ids: Vec<String> = page.items.iter().map(|t| t.merchant_id.clone()).collect();
    let names: HashMap<String, (String, String)> = merchants::by_ids(&mut conn, &merchant_ids)
        .await?
        .into_iter()
        .map(|m| (m.id, (m.merchant_no, m.name)))
        .collect();
    let items = page
        .items
        .into_iter()
        .map(|terminal| {
            let (merchant_no, merchant_name) = names.get(&terminal.merchant_id).cloned().unwrap_or_default();
            AgentTerminal {
                deposit: figures.remove(&terminal.id).unwrap_or_default(),
                open_application: open.remove(&terminal.id),
                merchant_no,
                merchant_name,
                terminal,
            }
        })
        .collect();
    Ok(Page { items, next_cursor: page.next_cursor })
}

/// A refund application of one of the agent's merchants, with whose it is.
#[derive(Clone, Debug)]
pub struct AgentApplication {
    pub detail: ApplicationDetail,
    pub merchant_no: String,
    pub merchant_name: String,
}

async fn with_merchants(
    conn: &mut yajin_store::Conn,
    details: Vec<ApplicationDetail>,
) -> Result<Vec<AgentApplication>, AppError> {
    let ids: Vec<String> = details.iter().map(|d| d.application.merchant_id.clone()).collect();
    let names: HashMap<String, (String, String)> =
        merchants::by_ids(conn, &ids).await?.into_iter().map(|m| (m.id, (m.merchant_no, m.name))).collect();
    Ok(details
        .into_iter()
        .map(|detail| {
            let (merchant_no, merchant_name) = names.get(&detail.application.merchant_id).cloned().unwrap_or_default();
            AgentApplication { detail, merchant_no, merchant_name }
        })
        .collect())
}

/// The refund applications of the agent's merchants, newest first.
pub async fn applications(app: &App, agent_id: &str, page: &PageRequest) -> Result<Page<AgentApplication>, AppError> {
    let mut conn = app.db.begin_read().await?;
    let rows = applications::page_of_agent(&mut conn, agent_id, page.after.as_deref(), page.fetch()).await?;
    let page = Page::of(rows, page, |a| a.id.clone());
    let details = load_details(&mut conn, page.items).await?;
    Ok(Page { items: with_merchants(&mut conn, details).await?, next_cursor: page.next_cursor })
}

/// One application of one of the agent's merchants, with its timeline; any other is not found.
pub async fn application(app: &App, agent_id: &str, id: &str) -> Result<AgentApplication, AppError> {
    let mut conn = app.db.begin_read().await?;
    let a = applications::of_agent(&mut conn, agent_id, id).await?.ok_or(AppError::NotFound("application"))?;
    let details = load_details(&mut conn, vec![a]).await?;
    with_merchants(&mut conn, details).await?.pop().ok_or(AppError::NotFound("application"))
}
