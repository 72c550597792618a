//! Terminal orders in the browser: the merchant applies for a terminal, pays the deposit,
//! follows it and confirms delivery (`/orders`); reviewers approve, reject and ship
//! (`/console/orders`). In a demo, a button adds card volume to a merchant's terminal.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use yajin_app::orders::{self, Decision, OrderDetail, OrderInput};
use yajin_core::eligibility::Lang;
use yajin_core::order::OrderAction;
use yajin_core::permission::Permission;
use yajin_core::Fen;

use super::once::{new_key, Once};
use super::page::{page_request, render, see, Area, Chrome, FormErrors, PageError};
use super::portal::KeyedForm;
use super::visitor::{FormOwner, Merchant, Posted, Staff};
use crate::http::orders::OrderView;
use crate::http::plans::PublishedPlanView;
use crate::http::problem::ApiError;
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/orders", get(my_orders).post(place))
        .route("/orders/{id}", get(order))
        .route("/orders/{id}/{step}", post(merchant_step))
        .route("/devices/{sn}/demo-volume", post(demo_volume))
        .route("/console/orders", get(queue))
        .route("/console/orders/{id}", get(review))
        .route("/console/orders/{id}/{decision}", post(decide))
}

fn failed(e: impl Into<ApiError>, lang: Lang, area: Area) -> PageError {
    PageError::api(e.into(), lang, area)
}

#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
struct OrderForm {
    #[serde(rename = "_key", skip_serializing)]
    key: String,
    plan_code: String,
    model: String,
    shipping_address: String,
    deposit_route: String,
}

#[derive(Template)]
#[template(path = "portal/orders.html")]
struct OrdersPage {
    chrome: Chrome,
    orders: Vec<OrderView>,
    next_cursor: Option<String>,
    plans: Vec<PublishedPlanView>,
    form: OrderForm,
    errors: FormErrors,
    key: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    cursor: Option<String>,
    plan: Option<String>,
    status: Option<String>,
}

async fn orders_page(
    state: &AppState,
    who: Merchant,
    cursor: Option<&str>,
    form: OrderForm,
    errors: FormErrors,
) -> Result<OrdersPage, PageError> {
    let lang = who.chrome.lang;
    let page = page_request(cursor, lang, Area::Portal)?;
    let list =
        orders::list(&state.app, &who.session.merchant_id, &page).await.map_err(|e| failed(e, lang, Area::Portal))?;
    let plans = yajin_app::plans::published(&state.app).await.map_err(|e| failed(e, lang, Area::Portal))?;
    Ok(OrdersPage {
        orders: list
            .items
            .into_iter()
            .map(|o| OrderView::of(OrderDetail { order: o, timeline: Vec::new() }, lang))
            .collect(),
        next_cursor: list.next_cursor,
        plans: plans.iter().map(|p| PublishedPlanView::new(p, lang)).collect(),
        form,
        errors,
        key: new_key(),
        chrome: who.chrome,
    })
}

async fn my_orders(
    State(state): State<AppState>,
    who: Merchant,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let form =
        OrderForm { plan_code: q.plan.unwrap_or_default(), deposit_route: "card".into(), ..OrderForm::default() };
    let page = orders_page(&state, who, q.cursor.as_deref(), form, FormErrors::default()).await?;
    Ok(render(&page))
}

async fn place(State(state): State<AppState>, posted: Posted<Merchant, OrderForm>) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    let once = Once::new(&who.session, "POST /orders", &form.key, &form, |d: &OrderDetail| {
        format!("/orders/{}?notice=placed", d.order.id)
    });
    let input = OrderInput {
        plan_code: form.plan_code.clone(),
        model: form.model.clone(),
        shipping_address: form.shipping_address.clone(),
        deposit_route: form.deposit_route.clone(),
    };
    match orders::place(&state.app, &who.session.merchant_id, &input, once.replay()).await {
        Ok(outcome) => Ok(see(once.location(outcome))),
        Err(e) => {
            let (status, errors) = FormErrors::refusal(e, lang);
            let page = orders_page(&state, who, None, form, errors).await?;
            Ok((status, render(&page)).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "portal/order.html")]
struct OrderPage {
    chrome: Chrome,
    o: OrderView,
    key: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NoticeQuery {
    notice: Option<String>,
}

async fn order(
    State(state): State<AppState>,
    who: Merchant,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let mut chrome = who.chrome;
    let lang = chrome.lang;
    let (zh, en) = match q.notice.as_deref() {
        Some("placed") => {
            ("申请已提交，审核通过后即可支付押金。", "Order placed: once approved you can pay the deposit.")
        }
        Some("pay") => {
            ("已发起押金支付，银行确认后即显示已支付。", "Payment started: it shows as paid once the bank confirms.")
        }
        Some("cancel") => ("申请已撤销，未收取任何费用。", "Order cancelled; nothing was charged."),
        Some("confirm-delivery") => {
            ("已确认收货。首笔交易后机具即激活。", "Delivery confirmed. The first transaction activates the terminal.")
        }
        Some("return") => (
            "已登记退回。请寄回机具，验收后即可申请退还押金。",
            "Return recorded. Send the device back; once it is received you can apply for the deposit.",
        ),
        _ => ("", ""),
    };
    if !zh.is_empty() {
        chrome.notice = Some(chrome.t(zh, en));
    }
    let detail =
        orders::get(&state.app, &who.session.merchant_id, &id).await.map_err(|e| failed(e, lang, Area::Portal))?;
    Ok(render(&OrderPage { o: OrderView::of(detail, lang), chrome, key: new_key() }))
}

async fn merchant_step(
    State(state): State<AppState>,
    Path((id, step)): Path<(String, String)>,
    posted: Posted<Merchant, KeyedForm>,
) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    let action = match step.as_str() {
        "pay" => OrderAction::Pay,
        "cancel" => OrderAction::Cancel,
        "confirm-delivery" => OrderAction::ConfirmDelivery,
        "return" => OrderAction::Return,
        _ => return Err(PageError::not_found(lang, Area::Portal)),
    };
    let target = format!("POST /orders/{id}/{step}");
    let once = Once::new(&who.session, &target, &form.key, &(), move |d: &OrderDetail| {
        format!("/orders/{}?notice={step}", d.order.id)
    });
    let outcome = orders::merchant_step(&state.app, &who.session.merchant_id, &id, action, once.replay())
        .await
        .map_err(|e| failed(e, lang, Area::Portal))?;
    Ok(see(once.location(outcome)))
}

/// The demo's stand-in for a merchant's card transactions: ¥5,000.00 by credit card on one of
/// the merchant's own terminals (a shipped one's first activates it). Only in a demo install.
async fn demo_volume(
    State(state): State<AppState>,
    Path(sn): Path<String>,
    posted: Posted<Merchant, KeyedForm>,
) -> Result<Response, PageError> {
    let Posted { who, .. } = posted;
    let lang = who.lang();
    if !state.site.demo {
        return Err(PageError::not_found(lang, Area::Portal));
    }
    yajin_app::devices::terminal(&state.app, &who.session.merchant_id, &sn)
        .await
        .map_err(|e| failed(e, lang, Area::Portal))?;
    yajin_app::provisioning::sandbox_transaction(&state.app, &sn, Fen::yuan(5_000), "credit_card")
        .await
        .map_err(|e| failed(e, lang, Area::Portal))?;
    Ok(see("/devices?notice=volume"))
}

#[derive(Template)]
#[template(path = "console/orders.html")]
struct QueuePage {
    chrome: Chrome,
    status: String,
    statuses: [&'static str; 5],
    orders: Vec<OrderView>,
    next_cursor: Option<String>,
}

async fn queue(State(state): State<AppState>, who: Staff, Query(q): Query<ListQuery>) -> Result<Response, PageError> {
    who.require(Permission::ReviewRead)?;
    let lang = who.chrome.lang;
    let status = q.status.filter(|s| !s.is_empty()).unwrap_or_else(|| "submitted".to_owned());
    let page = page_request(q.cursor.as_deref(), lang, Area::Console)?;
    let list = orders::queue(&state.app, Some(&status), &page).await.map_err(|e| failed(e, lang, Area::Console))?;
    Ok(render(&QueuePage {
        chrome: who.chrome,
        status,
        statuses: ["submitted", "approved", "paying", "deposit_paid", "shipped"],
        orders: list
            .items
            .into_iter()
            .map(|o| OrderView::of(OrderDetail { order: o, timeline: Vec::new() }, lang))
            .collect(),
        next_cursor: list.next_cursor,
    }))
}

#[derive(Template)]
#[template(path = "console/order.html")]
struct ReviewPage {
    chrome: Chrome,
    o: OrderView,
    may_decide: bool,
    key: String,
    errors: FormErrors,
}

async fn review(State(state): State<AppState>, who: Staff, Path(id): Path<String>) -> Result<Response, PageError> {
    who.require(Permission::ReviewRead)?;
    let lang = who.chrome.lang;
    let detail = orders::get_any(&state.app, &id).await.map_err(|e| failed(e, lang, Area::Console))?;
    let may_decide = who.may(Permission::ReviewDecide);
    Ok(render(&ReviewPage {
        o: OrderView::of(detail, lang),
        chrome: who.chrome,
        may_decide,
        key: new_key(),
        errors: FormErrors::default(),
    }))
}

#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
struct DecisionForm {
    #[serde(rename = "_key", skip_serializing)]
    key: String,
    comment: String,
    sn: String,
    carrier: String,
    waybill_no: String,
}

async fn decide(
    State(state): State<AppState>,
    Path((id, decision)): Path<(String, String)>,
    posted: Posted<Staff, DecisionForm>,
) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    who.require(Permission::ReviewDecide)?;
    let lang = who.lang();
    let choice = match decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject { comment: &form.comment },
        "ship" => Decision::Ship { sn: &form.sn, carrier: &form.carrier, waybill_no: &form.waybill_no },
        _ => return Err(PageError::not_found(lang, Area::Console)),
    };
    let target = format!("POST /console/orders/{id}/{decision}");
    let once =
        Once::new(&who.session, &target, &form.key, &form, |d: &OrderDetail| format!("/console/orders/{}", d.order.id));
    match orders::decide(&state.app, &who.session.actor(), &id, choice, once.replay()).await {
        Ok(outcome) => Ok(see(once.location(outcome))),
        Err(e) => {
            let (status, errors) = FormErrors::refusal(e, lang);
            let detail = orders::get_any(&state.app, &id).await.map_err(|e| failed(e, lang, Area::Console))?;
            let page = ReviewPage {
                o: OrderView::of(detail, lang),
                may_decide: true,
                key: new_key(),
                errors,
                chrome: who.chrome,
            };
            Ok((if status == StatusCode::OK { StatusCode::UNPROCESSABLE_ENTITY } else { status }, render(&page))
                .into_response())
        }
    }
}
