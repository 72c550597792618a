//! Terminal orders: a merchant applies for a terminal, pays the deposit through the channel
//! (once, whatever arrives twice), receives it, activates it with a first transaction — and
//! can get the deposit back like any other.

use serde_json::{json, Value};
use yajin_app::demo;
use yajin_channels::payout::{BankStatus, Callback};
use yajin_sandbox_bank::Faults;
use yajin_testdb::on_both_databases;

use crate::harness::{spawn_app, spawn_app_with, spawn_paying_app, TestApp};

const B: &str = demo::MERCHANT_B.phone;

fn order() -> Value {
    json!({"plan_code": "ACT-99", "model": "拉卡拉 P2", "shipping_address": "上海市浦东新区世纪大道 100 号", "deposit_route": "card"})
}

async fn keyed(app: &TestApp, token: &str, path: &str, body: Value, key: &str) -> crate::harness::Reply {
    app.send("POST", path, Some(token), Some(body), &[("idempotency-key", key)]).await
}

/// An order placed by B and approved by the reviewer.
async fn approved(app: &TestApp, b: &str) -> String {
    let placed = app.post("/api/v1/terminal-orders", b, order()).await;
    assert_eq!((placed.status, placed.body["status"].as_str()), (201, Some("submitted")), "{:?}", placed.body);
    let id = placed.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("to_"));
    let reviewer = app.staff("reviewer").await;
    let ok = app.post(&format!("/api/v1/review/terminal-orders/{id}/approve"), &reviewer, json!({})).await;
    assert_eq!(ok.body["status"], "approved", "{:?}", ok.body);
    id
}

async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    let row: (i64,) = sqlx::query_as(sql).bind(bind).fetch_one(app.db.pool()).await.unwrap();
    row.0
}

on_both_databases! {
    async fn a_merchant_orders_pays_receives_activates_and_gets_the_deposit_back(db) {
        let app = spawn_paying_app(db, Faults::default()).await;
        let b = app.merchant(B).await;
        let id = approved(&app, &b).await;
        let paying = keyed(&app, &b, &format!("/api/v1/terminal-orders/{id}/pay"), json!({}), "pay-1").await;
        assert_eq!((paying.status, paying.body["status"].as_str()), (202, Some("paying")));
        let paid = app.eventually(&format!("/api/v1/terminal-orders/{id}"), &b, |o| o["status"] == "deposit_paid").await.body;
        let reference = paid["payment"]["bank_reference"].as_str().unwrap().to_owned();
        assert_eq!((paid["payment"]["attempt"].as_i64(), paid["deposit_fen"].as_i64()), (Some(1), Some(9_900)));

        let reviewer = app.staff("reviewer").await;
        let ship = json!({"sn": "NEW-B-0001", "carrier": "顺丰", "waybill_no": "SF1234567890"});
        let shipped = app.post(&format!("/api/v1/review/terminal-orders/{id}/ship"), &reviewer, ship).await;
        assert_eq!((shipped.status, shipped.body["status"].as_str(), shipped.body["sn"].as_str()), (200, Some("shipped"), Some("NEW-B-0001")));
        // The terminal is B's, not yet active, and its deposit came by the order's route.
        let terminal = app.get("/api/v1/terminals/NEW-B-0001", &b).await.body;
        assert_eq!((terminal["status"].as_str(), terminal["deposit"]["amount_fen"].as_i64()), (Some("inactive"), Some(9_900)));
        let route: (String, String) = sqlx::query_as("SELECT d.route, d.route_ref FROM deposits d JOIN terminals t ON t.id = d.terminal_id WHERE t.sn = 'NEW-B-0001'")
            .fetch_one(app.db.pool()).await.unwrap();
        assert_eq!(route, ("card".to_owned(), reference));
        let delivered = app.post(&format!("/api/v1/terminal-orders/{id}/confirm-delivery"), &b, json!({})).await;
        assert_eq!(delivered.body["status"], "delivered");

        // Its first transactions activate it and reach the target.
        for _ in 0..2 {
            let volume = app.send("POST", "/api/v1/sandbox/transactions", None, Some(json!({"sn": "new-b-0001", "amount_fen": 500_000, "kind": "credit_card"})), &[]).await;
            assert_eq!(volume.status, 201, "{:?}", volume.body);
        }
        let active = app.get(&format!("/api/v1/terminal-orders/{id}"), &b).await.body;
        assert_eq!(active["status"], "activated");
        let terminal = app.get("/api/v1/terminals/NEW-B-0001", &b).await.body;
        assert_eq!((terminal["status"].as_str(), terminal["eligibility"]["eligible"].as_bool()), (Some("active"), Some(true)), "{terminal}");
        let kinds: Vec<String> = app.get("/api/v1/notifications", &b).await.body["items"].as_array().unwrap().iter()
            .map(|n| n["kind"].as_str().unwrap().to_owned()).collect();
        for kind in ["order_approved", "order_deposit_paid", "order_shipped", "order_activated", "target_reached"] {
            assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
        }

        // The deposit comes back like any other: the plan approves it, the bank pays.
        let refund = app.post("/api/v1/refund-applications", &b, json!({"terminal_sn": "NEW-B-0001", "phone": B,
            "id_card_no": demo::MERCHANT_B.id_card_no, "bank_card_no": demo::MERCHANT_B.bank_card_no,
            "reason": "target_reached", "attachment_ids": []})).await;
        assert_eq!(refund.status, 201, "{:?}", refund.body);
        let rid = refund.body["id"].as_str().unwrap().to_owned();
        app.eventually(&format!("/api/v1/refund-applications/{rid}"), &b, |a| a["status"] == "refunded").await;

        // Every step is in the audit log, and the chain still holds.
        let admin = app.staff("admin").await;
        let audit = app.get("/api/v1/audit?entity=terminal_order&limit=200", &admin).await.body;
        let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
        for action in ["order_approved", "order_paying", "order_shipped", "order_delivered"] {
            assert!(actions.contains(&action), "{action} in {actions:?}");
        }
        assert_eq!(app.get("/api/v1/audit/verify", &admin).await.body["ok"], true);
    }

    async fn the_deposit_is_collected_once_whatever_arrives_twice(db) {
        let app = spawn_paying_app(db, Faults { duplicate_callback_rate: 1.0, ..Faults::default() }).await;
        let b = app.merchant(B).await;
        let id = approved(&app, &b).await;
        let pay = format!("/api/v1/terminal-orders/{id}/pay");
        let first = keyed(&app, &b, &pay, json!({}), "pay-1").await;
        let again = keyed(&app, &b, &pay, json!({}), "pay-1").await;
        assert_eq!((again.status, &again.body), (first.status, &first.body), "the same key is the same answer");
        let other = keyed(&app, &b, &pay, json!({}), "pay-2").await;
        assert_eq!((other.status, other.code()), (409, "invalid_state"), "a second payment while the first runs: {:?}", other.body);
        let paid = app.eventually(&format!("/api/v1/terminal-orders/{id}"), &b, |o| o["status"] == "deposit_paid").await.body;
        // The bank's answer once more, as a late duplicate: nothing moves.
        let callback = Callback {
            kind: "collection".into(),
            id: format!("{id}-1"),
            status: BankStatus::Succeeded { bank_reference: "ANOTHER".into(), paid_at_ms: 1_800_000_000_000 },
        };
        yajin_app::worker::notice(&app.app, &callback).await.unwrap();
        let failed = Callback { status: BankStatus::Failed { failure_code: "account_closed".into(), failure_message: "x".into() }, ..callback };
        yajin_app::worker::notice(&app.app, &failed).await.unwrap();
        let now = app.get(&format!("/api/v1/terminal-orders/{id}"), &b).await.body;
        assert_eq!((now["status"].clone(), now["payment"].clone()), (paid["status"].clone(), paid["payment"].clone()));
        let events = now["timeline"].as_array().unwrap().iter().filter(|e| e["status"] == "deposit_paid").count();
        assert_eq!(events, 1);
        assert_eq!(count(&app, "SELECT count(*) FROM jobs WHERE kind = 'order_payment' AND dedupe_key LIKE $1", &format!("order-payment:{id}:%")).await, 1);
        // Paid: it can no longer be cancelled (the merchant refuses delivery or returns it).
        let late = app.post(&format!("/api/v1/terminal-orders/{id}/cancel"), &b, json!({})).await;
        assert_eq!((late.status, late.code()), (409, "invalid_state"));
    }

    async fn payments_sent_all_at_once_collect_once(db) {
        let app = spawn_paying_app(db, Faults { duplicate_callback_rate: 1.0, ..Faults::default() }).await;
        let b = app.merchant(B).await;
        let id = approved(&app, &b).await;
        let pay = format!("/api/v1/terminal-orders/{id}/pay");
        // Ten payments and a cancel, each with its own key, at the same moment.
        let mut requests = tokio::task::JoinSet::new();
        for i in 0..11 {
            let (client, url, token) = (app.client.clone(), format!("{}{}", app.base, if i == 10 { format!("/api/v1/terminal-orders/{id}/cancel") } else { pay.clone() }), b.clone());
            requests.spawn(async move {
                client.post(url).bearer_auth(token).header("idempotency-key", format!("k-{i}")).json(&json!({})).send().await.unwrap().status().as_u16()
            });
        }
        let statuses = requests.join_all().await;
        let won = statuses.iter().filter(|s| matches!(s, 200 | 202)).count();
        assert_eq!((won, statuses.iter().filter(|s| **s == 409).count()), (1, 10), "one step wins: {statuses:?}");
        let jobs = count(&app, "SELECT count(*) FROM jobs WHERE dedupe_key LIKE $1", &format!("order-payment:{id}:%")).await;
        let now = app.get(&format!("/api/v1/terminal-orders/{id}"), &b).await.body;
        if now["status"] == "cancelled" {
            assert_eq!(jobs, 0, "cancelled: nothing collected");
        } else {
            assert_eq!(jobs, 1);
            let paid = app.eventually(&format!("/api/v1/terminal-orders/{id}"), &b, |o| o["status"] == "deposit_paid").await.body;
            assert_eq!(paid["payment"]["attempt"], 1, "one attempt, one collection at the bank");
        }
    }

    async fn a_cancelled_order_collects_nothing(db) {
        let app = spawn_paying_app(db, Faults::default()).await;
        let b = app.merchant(B).await;
        let id = approved(&app, &b).await;
        let cancelled = app.post(&format!("/api/v1/terminal-orders/{id}/cancel"), &b, json!({})).await;
        assert_eq!(cancelled.body["status"], "cancelled");
        let pay = app.post(&format!("/api/v1/terminal-orders/{id}/pay"), &b, json!({})).await;
        assert_eq!((pay.status, pay.code()), (409, "invalid_state"));
        assert_eq!(count(&app, "SELECT count(*) FROM jobs WHERE dedupe_key LIKE $1", &format!("order-payment:{id}:%")).await, 0);
        assert_eq!(app.get(&format!("/api/v1/terminal-orders/{id}"), &b).await.body["payment"], Value::Null);
    }

    async fn a_refused_collection_can_be_paid_again(db) {
        let app = spawn_paying_app(db, Faults { fail_rate: 1.0, ..Faults::default() }).await;
        let b = app.merchant(B).await;
        let id = approved(&app, &b).await;
        app.post(&format!("/api/v1/terminal-orders/{id}/pay"), &b, json!({})).await;
        let back = app.eventually(&format!("/api/v1/terminal-orders/{id}"), &b, |o| o["payment"]["status"] == "failed").await.body;
        assert_eq!((back["status"].as_str(), back["payment"]["failure_code"].as_str()), (Some("approved"), Some("account_closed")));
        let en = app.send("GET", &format!("/api/v1/terminal-orders/{id}"), Some(&b), None, &[("accept-language", "en")]).await.body;
        assert_eq!(en["payment"]["failure_reason"], "the account is closed");
        let again = app.post(&format!("/api/v1/terminal-orders/{id}/pay"), &b, json!({})).await;
        assert_eq!((again.status, again.body["payment"]["attempt"].as_i64()), (202, Some(2)), "a new attempt, a new key at the bank");
    }

    async fn orders_refuse_what_is_wrong_and_stay_with_their_merchant(db) {
        let app = spawn_app(db).await;
        let b = app.merchant(B).await;
        let bad = app.post("/api/v1/terminal-orders", &b, json!({"plan_code": "NOPE", "model": "", "shipping_address": "a\u{0}b", "deposit_route": "cash"})).await;
        let fields: Vec<&str> = bad.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!((bad.status, fields), (422, vec!["model", "shipping_address", "deposit_route", "plan_code"]));
        assert_eq!(count(&app, "SELECT count(*) FROM terminal_orders WHERE plan_code <> $1", "").await, 0, "nothing written");

        let id = approved(&app, &b).await;
        // The address is personal: sealed at rest, shown to the merchant and the reviewer.
        let row: (Vec<u8>,) = sqlx::query_as("SELECT shipping_address_sealed FROM terminal_orders WHERE id = $1")
            .bind(&id).fetch_one(app.db.pool()).await.unwrap();
        assert!(!String::from_utf8_lossy(&row.0).contains("世纪大道"), "sealed at rest");
        assert_eq!(app.get(&format!("/api/v1/terminal-orders/{id}"), &b).await.body["shipping_address"], "上海市浦东新区世纪大道 100 号");
        let a = app.merchant(demo::MERCHANT_A.phone).await;
        assert_eq!(app.get(&format!("/api/v1/terminal-orders/{id}"), &a).await.status, 404, "another merchant's order is not found");
        assert_eq!(app.post(&format!("/api/v1/terminal-orders/{id}/cancel"), &a, json!({})).await.status, 404);
        let reviewer = app.staff("reviewer").await;
        let twice = app.post(&format!("/api/v1/review/terminal-orders/{id}/approve"), &reviewer, json!({})).await;
        assert_eq!((twice.status, twice.code()), (409, "invalid_state"));
        let early = app.post(&format!("/api/v1/review/terminal-orders/{id}/ship"), &reviewer, json!({"sn": "NEW-1", "carrier": "顺丰", "waybill_no": "SF1"})).await;
        assert_eq!((early.status, early.code()), (409, "invalid_state"), "nothing ships before the deposit is paid");
        for who in [&b, &app.staff("agent").await, &app.staff("finance").await] {
            assert_eq!(app.post(&format!("/api/v1/review/terminal-orders/{id}/approve"), who, json!({})).await.status, 403);
        }
        let queue = app.get("/api/v1/review/terminal-orders?status=approved", &reviewer).await.body;
        assert_eq!(queue["items"][0]["id"], id.as_str());
        assert_eq!(app.get("/api/v1/review/terminal-orders?status=lost", &reviewer).await.status, 400);

        let other = app.post("/api/v1/terminal-orders", &b, order()).await.body["id"].as_str().unwrap().to_owned();
        let rejected = app.post(&format!("/api/v1/review/terminal-orders/{other}/reject"), &reviewer, json!({"comment": "该地区暂不受理"})).await;
        assert_eq!(rejected.body["status"], "rejected");
        let note = app.get("/api/v1/notifications", &b).await.body["items"][0].clone();
        assert_eq!(note["kind"], "order_rejected");
        assert!(note["body"].as_str().unwrap().contains("该地区暂不受理"));
    }

    async fn an_sn_bound_to_a_merchant_is_never_shipped_to_another(db) {
        let app = spawn_paying_app(db, Faults::default()).await;
        let b = app.merchant(B).await;
        let id = approved(&app, &b).await;
        app.post(&format!("/api/v1/terminal-orders/{id}/pay"), &b, json!({})).await;
        app.eventually(&format!("/api/v1/terminal-orders/{id}"), &b, |o| o["status"] == "deposit_paid").await;
        let reviewer = app.staff("reviewer").await;
        let taken = app.post(&format!("/api/v1/review/terminal-orders/{id}/ship"), &reviewer, json!({"sn": "DEMO-AUTO-01", "carrier": "顺丰", "waybill_no": "SF1"})).await;
        assert_eq!((taken.status, taken.code()), (409, "already_exists"), "{:?}", taken.body);
        let still = app.get(&format!("/api/v1/terminal-orders/{id}"), &b).await.body;
        assert_eq!((still["status"].as_str(), still["sn"].clone()), (Some("deposit_paid"), Value::Null), "nothing changed");
        let bad = app.post(&format!("/api/v1/review/terminal-orders/{id}/ship"), &reviewer, json!({"sn": "", "carrier": "", "waybill_no": ""})).await;
        let fields: Vec<&str> = bad.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!((bad.status, fields), (422, vec!["sn", "carrier", "waybill_no"]));
    }

    async fn sandbox_volume_checks_its_input(db) {
        let app = spawn_app(db).await;
        let send = |body: Value| app.send("POST", "/api/v1/sandbox/transactions", None, Some(body), &[]);
        assert_eq!(send(json!({"sn": "NOPE-1", "amount_fen": 100, "kind": "nfc"})).await.status, 404);
        let bad = send(json!({"sn": "DEMO-PROGRESS-01", "amount_fen": 0, "kind": "cash"})).await;
        assert_eq!(bad.status, 422);
        let ok = send(json!({"sn": "DEMO-PROGRESS-01", "amount_fen": 650_000, "kind": "credit_card"})).await;
        assert_eq!(ok.status, 201);
        let a = app.merchant(demo::MERCHANT_A.phone).await;
        let t = app.get("/api/v1/terminals/DEMO-PROGRESS-01", &a).await.body;
        assert_eq!(t["progress"]["reached_fen"], 1_000_000, "3,500.00 + 6,500.00: the target, reached");
    }

    async fn sandbox_volume_exists_only_in_a_sandbox(db) {
        let live = spawn_app_with(db, false).await;
        assert_eq!(live.send("POST", "/api/v1/sandbox/transactions", None, Some(json!({"sn": "X", "amount_fen": 1, "kind": "nfc"})), &[]).await.status, 404);
    }
}

on_both_databases! {
    async fn a_terminal_returned_unused_gives_its_deposit_back_once_received(db) {
        let app = spawn_paying_app(db, Faults::default()).await;
        let b = app.merchant(B).await;
        let id = approved(&app, &b).await;
        app.post(&format!("/api/v1/terminal-orders/{id}/pay"), &b, json!({})).await;
        app.eventually(&format!("/api/v1/terminal-orders/{id}"), &b, |o| o["status"] == "deposit_paid").await;
        let reviewer = app.staff("reviewer").await;
        let ship = json!({"sn": "NEW-B-0003", "carrier": "顺丰", "waybill_no": "SF3"});
        app.post(&format!("/api/v1/review/terminal-orders/{id}/ship"), &reviewer, ship).await;

        let returned = app.post(&format!("/api/v1/terminal-orders/{id}/return"), &b, json!({})).await;
        assert_eq!((returned.status, returned.body["status"].as_str()), (200, Some("returned")), "{:?}", returned.body);
        let terminal = app.get("/api/v1/terminals/NEW-B-0003", &b).await.body;
        assert_eq!(terminal["status"], "terminated");
        assert_eq!(terminal["eligibility"]["reasons"][0]["missing"], "device_not_returned", "{terminal}");
        let apply = json!({"terminal_sn": "NEW-B-0003", "phone": B, "id_card_no": demo::MERCHANT_B.id_card_no,
            "bank_card_no": demo::MERCHANT_B.bank_card_no, "reason": "stop_using", "attachment_ids": []});
        let early = app.post("/api/v1/refund-applications", &b, apply.clone()).await;
        assert_eq!((early.status, early.code()), (422, "not_yet_eligible"));
        let twice = app.post(&format!("/api/v1/terminal-orders/{id}/return"), &b, json!({})).await;
        assert_eq!((twice.status, twice.code()), (409, "invalid_state"));
        // Volume on a returned terminal does not bring it back to life.
        app.send("POST", "/api/v1/sandbox/transactions", None, Some(json!({"sn": "NEW-B-0003", "amount_fen": 100, "kind": "nfc"})), &[]).await;
        assert_eq!(app.get(&format!("/api/v1/terminal-orders/{id}"), &b).await.body["status"], "returned");

        let received = json!({"waybill_no": "SF-BACK-1", "condition": "ok"});
        assert_eq!(app.post("/api/v1/review/terminals/NEW-B-0003/device-received", &reviewer, received).await.status, 201);
        let refund = app.post("/api/v1/refund-applications", &b, apply).await;
        assert_eq!(refund.status, 201, "{:?}", refund.body);
        assert_eq!((refund.body["status"].as_str(), refund.body["net_refund_fen"].as_i64()), (Some("submitted"), Some(9_900)), "a person looks at a returned device");
        let rid = refund.body["id"].as_str().unwrap().to_owned();
        app.post(&format!("/api/v1/review/applications/{rid}/claim"), &reviewer, json!({})).await;
        app.post(&format!("/api/v1/review/applications/{rid}/approve"), &reviewer, json!({})).await;
        app.eventually(&format!("/api/v1/refund-applications/{rid}"), &b, |a| a["status"] == "refunded").await;
        let paid: Vec<_> = app.bank_payments().await.into_iter().filter(|(_, reference, _)| reference == &rid).collect();
        assert_eq!((paid.len(), paid[0].2), (1, 9_900));
    }
}
