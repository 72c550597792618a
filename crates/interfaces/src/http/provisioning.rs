//! Provisioning (api.md): merchants, terminals with their deposits, usage and what merchants
//! owe, as a deployment migrating from its old systems creates them. Admin only. Each is
//! idempotent on its natural key: the same body again is 200 with the existing record; another
//! body for an existing key is 409 `already_exists`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use yajin_app::model::Item;
use yajin_app::onboarding::{self, Provisioned, UsageInput};
use yajin_app::provisioning::{DepositInput, MerchantInput, TerminalInput};
use yajin_core::eligibility::TerminalStatus;
use yajin_core::plan::TxnKind;
use yajin_core::validation::FieldError;
use yajin_core::{Fen, Timestamp};

use super::idempotency::{Answer, IdempotencyKey};
use super::json_body::ApiJson;
use super::problem::{ApiError, Problem};
use super::session::{CanProvision, Staff};
use super::state::AppState;
use super::views::{InsertedView, OutstandingItemView, ProvisionedView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/merchants", post(provision_merchant))
        .route("/api/v1/admin/terminals", post(provision_terminal))
        .route("/api/v1/admin/transactions", post(import_transactions))
        .route("/api/v1/admin/outstanding-items", post(add_outstanding_item))
}

fn provisioned(outcome: Provisioned<(String, String)>, key: &str) -> Response {
    let (status, (id, natural)) = match outcome {
        Provisioned::Created(v) => (StatusCode::CREATED, v),
        Provisioned::Existing(v) => (StatusCode::OK, v),
    };
    let view = if key == "sn" {
        ProvisionedView { id, merchant_no: None, sn: Some(natural) }
    } else {
        ProvisionedView { id, merchant_no: Some(natural), sn: None }
    };
    (status, Json(view)).into_response()
}

/// An RFC 3339 time, or the field's error.
fn time(field: &str, text: Option<&str>, errors: &mut Vec<FieldError>) -> Option<Timestamp> {
    let text = text?;
    let parsed = Timestamp::parse_rfc3339(text);
    if parsed.is_none() {
        errors.push(FieldError::new(field, "invalid_format", "须为 RFC 3339 时间", "an RFC 3339 time"));
    }
    parsed
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MerchantBody {
    merchant_no: String,
    name: String,
    phone: String,
    password: String,
    id_card_no: String,
    bank_card_no: String,
    bank_name: String,
    #[serde(default)]
    agent_username: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/admin/merchants", operation_id = "provision_merchant", tag = "provisioning",
    security(("bearer" = []), ("cookie" = [])), request_body = MerchantBody,
    responses((status = 201, body = ProvisionedView), (status = 200, description = "the same merchant exists", body = ProvisionedView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "already_exists: another merchant under this merchant_no or phone", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body, weak_password", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn provision_merchant(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanProvision>,
    ApiJson(b): ApiJson<MerchantBody>,
) -> Result<Response, ApiError> {
    let input = MerchantInput {
        merchant_no: b.merchant_no,
        name: b.name,
        phone: b.phone,
        password: b.password,
        id_card_no: b.id_card_no,
        bank_card_no: b.bank_card_no,
        bank_name: b.bank_name,
        agent_id: None,
    };
    let outcome = onboarding::merchant(&state.app, &session.actor(), input, b.agent_username.as_deref()).await?;
    Ok(provisioned(outcome, "merchant_no"))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DepositBody {
    amount_fen: i64,
    /// `card`, `wechat` or `alipay`.
    route: String,
    route_ref: String,
    collected_at: String,
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TerminalBody {
    merchant_no: String,
    sn: String,
    /// Generated when absent.
    #[serde(default)]
    terminal_id: Option<String>,
    model: String,
    plan_code: String,
    /// `inactive`, `active` or `terminated`.
    status: String,
    bound_at: String,
    #[serde(default)]
    activated_at: Option<String>,
    #[serde(default)]
    terminated_at: Option<String>,
    #[serde(default)]
    device_returned_at: Option<String>,
    #[serde(default)]
    deposit: Option<DepositBody>,
}

#[utoipa::path(post, path = "/api/v1/admin/terminals", operation_id = "provision_terminal", tag = "provisioning",
    security(("bearer" = []), ("cookie" = [])), request_body = TerminalBody,
    responses((status = 201, body = ProvisionedView), (status = 200, description = "the same terminal exists", body = ProvisionedView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found: no such deposit plan", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "already_exists: another terminal under this SN or terminal_id", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn provision_terminal(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanProvision>,
    ApiJson(b): ApiJson<TerminalBody>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let status = TerminalStatus::parse(&b.status);
    if status.is_none() {
        errors.push(FieldError::new(
            "status",
            "invalid_value",
            "须为 inactive、active 或 terminated",
            "inactive, active or terminated",
        ));
    }
    let bound_at = time("bound_at", Some(&b.bound_at), &mut errors);
    let activated_at = time("activated_at", b.activated_at.as_deref(), &mut errors);
    let terminated_at = time("terminated_at", b.terminated_at.as_deref(), &mut errors);
    let device_returned_at = time("device_returned_at", b.device_returned_at.as_deref(), &mut errors);
    let deposit = match &b.deposit {
        None => None,
        Some(d) => {
            let route = ["card", "wechat", "alipay"].into_iter().find(|r| *r == d.route);
            if route.is_none() {
                errors.push(FieldError::new(
                    "deposit.route",
                    "invalid_value",
                    "须为 card、wechat 或 alipay",
                    "card, wechat or alipay",
                ));
            }
            let collected_at = time("deposit.collected_at", Some(&d.collected_at), &mut errors);
            match (route, collected_at) {
                (Some(route), Some(collected_at)) => Some(DepositInput {
                    amount: Fen::new(d.amount_fen),
                    route,
                    route_ref: d.route_ref.clone(),
                    collected_at,
                }),
                _ => None,
            }
        }
    };
    let (Some(status), Some(bound_at), true) = (status, bound_at, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    // Empty: one is generated.
    let terminal_id = b.terminal_id.clone().unwrap_or_default();
    let input = TerminalInput {
        merchant_id: String::new(),
        sn: b.sn,
        terminal_id,
        model: b.model,
        plan_code: b.plan_code,
        status,
        bound_at,
        activated_at,
        terminated_at,
        device_returned_at,
        deposit,
    };
    Ok(provisioned(onboarding::terminal(&state.app, &session.actor(), &b.merchant_no, input).await?, "sn"))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TransactionBody {
    /// The acquirer's reference: the natural key.
    #[serde(rename = "ref")]
    reference: String,
    sn: String,
    amount_fen: i64,
    #[serde(default)]
    fee_fen: i64,
    /// `credit_card`, `debit_card`, `qr_code` or `nfc`.
    kind: String,
    occurred_at: String,
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TransactionsBody {
    items: Vec<TransactionBody>,
}

#[utoipa::path(post, path = "/api/v1/admin/transactions", operation_id = "import_transactions", tag = "provisioning",
    security(("bearer" = []), ("cookie" = [])), request_body = TransactionsBody,
    responses((status = 201, description = "how many were new (a resent reference adds nothing)", body = InsertedView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed (every bad item, nothing written), invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn import_transactions(
    State(state): State<AppState>,
    _: Staff<CanProvision>,
    ApiJson(b): ApiJson<TransactionsBody>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let mut items = Vec::with_capacity(b.items.len());
    for (i, t) in b.items.iter().enumerate() {
        let kind = TxnKind::parse(&t.kind);
        if kind.is_none() {
            errors.push(FieldError::new(
                format!("items[{i}].kind"),
                "invalid_value",
                "须为 credit_card、debit_card、qr_code 或 nfc",
                "credit_card, debit_card, qr_code or nfc",
            ));
        }
        let at = time(&format!("items[{i}].occurred_at"), Some(&t.occurred_at), &mut errors);
        if let (Some(kind), Some(occurred_at)) = (kind, at) {
            items.push(UsageInput {
                reference: t.reference.clone(),
                sn: t.sn.clone(),
                amount: Fen::new(t.amount_fen),
                fee: Fen::new(t.fee_fen),
                kind,
                occurred_at,
            });
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let inserted = onboarding::usage(&state.app, &items).await?;
    Ok((StatusCode::CREATED, Json(InsertedView { inserted })).into_response())
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OutstandingBody {
    sn: String,
    /// `service_fee`, `sim_fee`, `chargeback` or `negative_settlement`.
    kind: String,
    amount_fen: i64,
    due_at: String,
}

#[utoipa::path(post, path = "/api/v1/admin/outstanding-items", operation_id = "add_outstanding_item", tag = "provisioning",
    security(("bearer" = []), ("cookie" = [])), params(IdempotencyKey), request_body = OutstandingBody,
    responses((status = 201, description = "the item", body = OutstandingItemView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn add_outstanding_item(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanProvision>,
    key: IdempotencyKey,
    ApiJson(b): ApiJson<OutstandingBody>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let kind = yajin_core::eligibility::OWED_KINDS.into_iter().find(|k| *k == b.kind);
    if kind.is_none() {
        errors.push(FieldError::new(
            "kind",
            "invalid_value",
            "须为 service_fee、sim_fee、chargeback 或 negative_settlement",
            "service_fee, sim_fee, chargeback or negative_settlement",
        ));
    }
    let due_at = time("due_at", Some(&b.due_at), &mut errors);
    let (Some(kind), Some(due_at), true) = (kind, due_at, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let answer = Answer::new(StatusCode::CREATED, |item: &Item| OutstandingItemView::from(item.clone()));
    let replay = key.replay(&session, &b, &answer);
    let outcome =
        onboarding::outstanding(&state.app, &session.actor(), &b.sn, kind, Fen::new(b.amount_fen), due_at, replay)
            .await?;
    Ok(answer.respond(outcome))
}
