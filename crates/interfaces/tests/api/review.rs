use std::sync::Arc;

use serde_json::{json, Value};
use yajin_app::{demo, provisioning, Actor};
use yajin_core::application::Role;
use yajin_core::ledger::AccountKey;
use yajin_core::Fen;
use yajin_testdb::on_both_databases;

use crate::applications::body;
use crate::harness::{spawn_app, TestApp};

const A: &str = demo::MERCHANT_A.phone;

async fn held(app: &TestApp, sn: &str) -> yajin_core::ledger::Balance {
    let mut conn = app.db.pool().acquire().await.unwrap();
    let row: (String,) =
        sqlx::query_as("SELECT id FROM terminals WHERE sn = $1").bind(sn).fetch_one(&mut *conn).await.unwrap();
    yajin_store::ledger::balance(&mut conn, &AccountKey::deposit_held(&row.0)).await.unwrap()
}

async fn payout_jobs(app: &TestApp, id: &str) -> i64 {
    let row: (i64,) = sqlx::query_as("SELECT count(*) FROM jobs WHERE kind = 'payout' AND dedupe_key = $1")
        .bind(format!("payout:{id}"))
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    row.0
}

fn path(id: &str, step: &str) -> String {
    format!("/api/v1/review/applications/{id}/{step}")
}

on_both_databases! {
    async fn approval_judges_the_device_and_the_freeze_again_as_of_now(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let (reviewer, approver) = (app.staff("reviewer").await, app.staff("approver").await);
        // DEMO-REVIEW-01's plan wants the device back; say it has not come back yet.
        sqlx::query("UPDATE terminals SET device_returned_at = NULL WHERE sn = 'DEMO-REVIEW-01'").execute(app.db.pool()).await.unwrap();
        let id = app.post("/api/v1/refund-applications", &m, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        app.post(&path(&id, "claim"), &reviewer, json!({})).await;
        app.post(&path(&id, "approve"), &reviewer, json!({})).await;
        let refused = app.post(&path(&id, "approve"), &approver, json!({})).await;
        assert_eq!((refused.status, refused.code()), (409, "device_not_received"));
        assert_eq!(held(&app, "DEMO-REVIEW-01").await.debits_pending, Fen::ZERO, "nothing reserved");

        let received = "/api/v1/review/terminals/DEMO-REVIEW-01/device-received";
        let bad = app.post(received, &reviewer, json!({"waybill_no": "", "condition": "shiny"})).await;
        let fields: Vec<&str> = bad.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!((bad.status, fields), (422, vec!["waybill_no", "condition"]));
        assert_eq!(app.post(received, &m, json!({"waybill_no": "SF1", "condition": "ok"})).await.status, 403);
        assert_eq!(app.post("/api/v1/review/terminals/NOPE-1/device-received", &reviewer, json!({"waybill_no": "SF1", "condition": "ok"})).await.status, 404);
        let ok = app.post(received, &reviewer, json!({"waybill_no": "SF1234567890", "condition": "ok", "note": "完好"})).await;
        assert_eq!((ok.status, ok.body["waybill_no"].as_str()), (201, Some("SF1234567890")));
        let twice = app.post(received, &reviewer, json!({"waybill_no": "SF1234567890", "condition": "ok"})).await;
        assert_eq!((twice.status, twice.code()), (409, "device_already_received"));

        // Frozen by risk control since submission: the approval is refused, saying why.
        sqlx::query("UPDATE merchants SET risk_frozen = 1 WHERE id IN (SELECT merchant_id FROM terminals WHERE sn = 'DEMO-REVIEW-01')").execute(app.db.pool()).await.unwrap();
        let frozen = app.post(&path(&id, "approve"), &approver, json!({})).await;
        assert_eq!((frozen.status, frozen.code(), frozen.body["changed"].as_str()), (409, "figures_changed", Some("risk_frozen")));
        sqlx::query("UPDATE merchants SET risk_frozen = 0 WHERE id IN (SELECT merchant_id FROM terminals WHERE sn = 'DEMO-REVIEW-01')").execute(app.db.pool()).await.unwrap();
        assert_eq!(app.post(&path(&id, "approve"), &approver, json!({})).await.body["status"], "approved");
    }

    async fn review_with_a_supplement_and_four_eyes(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let reviewer = app.staff("reviewer").await;
        let approver = app.staff("approver").await;
        let id = app.post("/api/v1/refund-applications", &m, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();

        let queue = app.get("/api/v1/review/applications?status=submitted", &reviewer).await;
        assert_eq!(queue.body["items"][0]["id"], id.as_str());
        assert!(queue.body["items"][0]["waiting_s"].as_i64().is_some());
        let evidence = app.get(&format!("/api/v1/review/applications/{id}"), &reviewer).await;
        assert_eq!((evidence.status, evidence.body["terminal"]["deposit"]["amount_fen"].as_i64()), (200, Some(29_900)));
        assert_eq!(evidence.body["ledger"][0]["code"], "deposit_collected");

        assert_eq!(app.post(&path(&id, "approve"), &reviewer, json!({})).await.code(), "invalid_state", "claim first");
        assert_eq!(app.post(&path(&id, "claim"), &reviewer, json!({})).await.body["status"], "in_review");
        let asked = app.post(&path(&id, "request-info"), &reviewer, json!({"items": ["机具退还快递单号"], "comment": "请补充"})).await;
        assert_eq!(asked.body["status"], "info_requested");
        let notes = app.get("/api/v1/notifications", &m).await;
        assert!(notes.body["items"][0]["body"].as_str().unwrap().contains("机具退还快递单号"));
        let back = app.post(&format!("/api/v1/refund-applications/{id}/supplement"), &m, json!({"note": "SF1234567890"})).await;
        assert_eq!(back.body["status"], "submitted");

        app.post(&path(&id, "claim"), &reviewer, json!({})).await;
        let first = app.post(&path(&id, "approve"), &reviewer, json!({"comment": "材料齐全"})).await;
        assert_eq!(first.body["status"], "awaiting_second_approval", "299.00 is at or above the 200.00 threshold");
        assert_eq!(held(&app, "DEMO-REVIEW-01").await.debits_pending, Fen::ZERO, "no money moves on a first approval");
        let again = app.post(&path(&id, "approve"), &reviewer, json!({})).await;
        assert_eq!((again.status, again.code()), (403, "same_approver"), "the first approver is told why, before the role");
        let second = app.post(&path(&id, "approve"), &approver, json!({"comment": "复核通过"})).await;
        assert_eq!(second.body["status"], "approved");
        assert_eq!((second.body["first_approver"].is_string(), second.body["second_approver"].is_string()), (true, true));

        let balance = held(&app, "DEMO-REVIEW-01").await;
        assert_eq!((balance.debits_pending, balance.credits_posted), (Fen::yuan(299), Fen::yuan(299)));
        assert_eq!(payout_jobs(&app, &id).await, 1);
        let timeline: Vec<String> = app.get(&format!("/api/v1/refund-applications/{id}"), &m).await.body["timeline"]
            .as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap().to_owned()).collect();
        assert_eq!(timeline, ["submitted", "in_review", "info_requested", "submitted", "in_review", "awaiting_second_approval", "approved"]);
        let cancel = app.post(&format!("/api/v1/refund-applications/{id}/cancel"), &m, json!({})).await;
        assert_eq!((cancel.status, cancel.code()), (409, "invalid_state"), "too late once approved");
        let audit = yajin_store::audit::verify(&mut app.db.pool().acquire().await.unwrap(), &app.app.vault).await.unwrap();
        assert!(audit.ok);
    }

    async fn an_activation_refund_is_approved_by_the_system_at_once(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let created = app.post("/api/v1/refund-applications", &m, body("DEMO-AUTO-01")).await;
        assert_eq!((created.status, created.body["status"].as_str()), (201, Some("approved")));
        let timeline = created.body["timeline"].as_array().unwrap();
        assert_eq!((timeline[1]["status"].as_str(), timeline[1]["actor"].as_str()), (Some("approved"), Some("system")));
        let balance = held(&app, "DEMO-AUTO-01").await;
        assert_eq!(balance.debits_pending, Fen::yuan(99));
        assert_eq!(payout_jobs(&app, created.body["id"].as_str().unwrap()).await, 1);
        // With a deduction, a person looks: submitted, not approved.
        let deduct = app.post("/api/v1/refund-applications", &m, { let mut b = body("DEMO-OWES-01"); b["deduct_outstanding"] = json!(true); b }).await;
        assert_eq!(deduct.body["status"], "submitted");
    }

    async fn twenty_racing_second_approvals_move_money_once(db) {
        let app = Arc::new(spawn_app(db).await);
        let m = app.merchant(A).await;
        let reviewer = app.staff("reviewer").await;
        let id = app.post("/api/v1/refund-applications", &m, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        app.post(&path(&id, "claim"), &reviewer, json!({})).await;
        app.post(&path(&id, "approve"), &reviewer, json!({})).await;
        let mut approvers = Vec::new();
        for i in 0..20 {
            let name = format!("approver{i}");
            provisioning::create_staff(&app.app, &Actor::system(), &name, "复核", Role::Approver, demo::STAFF_PASSWORD.into()).await.unwrap();
            approvers.push(app.staff(&name).await);
        }
        let tasks: Vec<_> = approvers.into_iter().map(|token| {
            let (app, id) = (app.clone(), id.clone());
            tokio::spawn(async move { app.post(&path(&id, "approve"), &token, json!({})).await })
        }).collect();
        let mut ok = 0;
        for t in tasks {
            let r = t.await.unwrap();
            match r.status {
                200 => ok += 1,
                409 => assert_eq!(r.code(), "invalid_state"),
                other => panic!("{other}: {:?}", r.body),
            }
        }
        assert_eq!(ok, 1);
        assert_eq!(held(&app, "DEMO-REVIEW-01").await.debits_pending, Fen::yuan(299), "one reservation");
        let mut conn = app.db.pool().acquire().await.unwrap();
        assert_eq!(yajin_store::ledger::by_reference(&mut conn, &id).await.unwrap().len(), 1);
        assert_eq!(yajin_store::ledger::verify(&mut conn).await.unwrap(), []);
    }

    async fn bad_decisions_change_nothing(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let reviewer = app.staff("reviewer").await;
        let reviewer2 = app.staff("reviewer2").await;
        let id = app.post("/api/v1/refund-applications", &m, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        app.post(&path(&id, "claim"), &reviewer, json!({})).await;
        let r = app.post(&path(&id, "reject"), &reviewer, json!({"reason_code": "because", "comment": "x"})).await;
        assert_eq!((r.status, r.code()), (422, "unknown_reason_code"));
        let r = app.post(&path(&id, "reject"), &reviewer, json!({"reason_code": "other", "comment": "长".repeat(1001)})).await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"));
        let r = app.post(&path(&id, "request-info"), &reviewer, json!({"items": []})).await;
        assert_eq!(r.code(), "validation_failed");
        let r = app.post(&path(&id, "approve"), &reviewer2, json!({})).await;
        assert_eq!((r.status, r.code()), (409, "not_claimed_by_you"), "one owner per application");
        let r = app.post(&path(&id, "claim"), &reviewer2, json!({})).await;
        assert_eq!((r.status, r.code()), (409, "invalid_state"));
        assert_eq!(app.get(&format!("/api/v1/refund-applications/{id}"), &m).await.body["status"], "in_review");
        let rejected = app.post(&path(&id, "reject"), &reviewer, json!({"reason_code": "materials_incomplete", "comment": "缺购机凭证"})).await;
        assert_eq!(rejected.body["status"], "rejected");
        let note = &app.get("/api/v1/notifications", &m).await.body["items"][0];
        assert!(note["body"].as_str().unwrap().contains("补齐购机凭证"), "the merchant reads what to do next: {note}");
        assert_eq!(app.post(&path(&id, "approve"), &reviewer, json!({})).await.code(), "invalid_state", "final");
        assert_eq!(held(&app, "DEMO-REVIEW-01").await.debits_pending, Fen::ZERO, "a rejection releases nothing never held");
    }

    async fn the_same_person_never_gives_both_approvals(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        // A staff member who is somehow both: the database refuses the same id twice.
        let reviewer = app.staff("reviewer").await;
        let id = app.post("/api/v1/refund-applications", &m, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        app.post(&path(&id, "claim"), &reviewer, json!({})).await;
        let first = app.post(&path(&id, "approve"), &reviewer, json!({})).await;
        let first_approver = first.body["first_approver"].as_str().unwrap().to_owned();
        sqlx::query("UPDATE staff SET role = 'approver' WHERE username = 'reviewer'").execute(app.db.pool()).await.unwrap();
        let promoted = app.staff("reviewer").await;
        let r = app.post(&path(&id, "approve"), &promoted, json!({})).await;
        assert_eq!((r.status, r.code()), (403, "same_approver"));
        let direct = sqlx::query("UPDATE refund_applications SET second_approver = $1, status = 'approved' WHERE id = $2")
            .bind(&first_approver).bind(&id).execute(app.db.pool()).await;
        assert!(direct.is_err(), "the CHECK constraint refuses it even past the application");
    }

    async fn every_role_reaches_only_its_endpoints(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let id = app.post("/api/v1/refund-applications", &m, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        let endpoints: Vec<(&str, String, Value, &[&str])> = vec![
            ("GET", "/api/v1/review/applications".into(), Value::Null, &["reviewer", "approver"]),
            ("GET", format!("/api/v1/review/applications/{id}"), Value::Null, &["reviewer", "approver"]),
            ("GET", "/api/v1/review/reason-codes".into(), Value::Null, &["reviewer", "approver"]),
            ("GET", "/api/v1/review/attachments/at_x".into(), Value::Null, &["reviewer", "approver"]),
            ("POST", path(&id, "request-info"), json!({"items": ["x"], "unknown": 1}), &["reviewer"]),
            ("POST", path(&id, "reject"), json!({"reason_code": 5}), &["reviewer", "approver"]),
            ("POST", path(&id, "approve"), json!({"comment": []}), &["reviewer", "approver"]),
            ("POST", path(&id, "claim"), json!({}), &["reviewer"]),
            ("GET", "/api/v1/policies".into(), Value::Null, &["admin"]),
            ("POST", "/api/v1/policies".into(), json!({"code": "X"}), &["admin"]),
            ("GET", "/api/v1/audit".into(), Value::Null, &["admin"]),
            ("GET", "/api/v1/audit/verify".into(), Value::Null, &["admin"]),
            ("GET", "/api/v1/ledger/verify".into(), Value::Null, &["admin"]),
            ("GET", "/api/v1/audit/head".into(), Value::Null, &["admin"]),
            ("GET", "/api/v1/support/tickets".into(), Value::Null, &["admin", "support"]),
            ("GET", "/api/v1/support/tickets/tk_x".into(), Value::Null, &["admin", "support"]),
            ("POST", "/api/v1/support/tickets/tk_x/messages".into(), json!({"body": "x"}), &["admin", "support"]),
            ("POST", "/api/v1/support/tickets/tk_x/close".into(), json!({}), &["admin", "support"]),
            ("POST", "/api/v1/admin/announcements".into(), json!({"title": ""}), &["admin"]),
            ("POST", "/api/v1/admin/announcements/an_x/publish".into(), json!({}), &["admin"]),
            ("POST", "/api/v1/admin/announcements/an_x/withdraw".into(), json!({}), &["admin"]),
            ("GET", "/api/v1/reports/summary".into(), Value::Null, &["admin", "finance"]),
        ];
        let mut tokens = vec![("merchant", m.clone())];
        for (name, _, _) in demo::STAFF {
            tokens.push((name, app.staff(name).await));
        }
        for (method, url, payload, allowed) in &endpoints {
            for (who, token) in &tokens {
                let who_role = if *who == "reviewer2" { "reviewer" } else { who };
                let payload = if payload.is_null() { None } else { Some(payload.clone()) };
                let r = app.send(method, url, Some(token), payload, &[]).await;
                if allowed.contains(&who_role) {
                    assert_ne!(r.status, 403, "{who} {method} {url}: {:?}", r.body);
                } else {
                    assert_eq!((r.status, r.code()), (403, "forbidden"), "{who} {method} {url}");
                }
            }
        }
        // Staff tokens never reach merchant endpoints, and merchants never reach staff ones.
        let merchant_endpoints: [(&str, &str); 6] = [("GET", "/api/v1/me"), ("GET", "/api/v1/terminals"), ("GET", "/api/v1/refund-applications"),
            ("POST", "/api/v1/refund-applications"), ("GET", "/api/v1/tickets"), ("GET", "/api/v1/notifications")];
        for (who, token) in tokens.iter().filter(|(who, _)| *who != "merchant") {
            for (method, url) in merchant_endpoints {
                let r = app.send(method, url, Some(token), Some(json!({})), &[]).await;
                assert_eq!((r.status, r.code()), (403, "forbidden"), "{who} {method} {url}");
            }
        }
        assert_eq!(app.send("POST", "/api/v1/staff/auth/login", None, Some(json!({"username": "reviewer", "password": "x"})), &[]).await.code(), "invalid_credentials");
    }
}
