//! Money moves once: approved refunds are paid through the sandbox bank, callbacks are signed,
//! fresh and idempotent, failures are shown and retried without two live attempts.

use std::time::Duration;

use serde_json::{json, Value};
use yajin_app::demo;
use yajin_channels::signature;
use yajin_sandbox_bank::Faults;
use yajin_testdb::on_both_databases;

use crate::applications::body;
use crate::harness::{channel_to, spawn_app_with_bank, spawn_paying_app, Bank, TestApp, CHANNEL_SECRET};

const A: &str = demo::MERCHANT_A.phone;

async fn callback(app: &TestApp, payload: &Value, timestamp: i64, secret: &[u8]) -> u16 {
    let body = serde_json::to_vec(payload).unwrap();
    app.client
        .post(format!("{}/api/v1/channels/sandbox/callbacks", app.base))
        .header("content-type", "application/json")
        .header(signature::TIMESTAMP_HEADER, timestamp.to_string())
        .header(signature::SIGNATURE_HEADER, signature::sign(secret, timestamp, &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn ledger_balances(app: &TestApp) {
    let mut conn = app.db.pool().acquire().await.unwrap();
    assert_eq!(yajin_store::ledger::verify(&mut conn).await.unwrap(), []);
}

/// A refund approved at once whose payout the test's worker sent (the bank is processing it),
/// its job queued to ask the bank again in a second: what a callback then settles.
struct Waiting {
    app: TestApp,
    token: String,
    id: String,
    path: String,
    payout: String,
    channel: yajin_channels::payout::HttpChannel,
}

async fn sent_and_waiting(db: yajin_store::Db) -> Waiting {
    // The test runs the worker: one run sends the payout, which the bank is processing.
    let app = spawn_app_with_bank(db, Bank { faults: Faults::default(), worker: false, callbacks: false }).await;
    let token = app.merchant(A).await;
    let id = app.post("/api/v1/refund-applications", &token, body("DEMO-AUTO-01")).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let channel = channel_to(app.bank.as_deref().unwrap(), Duration::from_secs(5));
    assert!(yajin_app::worker::run_once(&app.app, &channel, "test", 5_000).await.unwrap());
    let path = format!("/api/v1/refund-applications/{id}");
    let sent = app.get(&path, &token).await;
    assert_eq!((sent.body["status"].as_str(), sent.body["payout"]["status"].as_str()), (Some("paying"), Some("sent")));
    let payout = sent.body["payout"]["id"].as_str().unwrap().to_owned();
    let waiting = Waiting { app, token, id, path, payout, channel };
    assert_eq!(waiting.job().await, ("queued".to_owned(), 1), "to ask the bank again in a second");
    waiting
}

impl Waiting {
    /// The payout job's status and how often it was claimed.
    async fn job(&self) -> (String, i64) {
        sqlx::query_as::<_, (String, i64)>("SELECT status, attempts FROM jobs WHERE dedupe_key = $1")
            .bind(format!("payout:{}", self.id))
            .fetch_one(self.app.db.pool())
            .await
            .unwrap()
    }

    /// Past the time the job would have looked again, the worker runs what is due (the text
    /// telling the merchant) and never the payout's job.
    async fn never_claimed_again(&self) {
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        while yajin_app::worker::run_once(&self.app.app, &self.channel, "test", 5_000).await.unwrap() {}
        assert_eq!(self.job().await, ("done".to_owned(), 1), "claimed once");
    }
}

on_both_databases! {
    async fn callbacks_are_signed_fresh_and_applied_once(db) {
        let app = spawn_paying_app(db, Faults { duplicate_callback_rate: 1.0, ..Faults::default() }).await;
        let token = app.merchant(A).await;
        let finance = app.staff("finance").await;
        let id = app.post("/api/v1/refund-applications", &token, body("DEMO-AUTO-01")).await.body["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/refund-applications/{id}");
        let refunded = app.eventually(&path, &token, |b| b["status"] == "refunded").await;
        assert_eq!(refunded.body["payout"]["status"], "succeeded");
        let payout = refunded.body["payout"]["id"].as_str().unwrap().to_owned();
        assert_eq!(app.get(&format!("/api/v1/payouts/{payout}"), &finance).await.body["status"], "succeeded");

        let now = signature::now_s();
        let late_failure = json!({"kind": "payout", "id": payout, "status": "failed", "failure_code": "x", "failure_message": "x"});
        assert_eq!(callback(&app, &late_failure, now, b"not the secret, though just as long").await, 401, "forged");
        assert_eq!(callback(&app, &late_failure, now - 600, CHANNEL_SECRET).await, 401, "replayed later");
        let unsigned = app.send("POST", "/api/v1/channels/sandbox/callbacks", None, Some(late_failure.clone()), &[]).await;
        assert_eq!((unsigned.status, unsigned.code()), (401, "invalid_signature"));
        // Correctly signed but late: a final status never moves again.
        assert_eq!(callback(&app, &late_failure, now, CHANNEL_SECRET).await, 204);
        let again = json!({"kind": "payout", "id": payout, "status": "succeeded", "bank_reference": "X", "paid_at_ms": 1_800_000_000_000i64});
        assert_eq!(callback(&app, &again, now, CHANNEL_SECRET).await, 204);
        // Signed but not sane (paid in 1970, a reference no statement could match): refused whole.
        let absurd = json!({"kind": "payout", "id": payout, "status": "succeeded", "bank_reference": "X", "paid_at_ms": 1});
        assert_eq!(callback(&app, &absurd, now, CHANNEL_SECRET).await, 400);
        let nul = json!({"kind": "payout", "id": payout, "status": "succeeded", "bank_reference": "X\u{0}", "paid_at_ms": 1_800_000_000_000i64});
        assert_eq!(callback(&app, &nul, now, CHANNEL_SECRET).await, 400);
        let processing = json!({"kind": "payout", "id": payout, "status": "processing"});
        assert_eq!(callback(&app, &processing, now, CHANNEL_SECRET).await, 204);
        let unknown = json!({"kind": "payout", "id": "po_nope", "status": "processing"});
        assert_eq!(callback(&app, &unknown, now, CHANNEL_SECRET).await, 404);
        // A final word on a payout that is not ours is refused too (it is looked up only when
        // nothing moved), and moves nothing.
        let unknown_paid = json!({"kind": "payout", "id": "po_nope", "status": "succeeded", "bank_reference": "X", "paid_at_ms": 1_800_000_000_000i64});
        assert_eq!(callback(&app, &unknown_paid, now, CHANNEL_SECRET).await, 404);
        let unknown_failed = json!({"kind": "payout", "id": "po_nope", "status": "failed", "failure_code": "x", "failure_message": "x"});
        assert_eq!(callback(&app, &unknown_failed, now, CHANNEL_SECRET).await, 404);

        let after = app.get(&path, &token).await;
        assert_eq!(after.body["status"], "refunded");
        let steps = after.body["timeline"].as_array().unwrap().iter().filter(|e| e["status"] == "refunded").count();
        assert_eq!(steps, 1, "refunded once, whatever the callbacks said");
        assert_ne!(after.body["payout"]["bank_reference"], "X", "the first success stands");
        assert_eq!(app.bank_payments().await.iter().filter(|p| p.1 == id).count(), 1);
        ledger_balances(&app).await;

        // The receipt: its number verifies publicly, with the bank's reference and the paid time.
        let receipt = app.get(&format!("{path}/receipt"), &token).await;
        let number = receipt.body["receipt_number"].as_str().unwrap().to_owned();
        assert!(number.starts_with("RF"), "{number}");
        assert_eq!(receipt.body["bank_reference"], after.body["payout"]["bank_reference"]);
        let verified = app.send("GET", &format!("/api/v1/receipts/{number}/verify"), None, None, &[]).await;
        assert_eq!((verified.status, verified.body["valid"].as_bool(), verified.body["net_refund_fen"].as_i64()), (200, Some(true), Some(9900)));
        assert_eq!(verified.body["card"], "6222 **** **** 0128");
        let forged = app.send("GET", "/api/v1/receipts/RF2026000000000000/verify", None, None, &[]).await;
        assert_eq!(forged.status, 404);
    }

    async fn a_failed_payout_is_told_and_retried_never_twice_at_once(db) {
        // The bank's answer says "failed"; its callback, which would say so again ~50 ms later,
        // is off: it could land after the test marks the attempt's outcome unknown below, and
        // rightly settle it as failed before the retry is tried.
        let faults = Faults { fail_rate: 1.0, ..Faults::default() };
        let app = spawn_app_with_bank(db, Bank { faults, worker: true, callbacks: false }).await;
        let token = app.merchant(A).await;
        let finance = app.staff("finance").await;
        let id = app.post("/api/v1/refund-applications", &token, body("DEMO-AUTO-01")).await.body["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/refund-applications/{id}");
        let failed = app.eventually(&path, &token, |b| b["status"] == "payout_failed").await;
        assert_eq!(failed.body["payout"]["failure_code"], "account_closed");
        assert!(failed.body["timeline"].as_array().unwrap().last().unwrap()["note"].as_str().unwrap().contains("销户"));
        let notes = app.get("/api/v1/notifications", &token).await;
        assert_eq!(notes.body["items"][0]["kind"], "payout_failed", "the merchant is told");
        let first = failed.body["payout"]["id"].as_str().unwrap().to_owned();
        let listed = app.get("/api/v1/payouts?status=failed", &finance).await;
        assert_eq!(listed.body["items"][0]["id"], first.as_str());

        let merchant_tries = app.post(&format!("/api/v1/payouts/{first}/retry"), &token, json!({})).await;
        assert_eq!(merchant_tries.status, 403);
        let retried = app.post(&format!("/api/v1/payouts/{first}/retry"), &finance, json!({})).await;
        assert_eq!((retried.status, retried.body["attempt"].as_i64(), retried.body["status"].as_str()), (201, Some(2), Some("pending")));
        let twice = app.post(&format!("/api/v1/payouts/{first}/retry"), &finance, json!({})).await;
        assert_eq!((twice.status, twice.code()), (409, "invalid_state"), "one new attempt, not two");
        let second = retried.body["id"].as_str().unwrap().to_owned();
        app.eventually(&format!("/api/v1/payouts/{second}"), &finance, |b| b["status"] == "failed").await;
        assert!(app.bank_payments().await.is_empty(), "nothing was paid");

        // An attempt whose outcome is unknown is never retried: the bank is asked instead.
        sqlx::query("UPDATE payouts SET status = 'unknown' WHERE id = $1").bind(&second).execute(app.db.pool()).await.unwrap();
        let unknown = app.post(&format!("/api/v1/payouts/{second}/retry"), &finance, json!({})).await;
        assert_eq!((unknown.status, unknown.code()), (409, "payout_outcome_unknown"));
        // The reservation still holds the money: the deposit is not free to pay twice.
        ledger_balances(&app).await;
    }

    async fn a_payout_settled_by_callback_is_not_looked_at_again(db) {
        let waiting = sent_and_waiting(db).await;
        let (app, id) = (&waiting.app, &waiting.id);

        // The bank's callback says it paid, before the job's next look.
        let paid = json!({"kind": "payout", "id": waiting.payout, "status": "succeeded", "bank_reference": "SBX-CB-1", "paid_at_ms": signature::now_s() * 1000});
        assert_eq!(callback(app, &paid, signature::now_s(), CHANNEL_SECRET).await, 204);
        assert_eq!(app.get(&waiting.path, &waiting.token).await.body["status"], "refunded");
        assert_eq!(waiting.job().await, ("done".to_owned(), 1), "the job is over with the payout");
        waiting.never_claimed_again().await;
        assert_eq!(app.bank_payments().await.iter().filter(|p| &p.1 == id).count(), 1);
        ledger_balances(app).await;
    }

    async fn a_payout_refused_by_callback_is_not_looked_at_again(db) {
        let waiting = sent_and_waiting(db).await;
        let app = &waiting.app;

        // The bank's callback says it refused, before the job's next look.
        let refused = json!({"kind": "payout", "id": waiting.payout, "status": "failed", "failure_code": "account_closed", "failure_message": "closed"});
        assert_eq!(callback(app, &refused, signature::now_s(), CHANNEL_SECRET).await, 204);
        let failed = app.get(&waiting.path, &waiting.token).await;
        assert_eq!((failed.body["status"].as_str(), failed.body["payout"]["status"].as_str()), (Some("payout_failed"), Some("failed")));
        assert_eq!(waiting.job().await, ("done".to_owned(), 1), "the job is over with the payout");
        waiting.never_claimed_again().await;
        // The reservation still holds the money for finance's retry. (This sandbox bank did pay:
        // the refusal is the test's own signed callback, which is what Yajin goes by.)
        ledger_balances(app).await;
    }

    async fn a_paid_termination_refund_unbinds_the_terminal(db) {
        let app = spawn_paying_app(db, Faults::default()).await;
        let token = app.merchant(A).await;
        let (reviewer, approver) = (app.staff("reviewer").await, app.staff("approver").await);
        let id = app.post("/api/v1/refund-applications", &token, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        let step = |s: &str| format!("/api/v1/review/applications/{id}/{s}");
        app.post(&step("claim"), &reviewer, json!({})).await;
        app.post(&step("approve"), &reviewer, json!({})).await;
        assert_eq!(app.post(&step("approve"), &approver, json!({})).await.body["status"], "approved");
        app.eventually(&format!("/api/v1/refund-applications/{id}"), &token, |b| b["status"] == "refunded").await;
        let unbound: Vec<(String, Option<i64>)> = sqlx::query_as("SELECT sn, unbound_at FROM terminals WHERE sn IN ('DEMO-REVIEW-01', 'DEMO-AUTO-01') ORDER BY sn")
            .fetch_all(app.db.pool()).await.unwrap();
        assert!(unbound[1].1.is_some(), "the terminated terminal is unbound once its deposit is back");
        assert!(unbound[0].1.is_none(), "an active terminal stays bound");
        assert_eq!(app.bank_payments().await.iter().filter(|p| p.1 == id && p.2 == 29_900).count(), 1);
    }

    async fn an_all_deducted_refund_completes_without_the_bank(db) {
        let app = spawn_paying_app(db, Faults::default()).await;
        let token = app.merchant(A).await;
        let reviewer = app.staff("reviewer").await;
        // A 99.00 chargeback on DEMO-AUTO-01 eats the whole deposit.
        let terminal: (String, String) = sqlx::query_as("SELECT id, merchant_id FROM terminals WHERE sn = 'DEMO-AUTO-01'").fetch_one(app.db.pool()).await.unwrap();
        let actor = yajin_app::Actor::system();
        let due = yajin_core::Timestamp::from_millis(app.app.now_ms());
        yajin_app::provisioning::add_outstanding(&app.app, &actor, &terminal.1, Some(&terminal.0), "chargeback", yajin_core::Fen::yuan(99), due).await.unwrap();
        let mut apply = body("DEMO-AUTO-01");
        apply["deduct_outstanding"] = json!(true);
        let created = app.post("/api/v1/refund-applications", &token, apply).await;
        assert_eq!((created.status, created.body["net_refund_fen"].as_i64()), (201, Some(0)), "{:?}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        let step = |s: &str| format!("/api/v1/review/applications/{id}/{s}");
        app.post(&step("claim"), &reviewer, json!({})).await;
        assert_eq!(app.post(&step("approve"), &reviewer, json!({})).await.body["status"], "approved");
        let done = app.eventually(&format!("/api/v1/refund-applications/{id}"), &token, |b| b["status"] == "refunded").await;
        assert!(done.body["payout"].is_null(), "no payout: nothing to pay");
        assert!(app.bank_payments().await.is_empty());
        assert!(app.get(&format!("/api/v1/refund-applications/{id}/receipt"), &token).await.body["receipt_number"].is_string());
        ledger_balances(&app).await;
    }

    async fn a_failed_payout_goes_to_a_new_card_confirmed_by_sms(db) {
        let app = spawn_paying_app(db, Faults { failing_card_last4: Some("0128".into()), ..Faults::default() }).await;
        let token = app.merchant(A).await;
        let b = app.merchant(demo::MERCHANT_B.phone).await;
        let id = app.post("/api/v1/refund-applications", &token, body("DEMO-AUTO-01")).await.body["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/refund-applications/{id}");
        app.eventually(&path, &token, |b| b["status"] == "payout_failed").await;

        let card_path = format!("{path}/payout-card");
        let new_card = "6217001234567890122";
        // The code goes only to the logged-in merchant's own phone.
        let ask = |phone: &'static str, who: Option<String>| {
            let app = &app;
            async move { app.send("POST", "/api/v1/auth/sms-codes", who.as_deref(), Some(json!({"phone": phone, "purpose": "change_payout_card"})), &[]).await }
        };
        assert_eq!(ask(A, None).await.status, 401);
        assert_eq!(ask(demo::MERCHANT_B.phone, Some(token.clone())).await.body["errors"][0]["code"], "mismatch");
        assert_eq!(ask(A, Some(token.clone())).await.status, 202);
        let code = crate::harness::code_in(&app.last_code_sms(A).await.unwrap());
        assert!(app.last_code_sms(A).await.unwrap().contains("更换退款收款卡"));
        let key = [("idempotency-key", "card-1")];
        let wrong = app.send("POST", &card_path, Some(&token), Some(json!({"bank_card_no": new_card, "sms_code": "000000"})), &key).await;
        assert_eq!((wrong.status, wrong.code()), (422, "invalid_code"));
        assert_eq!(app.post(&card_path, &b, json!({"bank_card_no": new_card, "sms_code": code})).await.status, 404, "not B's");
        // The corrected retry with the same key goes through: the refusal claimed nothing.
        let changed = app.send("POST", &card_path, Some(&token), Some(json!({"bank_card_no": new_card, "sms_code": code})), &key).await;
        assert_eq!((changed.status, changed.body["status"].as_str()), (200, Some("paying")), "{:?}", changed.body);
        let done = app.eventually(&path, &token, |b| b["status"] == "refunded").await;
        assert_eq!((done.body["payout"]["attempt"].as_i64(), done.body["payout"]["card_last4"].as_str()), (Some(2), Some("0122")));
        let paid = app.bank_payments().await;
        assert_eq!(paid.len(), 1, "paid once, to the new card: {paid:?}");
        let again = app.post(&card_path, &token, json!({"bank_card_no": new_card, "sms_code": code})).await;
        assert_eq!(again.code(), "invalid_state", "refunded: nothing to re-issue");
        ledger_balances(&app).await;
    }

    async fn a_debt_being_collected_is_never_taken_twice(db) {
        // A slow bank: the collection stays under way while the merchant applies.
        let app = spawn_paying_app(db, Faults { latency_ms: 1_000, ..Faults::default() }).await;
        let token = app.merchant(A).await;
        let reviewer = app.staff("reviewer").await;
        let item = app.get("/api/v1/outstanding-items", &token).await.body["items"][0]["id"].as_str().unwrap().to_owned();
        let settling = app.send("POST", &format!("/api/v1/outstanding-items/{item}/settle"), Some(&token), None, &[]).await;
        assert_eq!(settling.body["status"], "settling");
        let blocked = app.post("/api/v1/refund-applications", &token, body("DEMO-OWES-01")).await;
        assert_eq!((blocked.status, blocked.code()), (422, "outstanding_balance"), "a settling debt still blocks");
        let mut deduct = body("DEMO-OWES-01");
        deduct["deduct_outstanding"] = json!(true);
        let id = app.post("/api/v1/refund-applications", &token, deduct).await.body["id"].as_str().unwrap().to_owned();
        let step = |s: &str| format!("/api/v1/review/applications/{id}/{s}");
        app.post(&step("claim"), &reviewer, json!({})).await;
        let refused = app.post(&step("approve"), &reviewer, json!({})).await;
        assert_eq!((refused.status, refused.code(), refused.body["changed"].as_str()), (409, "figures_changed", Some("outstanding")),
            "the debt being collected cannot also be deducted");
        app.eventually("/api/v1/outstanding-items", &token, |b| b["items"][0]["status"] == "settled").await;
        ledger_balances(&app).await;
    }
}
