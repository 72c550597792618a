//! The agent's view (代理商): its own merchants, their terminals and refund applications,
//! read-only and masked; another agent's merchants are not found.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use yajin_app::agents;
use yajin_core::permission::Permission;

use super::paging::PageQuery;
use super::problem::{ApiError, Language, Problem};
use super::session::StaffSession;
use super::state::AppState;
use super::views::{
    AgentApplicationPage, AgentApplicationView, AgentMerchantPage, AgentMerchantView, AgentTerminalPage,
    AgentTerminalView,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/agent/merchants", get(list_agent_merchants))
        .route("/api/v1/agent/terminals", get(list_agent_terminals))
        .route("/api/v1/agent/refund-applications", get(list_agent_applications))
        .route("/api/v1/agent/refund-applications/{id}", get(get_agent_application))
}

#[utoipa::path(get, path = "/api/v1/agent/merchants", operation_id = "list_agent_merchants", tag = "agent",
    security(("bearer" = []), ("cookie" = [])), params(PageQuery),
    responses((status = 200, body = AgentMerchantPage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not an agent", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_agent_merchants(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<PageQuery>,
) -> Result<Json<AgentMerchantPage>, ApiError> {
    session.require(Permission::AgentRead)?;
    let list = agents::merchants(&state.app, &session.staff_id, &q.page()?).await?;
    Ok(Json(AgentMerchantPage::of(list, AgentMerchantView::from)))
}

#[utoipa::path(get, path = "/api/v1/agent/terminals", operation_id = "list_agent_terminals", tag = "agent",
    security(("bearer" = []), ("cookie" = [])), params(PageQuery),
    responses((status = 200, body = AgentTerminalPage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not an agent", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_agent_terminals(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<PageQuery>,
) -> Result<Json<AgentTerminalPage>, ApiError> {
    session.require(Permission::AgentRead)?;
    let list = agents::terminals(&state.app, &session.staff_id, &q.page()?).await?;
    Ok(Json(AgentTerminalPage::of(list, AgentTerminalView::from)))
}

#[utoipa::path(get, path = "/api/v1/agent/refund-applications", operation_id = "list_agent_applications", tag = "agent",
    security(("bearer" = []), ("cookie" = [])), params(PageQuery),
    responses((status = 200, body = AgentApplicationPage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not an agent", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_agent_applications(
    State(state): State<AppState>,
    session: StaffSession,
    Language(lang): Language,
    Query(q): Query<PageQuery>,
) -> Result<Json<AgentApplicationPage>, ApiError> {
    session.require(Permission::AgentRead)?;
    let list = agents::applications(&state.app, &session.staff_id, &q.page()?).await?;
    Ok(Json(AgentApplicationPage::of(list, |a| AgentApplicationView::new(a, lang))))
}

#[utoipa::path(get, path = "/api/v1/agent/refund-applications/{id}", operation_id = "get_agent_application", tag = "agent",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, body = AgentApplicationView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not an agent", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another agent's merchant's)", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get_agent_application(
    State(state): State<AppState>,
    session: StaffSession,
    Language(lang): Language,
    Path(id): Path<String>,
) -> Result<Json<AgentApplicationView>, ApiError> {
    session.require(Permission::AgentRead)?;
    let a = agents::application(&state.app, &session.staff_id, &id).await?;
    Ok(Json(AgentApplicationView::new(a, lang)))
}
