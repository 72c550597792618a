//! The plans a merchant can choose from, published without a login, and the fee calculator
//! that shows what a transaction will cost under one before anyone commits.

use yajin_core::plan::{DepositPlan, FeeQuote, TxnKind};
use yajin_core::validation::FieldError;
use yajin_core::Fen;
use yajin_store::records::plans;

use crate::{App, AppError};

/// The version in force of every plan: the newest of each code, by code.
pub async fn published(app: &App) -> Result<Vec<DepositPlan>, AppError> {
    let mut conn = app.db.begin_read().await?;
    let mut all: Vec<DepositPlan> = plans::all(&mut conn).await?.into_iter().map(|(_, p, _)| p).collect();
    all.sort_by(|a, b| a.code.cmp(&b.code).then(b.version.cmp(&a.version)));
    all.dedup_by(|later, kept| later.code == kept.code);
    Ok(all)
}

/// The version in force of the plan with `code`, if it is published.
pub async fn in_force(app: &App, code: &str) -> Result<Option<DepositPlan>, AppError> {
    let mut conn = app.db.begin_read().await?;
    Ok(plans::latest(&mut conn, code.trim()).await?.map(|(_, plan)| plan))
}

/// What a quote was asked for, as typed.
#[derive(Clone, Debug, Default)]
pub struct QuoteRequest {
    pub plan_code: String,
    pub amount_fen: i64,
    pub kind: String,
}

/// The fee on one transaction under a published plan; every problem at once, field by field.
pub async fn quote(app: &App, request: &QuoteRequest) -> Result<FeeQuote, AppError> {
    let mut errors = Vec::new();
    let kind = TxnKind::parse_field("kind", &request.kind).map_err(|e| errors.push(e)).ok();
    let amount = Fen::new(request.amount_fen);
    if !amount.is_positive() || amount > Fen::PARSE_MAX {
        errors.push(FieldError::new(
            "amount_fen",
            "out_of_range",
            "须大于 0 且不超过 1 万亿元",
            "more than 0, at most 10^12 yuan",
        ));
    }
    let plan = in_force(app, &request.plan_code).await?;
    if plan.is_none() {
        errors.push(FieldError::new("plan_code", "not_found", "没有这个方案", "no such plan"));
    }
    let (Some(plan), Some(kind), true) = (plan, kind, errors.is_empty()) else {
        return Err(AppError::Fields(errors));
    };
    match plan.quote(amount, kind) {
        Some(Ok(quote)) => Ok(quote),
        Some(Err(_)) => Err(AppError::AmountOutOfRange),
        None => Err(AppError::Fields(vec![FieldError::new(
            "kind",
            "not_offered",
            "该方案不受理这种卡",
            "this plan does not take this kind of card",
        )])),
    }
}
