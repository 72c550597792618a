//! The OpenAPI 3.1 document, generated from the handlers' annotations and the view types they
//! return: one source for every shape, operation id and status.

use serde_json::Value;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};

use super::{
    admin, agent, applications, attachments, auth, devices, health, inbox, orders, payouts, plans, provisioning,
    reconciliations, review,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Yajin API", version = "1", description = "POS terminal deposits and their refunds. Amounts are integer fen; times RFC 3339 UTC; errors application/problem+json."),
    modifiers(&Security, &IdempotencyResponses),
    paths(
        health::healthz, health::readyz,
        auth::login, auth::logout, auth::staff_login, auth::staff_logout, auth::request_sms_code, auth::reset_password,
        auth::get_me, auth::list_sandbox_sms, auth::unlock_identity_checks,
        devices::list_terminals, devices::get_terminal, devices::list_terminal_transactions,
        devices::list_outstanding_items, devices::settle_outstanding_item,
        attachments::upload_attachment, attachments::download_attachment,
        applications::submit_refund_application, applications::list_refund_applications,
        applications::preview_refund_application, applications::get_refund_application,
        applications::cancel_refund_application, applications::supplement_refund_application,
        applications::get_refund_receipt, applications::verify_receipt, applications::change_payout_card,
        inbox::list_notifications, inbox::list_tickets, inbox::open_ticket, inbox::get_ticket, inbox::add_ticket_message,
        inbox::list_announcements,
        review::list_review_queue, review::get_review_evidence, review::claim_application, review::approve_application,
        review::reject_application, review::request_application_info, review::list_rejection_reasons,
        review::download_evidence_attachment, review::record_device_received,
        admin::list_policies, admin::create_policy, admin::list_audit_log, admin::verify_audit_log, admin::verify_ledger,
        admin::get_audit_head, admin::get_audit_public_key,
        admin::list_support_tickets, admin::get_support_ticket, admin::answer_support_ticket, admin::close_support_ticket,
        admin::draft_announcement, admin::publish_announcement, admin::withdraw_announcement, admin::get_summary_report,
        payouts::receive_channel_callback, payouts::list_payouts, payouts::get_payout, payouts::retry_payout,
        reconciliations::reconcile_statement,
        provisioning::provision_merchant, provisioning::provision_terminal, provisioning::import_transactions,
        provisioning::add_outstanding_item,
        plans::list_published_plans, plans::quote_fee,
        agent::list_agent_merchants, agent::list_agent_terminals, agent::list_agent_applications,
        agent::get_agent_application,
        orders::place_terminal_order, orders::list_terminal_orders, orders::get_terminal_order,
        orders::pay_terminal_order, orders::cancel_terminal_order, orders::confirm_terminal_delivery, orders::return_terminal,
        orders::list_order_queue, orders::get_order_for_review, orders::approve_terminal_order,
        orders::reject_terminal_order, orders::ship_terminal_order, orders::add_sandbox_transaction,
    ),
    tags((name = "health"), (name = "auth"), (name = "devices"), (name = "attachments"), (name = "applications"), (name = "inbox"), (name = "backoffice"), (name = "payouts"), (name = "provisioning"), (name = "plans"), (name = "agent"), (name = "orders"))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components
            .add_security_scheme("cookie", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("yajin_session"))));
    }
}

/// Every operation that takes `Idempotency-Key` can answer 400 `invalid_idempotency_key` and
/// 409 `idempotency_key_reused`; the handlers declare the header, this adds what it can cause.
struct IdempotencyResponses;

impl Modify for IdempotencyResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let Some(op) = item.post.as_mut() else { continue };
            let keyed = op.parameters.iter().flatten().any(|p| p.name == "Idempotency-Key");
            if !keyed {
                continue;
            }
            for (status, code) in [("400", "invalid_idempotency_key"), ("409", "idempotency_key_reused")] {
                let responses = &mut op.responses.responses;
                match responses.get_mut(status) {
                    Some(RefOr::T(response)) => response.description = format!("{}, {code}", response.description),
                    _ => {
                        let problem = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
                        let response = ResponseBuilder::new()
                            .description(code)
                            .content("application/problem+json", problem)
                            .build();
                        responses.insert(status.to_owned(), RefOr::T(response));
                    }
                }
            }
        }
    }
}

pub fn document() -> Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}
