//! The published plans and the fee calculator: no login, so that a merchant sees what a
//! terminal costs — deposit, refund rule, transaction fees — before committing to anything.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use yajin_app::plans::{self, QuoteRequest};
use yajin_core::notice;
use yajin_core::plan::{DepositPlan, FeeQuote};
use yajin_core::text::Lang;

use super::json_body::ApiJson;
use super::problem::{ApiError, Language, Problem};
use super::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/plans", get(list_published_plans)).route("/api/v1/fee-quote", post(quote_fee))
}

/// One transaction fee rate of a plan.
#[derive(Serialize, ToSchema)]
pub struct CardRateView {
    /// `credit_card`, `debit_card`, `qr_code` or `nfc`.
    pub kind: String,
    /// The kind, as people call it, in the reader's language.
    pub kind_name: String,
    /// Basis points of the amount (60 = 0.60 %), rounded half up to the fen.
    pub rate_bp: u32,
    /// The most one transaction's fee can be, if capped.
    pub cap_fen: Option<i64>,
}

/// A plan as a prospective merchant reads it.
#[derive(Serialize, ToSchema)]
pub struct PublishedPlanView {
    pub code: String,
    pub version: i64,
    /// The name in the reader's language.
    pub name: String,
    pub name_zh: String,
    pub name_en: String,
    pub deposit_fen: i64,
    /// When the deposit comes back, in plain words.
    pub refund_rule: String,
    /// The handling fee taken from the refund, in plain words.
    pub refund_fee: String,
    pub card_rates: Vec<CardRateView>,
}

impl PublishedPlanView {
    pub fn new(p: &DepositPlan, lang: Lang) -> PublishedPlanView {
        PublishedPlanView {
            code: p.code.clone(),
            version: p.version,
            name: p.name_in(lang),
            name_zh: p.name.clone(),
            name_en: p.name_en.clone(),
            deposit_fen: p.deposit_fen.get(),
            refund_rule: p.rule.words(lang),
            refund_fee: p.fee.words(lang),
            card_rates: p
                .card_rates
                .iter()
                .map(|r| CardRateView {
                    kind: r.kind.as_str().to_owned(),
                    kind_name: notice::card_kind_name(r.kind.as_str()).get(lang).to_owned(),
                    rate_bp: r.rate_bp,
                    cap_fen: r.cap_fen.map(|c| c.get()),
                })
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PublishedPlanList {
    pub items: Vec<PublishedPlanView>,
}

#[utoipa::path(get, path = "/api/v1/plans", operation_id = "list_published_plans", tag = "plans",
    responses((status = 200, body = PublishedPlanList, description = "the version in force of every plan")))]
pub(super) async fn list_published_plans(
    State(state): State<AppState>,
    Language(lang): Language,
) -> Result<Json<PublishedPlanList>, ApiError> {
    let items = plans::published(&state.app).await?.iter().map(|p| PublishedPlanView::new(p, lang)).collect();
    Ok(Json(PublishedPlanList { items }))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct FeeQuoteBody {
    plan_code: String,
    amount_fen: i64,
    /// `credit_card`, `debit_card`, `qr_code` or `nfc`.
    kind: String,
}

#[derive(Serialize, ToSchema)]
pub struct FeeQuoteView {
    pub fee_fen: i64,
    pub rate_bp: u32,
    pub net_fen: i64,
    /// The plan's cap took effect.
    pub capped: bool,
}

impl From<FeeQuote> for FeeQuoteView {
    fn from(q: FeeQuote) -> FeeQuoteView {
        FeeQuoteView { fee_fen: q.fee_fen.get(), rate_bp: q.rate_bp, net_fen: q.net_fen.get(), capped: q.capped }
    }
}

#[utoipa::path(post, path = "/api/v1/fee-quote", operation_id = "quote_fee", tag = "plans", request_body = FeeQuoteBody,
    responses((status = 200, body = FeeQuoteView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed (plan_code not_found, amount_fen out_of_range, kind invalid or not_offered), invalid_body, amount_out_of_range", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn quote_fee(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<FeeQuoteBody>,
) -> Result<Json<FeeQuoteView>, ApiError> {
    let request = QuoteRequest { plan_code: b.plan_code, amount_fen: b.amount_fen, kind: b.kind };
    Ok(Json(FeeQuoteView::from(plans::quote(&state.app, &request).await?)))
}
