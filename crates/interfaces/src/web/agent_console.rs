//! The console as an agent (代理商) sees it: its own merchants, their terminals and refund
//! applications, read-only, with each application's timeline. The same use cases and views as
//! `/api/v1/agent/…`.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use yajin_app::agents;
use yajin_app::paging::PageRequest;
use yajin_core::eligibility::Lang;
use yajin_core::permission::Permission;

use super::page::{render, Area, Chrome, PageError};
use super::visitor::Staff;
use crate::http::problem::ApiError;
use crate::http::views::{AgentApplicationView, AgentMerchantView, AgentTerminalView};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/console/agent", get(overview)).route("/console/agent/applications/{id}", get(application))
}

fn failed(e: impl Into<ApiError>, lang: Lang) -> PageError {
    PageError::api(e.into(), lang, Area::Console)
}

#[derive(Template)]
#[template(path = "console/agent.html")]
struct OverviewPage {
    chrome: Chrome,
    merchants: Vec<AgentMerchantView>,
    terminals: Vec<AgentTerminalView>,
    applications: Vec<AgentApplicationView>,
}

/// The agent's merchants, terminals and applications, 200 of each (the API pages further).
async fn overview(State(state): State<AppState>, who: Staff) -> Result<Response, PageError> {
    who.require(Permission::AgentRead)?;
    let lang = who.chrome.lang;
    let agent = who.session.staff_id.as_str();
    let page = PageRequest { limit: 200, after: None };
    let merchants = agents::merchants(&state.app, agent, &page).await.map_err(|e| failed(e, lang))?;
    let terminals = agents::terminals(&state.app, agent, &page).await.map_err(|e| failed(e, lang))?;
    let applications = agents::applications(&state.app, agent, &page).await.map_err(|e| failed(e, lang))?;
    Ok(render(&OverviewPage {
        merchants: merchants.items.into_iter().map(AgentMerchantView::from).collect(),
        terminals: terminals.items.into_iter().map(AgentTerminalView::from).collect(),
        applications: applications.items.into_iter().map(|a| AgentApplicationView::new(a, lang)).collect(),
        chrome: who.chrome,
    }))
}

#[derive(Template)]
#[template(path = "console/agent-application.html")]
struct ApplicationPage {
    chrome: Chrome,
    a: AgentApplicationView,
}

/// One application of the agent's merchants with its timeline; another's is not found.
async fn application(State(state): State<AppState>, who: Staff, Path(id): Path<String>) -> Result<Response, PageError> {
    who.require(Permission::AgentRead)?;
    let lang = who.chrome.lang;
    let a = agents::application(&state.app, &who.session.staff_id, &id).await.map_err(|e| failed(e, lang))?;
    Ok(render(&ApplicationPage { a: AgentApplicationView::new(a, lang), chrome: who.chrome }))
}
