//! Terminal orders (申请机具): the merchant applies, pays the deposit, confirms delivery; a
//! reviewer approves, rejects, ships. And, in a sandbox, card volume on a terminal.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use yajin_app::orders::{self, Decision, OrderDetail, OrderInput};
use yajin_core::notice;
use yajin_core::order::OrderAction;
use yajin_core::permission::Permission;
use yajin_core::text::Lang;
use yajin_core::Fen;

use super::idempotency::{Answer, IdempotencyKey};
use super::json_body::ApiJson;
use super::paging::PageQuery;
use super::problem::{ApiError, Language, Problem};
use super::session::{CanDecide, MerchantSession, Staff, StaffSession};
use super::state::AppState;

pub fn routes(sandbox: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/api/v1/terminal-orders", post(place_terminal_order).get(list_terminal_orders))
        .route("/api/v1/terminal-orders/{id}", get(get_terminal_order))
        .route("/api/v1/terminal-orders/{id}/pay", post(pay_terminal_order))
        .route("/api/v1/terminal-orders/{id}/cancel", post(cancel_terminal_order))
        .route("/api/v1/terminal-orders/{id}/confirm-delivery", post(confirm_terminal_delivery))
        .route("/api/v1/terminal-orders/{id}/return", post(return_terminal))
        .route("/api/v1/review/terminal-orders", get(list_order_queue))
        .route("/api/v1/review/terminal-orders/{id}", get(get_order_for_review))
        .route("/api/v1/review/terminal-orders/{id}/approve", post(approve_terminal_order))
        .route("/api/v1/review/terminal-orders/{id}/reject", post(reject_terminal_order))
        .route("/api/v1/review/terminal-orders/{id}/ship", post(ship_terminal_order));
    if sandbox {
        router.route("/api/v1/sandbox/transactions", post(add_sandbox_transaction))
    } else {
        router
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrderEventView {
    pub status: String,
    pub from: Option<String>,
    pub at: String,
    pub actor: String,
    pub note: String,
}

/// The deposit's collection, as it stands.
#[derive(Serialize, ToSchema)]
pub struct OrderPaymentView {
    /// 1 for the first try; a refused one may be paid again (a new attempt).
    pub attempt: i64,
    /// `pending`, `sent`, `unknown` (no answer: the bank is asked, never charged twice), `succeeded`, `failed`.
    pub status: String,
    pub bank_reference: Option<String>,
    pub paid_at: Option<String>,
    pub failure_code: Option<String>,
    /// Why the bank refused, in the reader's language.
    pub failure_reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OrderView {
    pub id: String,
    /// `submitted`, `approved`, `paying`, `deposit_paid`, `shipped`, `delivered`, `activated`, `rejected`, `cancelled`.
    pub status: String,
    pub plan_code: String,
    pub model: String,
    pub shipping_address: String,
    /// `card`, `wechat` or `alipay`: the deposit's original route, which its refund uses.
    pub deposit_route: String,
    pub deposit_fen: i64,
    pub payment: Option<OrderPaymentView>,
    /// The terminal it shipped as.
    pub sn: Option<String>,
    pub carrier: Option<String>,
    pub waybill_no: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub timeline: Option<Vec<OrderEventView>>,
}

impl OrderView {
    fn new(o: yajin_app::model::Order, timeline: Option<Vec<yajin_app::model::OrderEvent>>, lang: Lang) -> OrderView {
        let payment = o.payment_status.clone().map(|status| OrderPaymentView {
            attempt: o.payment_attempt,
            status,
            bank_reference: o.bank_reference.clone(),
            paid_at: o.paid_at.map(|t| t.to_rfc3339()),
            failure_reason: o.failure_code.as_deref().map(|c| notice::failure_words(c, lang)),
            failure_code: o.failure_code.clone(),
        });
        OrderView {
            status: o.status.as_str().to_owned(),
            plan_code: o.plan_code,
            model: o.model,
            shipping_address: o.shipping_address,
            deposit_route: o.deposit_route,
            deposit_fen: o.deposit.get(),
            payment,
            sn: o.sn,
            carrier: o.carrier,
            waybill_no: o.waybill_no,
            created_at: o.created_at.to_rfc3339(),
            updated_at: o.updated_at.to_rfc3339(),
            timeline: timeline.map(|events| {
                events
                    .into_iter()
                    .map(|e| OrderEventView {
                        status: e.to.as_str().to_owned(),
                        from: e.from.map(|s| s.as_str().to_owned()),
                        at: e.at.to_rfc3339(),
                        actor: e.actor_role,
                        note: e.note,
                    })
                    .collect()
            }),
            id: o.id,
        }
    }

    pub fn of(d: OrderDetail, lang: Lang) -> OrderView {
        OrderView::new(d.order, Some(d.timeline), lang)
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrderPage {
    pub items: Vec<OrderView>,
    pub next_cursor: Option<String>,
}

fn order_page(page: yajin_app::paging::Page<yajin_app::model::Order>, lang: Lang) -> OrderPage {
    OrderPage {
        items: page.items.into_iter().map(|o| OrderView::new(o, None, lang)).collect(),
        next_cursor: page.next_cursor,
    }
}

fn order_answer(status: StatusCode, lang: Lang) -> Answer<OrderDetail> {
    Answer::new(status, move |d: &OrderDetail| OrderView::of(d.clone(), lang))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OrderBody {
    plan_code: String,
    model: String,
    shipping_address: String,
    /// `card`, `wechat` or `alipay`.
    deposit_route: String,
}

#[utoipa::path(post, path = "/api/v1/terminal-orders", operation_id = "place_terminal_order", tag = "orders",
    security(("bearer" = []), ("cookie" = [])), params(IdempotencyKey), request_body = OrderBody,
    responses((status = 201, body = OrderView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed (plan_code not_found, model, shipping_address, deposit_route), invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn place_terminal_order(
    State(state): State<AppState>,
    session: MerchantSession,
    Language(lang): Language,
    key: IdempotencyKey,
    ApiJson(b): ApiJson<OrderBody>,
) -> Result<Response, ApiError> {
    let answer = order_answer(StatusCode::CREATED, lang);
    let replay = key.replay(&session, &b, &answer);
    let input = OrderInput {
        plan_code: b.plan_code.clone(),
        model: b.model.clone(),
        shipping_address: b.shipping_address.clone(),
        deposit_route: b.deposit_route.clone(),
    };
    Ok(answer.respond(orders::place(&state.app, &session.merchant_id, &input, replay).await?))
}

#[utoipa::path(get, path = "/api/v1/terminal-orders", operation_id = "list_terminal_orders", tag = "orders",
    security(("bearer" = []), ("cookie" = [])), params(PageQuery),
    responses((status = 200, body = OrderPage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_terminal_orders(
    State(state): State<AppState>,
    session: MerchantSession,
    Language(lang): Language,
    Query(q): Query<PageQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let list = orders::list(&state.app, &session.merchant_id, &q.page()?).await?;
    Ok(Json(order_page(list, lang)))
}

#[utoipa::path(get, path = "/api/v1/terminal-orders/{id}", operation_id = "get_terminal_order", tag = "orders",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, body = OrderView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another merchant's)", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get_terminal_order(
    State(state): State<AppState>,
    session: MerchantSession,
    Language(lang): Language,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(OrderView::of(orders::get(&state.app, &session.merchant_id, &id).await?, lang)))
}

async fn merchant_step(
    state: &AppState,
    session: &MerchantSession,
    lang: Lang,
    key: &IdempotencyKey,
    id: &str,
    action: OrderAction,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let answer = order_answer(status, lang);
    let replay = key.replay(session, &(), &answer);
    Ok(answer.respond(orders::merchant_step(&state.app, &session.merchant_id, id, action, replay).await?))
}

#[utoipa::path(post, path = "/api/v1/terminal-orders/{id}/pay", operation_id = "pay_terminal_order", tag = "orders",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey),
    responses((status = 202, body = OrderView, description = "`paying`: the deposit is being collected through the channel"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state: not approved (paid, paying, cancelled, …)", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn pay_terminal_order(
    State(state): State<AppState>,
    session: MerchantSession,
    Language(lang): Language,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    merchant_step(&state, &session, lang, &key, &id, OrderAction::Pay, StatusCode::ACCEPTED).await
}

#[utoipa::path(post, path = "/api/v1/terminal-orders/{id}/cancel", operation_id = "cancel_terminal_order", tag = "orders",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey),
    responses((status = 200, body = OrderView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state: only before the deposit is paid", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn cancel_terminal_order(
    State(state): State<AppState>,
    session: MerchantSession,
    Language(lang): Language,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    merchant_step(&state, &session, lang, &key, &id, OrderAction::Cancel, StatusCode::OK).await
}

#[utoipa::path(post, path = "/api/v1/terminal-orders/{id}/confirm-delivery", operation_id = "confirm_terminal_delivery", tag = "orders",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey),
    responses((status = 200, body = OrderView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state: not shipped", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn confirm_terminal_delivery(
    State(state): State<AppState>,
    session: MerchantSession,
    Language(lang): Language,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    merchant_step(&state, &session, lang, &key, &id, OrderAction::ConfirmDelivery, StatusCode::OK).await
}

#[utoipa::path(post, path = "/api/v1/terminal-orders/{id}/return", operation_id = "return_terminal", tag = "orders",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey),
    responses((status = 200, body = OrderView, description = "`returned`: the terminal is terminated unused; once the device is received, its deposit can be applied for"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state: not shipped, or activated already (then an ordinary termination applies)", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn return_terminal(
    State(state): State<AppState>,
    session: MerchantSession,
    Language(lang): Language,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    merchant_step(&state, &session, lang, &key, &id, OrderAction::Return, StatusCode::OK).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct OrderQueueQuery {
    /// Default `submitted`.
    status: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/review/terminal-orders", operation_id = "list_order_queue", tag = "orders",
    security(("bearer" = []), ("cookie" = [])), params(OrderQueueQuery),
    responses((status = 200, body = OrderPage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_order_queue(
    State(state): State<AppState>,
    session: StaffSession,
    Language(lang): Language,
    Query(q): Query<OrderQueueQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    session.require(Permission::ReviewRead)?;
    let page = yajin_app::paging::PageRequest::parse(q.limit.as_deref(), q.cursor.as_deref())?;
    Ok(Json(order_page(orders::queue(&state.app, q.status.as_deref(), &page).await?, lang)))
}

#[utoipa::path(get, path = "/api/v1/review/terminal-orders/{id}", operation_id = "get_order_for_review", tag = "orders",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, body = OrderView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get_order_for_review(
    State(state): State<AppState>,
    session: StaffSession,
    Language(lang): Language,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    session.require(Permission::ReviewRead)?;
    Ok(Json(OrderView::of(orders::get_any(&state.app, &id).await?, lang)))
}

#[utoipa::path(post, path = "/api/v1/review/terminal-orders/{id}/approve", operation_id = "approve_terminal_order", tag = "orders",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey),
    responses((status = 200, body = OrderView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn approve_terminal_order(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanDecide>,
    Language(lang): Language,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = order_answer(StatusCode::OK, lang);
    let replay = key.replay(&session, &(), &answer);
    Ok(answer.respond(orders::decide(&state.app, &session.actor(), &id, Decision::Approve, replay).await?))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OrderRejectBody {
    #[serde(default)]
    comment: String,
}

#[utoipa::path(post, path = "/api/v1/review/terminal-orders/{id}/reject", operation_id = "reject_terminal_order", tag = "orders",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey), request_body = OrderRejectBody,
    responses((status = 200, body = OrderView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn reject_terminal_order(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanDecide>,
    Language(lang): Language,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<OrderRejectBody>,
) -> Result<Response, ApiError> {
    let answer = order_answer(StatusCode::OK, lang);
    let replay = key.replay(&session, &b, &answer);
    let decision = Decision::Reject { comment: &b.comment };
    Ok(answer.respond(orders::decide(&state.app, &session.actor(), &id, decision, replay).await?))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ShipBody {
    sn: String,
    carrier: String,
    waybill_no: String,
}

#[utoipa::path(post, path = "/api/v1/review/terminal-orders/{id}/ship", operation_id = "ship_terminal_order", tag = "orders",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey), request_body = ShipBody,
    responses((status = 200, body = OrderView, description = "`shipped`: a new terminal is bound to the merchant, with the paid deposit"),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state (the deposit is not paid), already_exists (the SN is bound already)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn ship_terminal_order(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanDecide>,
    Language(lang): Language,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ShipBody>,
) -> Result<Response, ApiError> {
    let answer = order_answer(StatusCode::OK, lang);
    let replay = key.replay(&session, &b, &answer);
    let decision = Decision::Ship { sn: &b.sn, carrier: &b.carrier, waybill_no: &b.waybill_no };
    Ok(answer.respond(orders::decide(&state.app, &session.actor(), &id, decision, replay).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SandboxTransactionBody {
    sn: String,
    amount_fen: i64,
    /// `credit_card`, `debit_card`, `qr_code` or `nfc`.
    kind: String,
}

#[derive(Serialize, ToSchema)]
pub struct SandboxTransactionView {
    pub id: String,
    pub sn: String,
    pub amount_fen: i64,
    pub kind: String,
}

#[utoipa::path(post, path = "/api/v1/sandbox/transactions", operation_id = "add_sandbox_transaction", tag = "orders",
    request_body = SandboxTransactionBody,
    responses((status = 201, body = SandboxTransactionView, description = "card volume added now (a shipped terminal's first transaction activates it)"),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "terminal_not_found; the route exists only in sandbox mode", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn add_sandbox_transaction(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<SandboxTransactionBody>,
) -> Result<(StatusCode, Json<SandboxTransactionView>), ApiError> {
    let id = yajin_app::provisioning::sandbox_transaction(&state.app, &b.sn, Fen::new(b.amount_fen), &b.kind).await?;
    let view =
        SandboxTransactionView { id, sn: b.sn.trim().to_ascii_uppercase(), amount_fen: b.amount_fen, kind: b.kind };
    Ok((StatusCode::CREATED, Json(view)))
}
