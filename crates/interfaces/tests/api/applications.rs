use std::sync::Arc;

use serde_json::{json, Value};
use yajin_app::demo;
use yajin_core::application::Status;
use yajin_testdb::on_both_databases;

use crate::harness::{code_in, spawn_app, TestApp};

const A: &str = demo::MERCHANT_A.phone;

pub fn body(sn: &str) -> Value {
    json!({"terminal_sn": sn, "phone": A, "id_card_no": demo::MERCHANT_A.id_card_no,
           "bank_card_no": demo::MERCHANT_A.bank_card_no, "reason": "stop_using", "note": "请尽快处理", "attachment_ids": []})
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

async fn count_applications(app: &TestApp) -> i64 {
    let row: (i64,) = sqlx::query_as("SELECT count(*) FROM refund_applications WHERE reason <> 'migrated'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    row.0
}

on_both_databases! {
    async fn guessing_the_hidden_digits_locks_identity_checks_until_an_sms_code(db) {
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let preview = |b: Value| app.post("/api/v1/refund-applications/preview", &token, b);
        // A malformed number is a format error, answered first and not counted.
        for _ in 0..6 {
            let malformed = preview(with(body("DEMO-REVIEW-01"), "id_card_no", json!("123"))).await;
            assert_eq!(malformed.code(), "validation_failed");
        }
        // Someone with the merchant's session tries well-formed numbers, one after another.
        let guess = with(body("DEMO-REVIEW-01"), "id_card_no", json!(demo::MERCHANT_B.id_card_no));
        for n in 0..4 {
            assert_eq!(preview(guess.clone()).await.code(), "identity_mismatch", "guess {n}");
        }
        let card_guess = with(body("DEMO-REVIEW-01"), "bank_card_no", json!(demo::MERCHANT_B.bank_card_no));
        assert_eq!(app.post("/api/v1/refund-applications", &token, card_guess).await.code(), "bank_card_mismatch");
        // The sixth try is refused whatever it says, even the right numbers, on preview and submit.
        let locked = preview(body("DEMO-REVIEW-01")).await;
        assert_eq!((locked.status, locked.code()), (423, "identity_checks_locked"), "{:?}", locked.body);
        let submit = app.post("/api/v1/refund-applications", &token, body("DEMO-REVIEW-01")).await;
        assert_eq!(submit.code(), "identity_checks_locked");

        // The merchant proves who they are with a code to the bound phone.
        let ask = app
            .post("/api/v1/auth/sms-codes", &token, json!({"phone": A, "purpose": "unlock_identity_checks"}))
            .await;
        assert_eq!(ask.status, 202, "{:?}", ask.body);
        let sms = app.last_code_sms(A).await.unwrap();
        assert!(sms.contains("解锁身份核验"), "{sms}");
        let wrong = app.post("/api/v1/identity-checks/unlock", &token, json!({"sms_code": "000000"})).await;
        assert_eq!(wrong.code(), "invalid_code");
        let unlocked = app.post("/api/v1/identity-checks/unlock", &token, json!({"sms_code": code_in(&sms)})).await;
        assert_eq!(unlocked.status, 204, "{:?}", unlocked.body);
        assert_eq!(preview(body("DEMO-REVIEW-01")).await.status, 200);
        // Another merchant was never held back.
        let b = app.merchant(demo::MERCHANT_B.phone).await;
        let theirs = json!({"terminal_sn": "DEMO-B-01", "phone": demo::MERCHANT_B.phone, "id_card_no": demo::MERCHANT_B.id_card_no,
            "bank_card_no": demo::MERCHANT_B.bank_card_no, "reason": "stop_using", "note": "", "attachment_ids": []});
        assert_eq!(app.post("/api/v1/refund-applications/preview", &b, theirs).await.status, 200);
    }

    async fn submit_and_read_the_timeline(db) {
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let created = app.post("/api/v1/refund-applications", &token, body("DEMO-REVIEW-01")).await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let a = &created.body;
        assert!(a["id"].as_str().unwrap().starts_with("ra_"));
        assert_eq!((a["status"].as_str(), a["amount_fen"].as_i64(), a["net_refund_fen"].as_i64()), (Some("submitted"), Some(29_900), Some(29_900)));
        assert_eq!(a["bank_card"], "6222 **** **** 0128");
        assert_eq!(a["four_eyes_required"], true);
        assert_eq!(a["timeline"][0]["status"], "submitted");
        assert_eq!(a["timeline"][0]["actor"], "merchant");
        let id = a["id"].as_str().unwrap();
        let detail = app.get(&format!("/api/v1/refund-applications/{id}"), &token).await;
        assert_eq!(detail.body, created.body);
        let list = app.get("/api/v1/refund-applications", &token).await;
        assert_eq!(list.body["items"][0]["id"], id);
        let notes = app.get("/api/v1/notifications", &token).await;
        assert!(notes.body["items"].as_array().unwrap().iter().any(|n| n["application_id"] == id), "{:?}", notes.body);
        let terminal = app.get("/api/v1/terminals/DEMO-REVIEW-01", &token).await;
        assert_eq!(terminal.body["open_application_id"], id);
        let b = app.merchant(demo::MERCHANT_B.phone).await;
        assert_eq!(app.get(&format!("/api/v1/refund-applications/{id}"), &b).await.status, 404);
        // Submitting moved no money.
        let mut conn = app.db.pool().acquire().await.unwrap();
        assert!(yajin_store::ledger::by_reference(&mut conn, id).await.unwrap().is_empty());
    }

    async fn a_submit_answers_what_reading_the_application_back_shows(db) {
        // The answer is put together from what the submitting transaction knows (it does not
        // read the terminal, the agent or the payouts back): it must still be the application
        // as any later read shows it — with files, with the agent who sold the terminal, and
        // approved on the spot. Sent with a key, its stored answer (written with the row, when
        // there are no files and no approval moves it on) is the same again.
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let file = crate::attachments::upload(&app, &token, Some("purchase_voucher"), Some(crate::attachments::PNG)).await;
        assert_eq!(file.status, 201, "{:?}", file.body);
        let with_file = with(body("DEMO-REVIEW-01"), "attachment_ids", json!([file.body["id"]]));
        let deducting = with(body("DEMO-OWES-01"), "deduct_outstanding", json!(true));
        for (sn, request) in [("DEMO-REVIEW-01", with_file), ("DEMO-AUTO-01", body("DEMO-AUTO-01")), ("DEMO-OWES-01", deducting)] {
            let key = [("idempotency-key", sn)];
            let send = || app.send("POST", "/api/v1/refund-applications", Some(&token), Some(request.clone()), &key);
            let created = send().await;
            assert_eq!(created.status, 201, "{sn}: {:?}", created.body);
            let id = created.body["id"].as_str().unwrap();
            let read = app.get(&format!("/api/v1/refund-applications/{id}"), &token).await;
            assert_eq!(read.body, created.body, "{sn}");
            assert!(created.body["agent"].as_str().is_some_and(|a| a.contains("周强")), "{sn}: {:?}", created.body["agent"]);
            let again = send().await;
            assert_eq!((again.status, &again.body), (201, &created.body), "{sn}");
            assert_eq!(again.headers["idempotent-replayed"], "true", "{sn}");
        }
        let read = |sn: &'static str| {
            let (app, token) = (&app, token.clone());
            async move {
                let list = app.get("/api/v1/refund-applications", &token).await.body["items"].as_array().unwrap().clone();
                list.into_iter().find(|a| a["terminal_sn"] == sn).unwrap()
            }
        };
        assert_eq!(read("DEMO-REVIEW-01").await["attachments"].as_array().map(Vec::len), Some(1));
        assert_eq!(read("DEMO-AUTO-01").await["status"], "approved");
        let owes = read("DEMO-OWES-01").await;
        assert_eq!((owes["status"].as_str(), owes["deducted_fen"].as_i64(), owes["timeline"].as_array().map(Vec::len)), (Some("submitted"), Some(6000), Some(1)));
    }

    async fn every_rule_failure_carries_what_the_merchant_needs(db) {
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let submit = |b: Value| { let (app, token) = (&app, token.clone()); async move { app.post("/api/v1/refund-applications", &token, b).await } };

        let r = submit(body("DEMO-B-01")).await;
        assert_eq!((r.status, r.code()), (404, "terminal_not_found"));
        let r = submit(with(body("DEMO-REVIEW-01"), "id_card_no", json!("11010519491231002X"))).await;
        assert_eq!((r.status, r.code(), r.body["errors"][0]["field"].as_str()), (422, "identity_mismatch", Some("id_card_no")));
        let r = submit(with(body("DEMO-REVIEW-01"), "phone", json!("13900000000"))).await;
        assert_eq!((r.code(), r.body["errors"][0]["field"].as_str()), ("identity_mismatch", Some("phone")));
        let r = submit(with(body("DEMO-REVIEW-01"), "bank_card_no", json!(demo::MERCHANT_B.bank_card_no))).await;
        assert_eq!((r.status, r.code()), (422, "bank_card_mismatch"));

        let r = submit(body("DEMO-OWES-01")).await;
        assert_eq!((r.status, r.code(), r.body["outstanding_fen"].as_i64()), (422, "outstanding_balance", Some(6000)));
        assert_eq!(r.body["items"][0]["kind"], "service_fee");
        assert!(r.is_problem());
        let r = submit(body("DEMO-EXPIRED-01")).await;
        assert_eq!((r.status, r.code()), (422, "refund_window_expired"));
        assert!(r.body["deadline"].as_str().unwrap().ends_with('Z'));
        let r = submit(body("DEMO-PROGRESS-01")).await;
        assert_eq!((r.status, r.code(), r.body["reached_fen"].as_i64(), r.body["needed_fen"].as_i64()), (422, "not_yet_eligible", Some(350_000), Some(1_000_000)));
        let r = submit(body("DEMO-REFUNDED-01")).await;
        assert_eq!((r.status, r.code()), (422, "deposit_already_refunded"));

        let first = submit(body("DEMO-REVIEW-01")).await;
        assert_eq!(first.status, 201);
        let r = submit(body("DEMO-REVIEW-01")).await;
        assert_eq!((r.status, r.code(), r.body["application_id"].clone()), (409, "application_already_open", first.body["id"].clone()));

        sqlx::query("UPDATE merchants SET risk_frozen = 1 WHERE phone = $1").bind(A).execute(app.db.pool()).await.unwrap();
        let r = submit(body("DEMO-AUTO-01")).await;
        assert_eq!((r.status, r.code()), (422, "risk_frozen"));
        assert_eq!(count_applications(&app).await, 1, "no failure wrote anything");
    }

    async fn every_field_error_at_once(db) {
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let bad = json!({"terminal_sn": "sn_with_underscore", "phone": "123", "id_card_no": "310115198506151237",
                         "bank_card_no": "62220", "reason": "because", "note": "长".repeat(501), "attachment_ids": []});
        let r = app.post("/api/v1/refund-applications", &token, bad).await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"));
        let fields: Vec<(&str, &str)> = r.body["errors"].as_array().unwrap().iter()
            .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap())).collect();
        assert_eq!(fields, [("terminal_sn", "invalid_format"), ("phone", "invalid_length"), ("id_card_no", "invalid_checksum"),
            ("bank_card_no", "invalid_length"), ("reason", "invalid_value"), ("note", "too_long")]);
        let empty = app.post("/api/v1/refund-applications", &token, json!({})).await;
        assert_eq!(empty.body["errors"].as_array().unwrap().len(), 5, "{:?}", empty.body);
        let r = app.post("/api/v1/refund-applications", &token, with(body("DEMO-REVIEW-01"), "attachment_ids", json!(["at_nope"]))).await;
        assert_eq!((r.code(), r.body["errors"][0]["field"].as_str()), ("validation_failed", Some("attachment_ids[0]")));
        for (field, value) in [("deduct_outstanding", json!("yes")), ("attachment_ids", json!("at_1")), ("amount_fen", json!(-5)), ("note", json!(1e300))] {
            let r = app.post("/api/v1/refund-applications", &token, with(body("DEMO-REVIEW-01"), field, value)).await;
            assert_eq!((r.status, r.code()), (422, "invalid_body"), "{field}");
        }
        assert_eq!(count_applications(&app).await, 0);
    }

    async fn a_card_failing_luhn_is_a_warning_not_a_refusal(db) {
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let p = app.post("/api/v1/refund-applications/preview", &token, with(body("DEMO-REVIEW-01"), "bank_card_no", json!("6222021234567890123"))).await;
        assert_eq!(p.code(), "bank_card_mismatch", "not the bound card: refused for that, not for Luhn");
        let p = app.post("/api/v1/refund-applications/preview", &token, body("DEMO-REVIEW-01")).await;
        assert_eq!((p.status, p.body["eligible"].as_bool(), p.body["warnings"].as_array().map(Vec::len)), (200, Some(true), Some(0)));
    }

    async fn preview_discloses_deductions_and_creates_nothing(db) {
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let p = app.post("/api/v1/refund-applications/preview", &token, body("DEMO-OWES-01")).await;
        assert_eq!((p.status, p.body["eligible"].as_bool(), p.body["reasons"][0]["code"].as_str()), (200, Some(false), Some("outstanding_balance")));
        let consent = with(body("DEMO-OWES-01"), "deduct_outstanding", json!(true));
        let p = app.post("/api/v1/refund-applications/preview", &token, consent.clone()).await;
        assert_eq!((p.body["eligible"].as_bool(), p.body["deducted_fen"].as_i64(), p.body["net_refund_fen"].as_i64()), (Some(true), Some(6000), Some(3900)));
        assert_eq!(p.body["deductions"][0]["amount_fen"], 6000);
        assert_eq!(count_applications(&app).await, 0);
        let created = app.post("/api/v1/refund-applications", &token, consent).await;
        assert_eq!((created.status, created.body["net_refund_fen"].as_i64(), created.body["deducted_fen"].as_i64()), (201, Some(3900), Some(6000)));
    }

    async fn idempotency_keys_replay_and_refuse_reuse(db) {
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let send = |b: Value, key: &'static str| { let (app, token) = (&app, token.clone()); async move {
            app.send("POST", "/api/v1/refund-applications", Some(&token), Some(b), &[("idempotency-key", key)]).await } };
        // A failed request stores nothing: the corrected retry with the same key goes through.
        let failed = send(with(body("DEMO-REVIEW-01"), "phone", json!("1")), "k-1").await;
        assert_eq!(failed.status, 422);
        let first = send(body("DEMO-REVIEW-01"), "k-1").await;
        assert_eq!(first.status, 201);
        let again = send(body("DEMO-REVIEW-01"), "k-1").await;
        assert_eq!((again.status, &again.body), (201, &first.body));
        assert_eq!(again.headers["idempotent-replayed"], "true");
        let other = send(body("DEMO-AUTO-01"), "k-1").await;
        assert_eq!((other.status, other.code()), (409, "idempotency_key_reused"));
        // Another request under the key is that, whatever else is wrong with it: bad fields,
        // a file not the merchant's, a terminal not theirs.
        let bad_fields = send(with(body("DEMO-REVIEW-01"), "phone", json!("1")), "k-1").await;
        let not_theirs = send(with(body("DEMO-REVIEW-01"), "attachment_ids", json!(["at_nobodys"])), "k-1").await;
        let no_terminal = send(body("DEMO-B-01"), "k-1").await;
        for refused in [bad_fields, not_theirs, no_terminal] {
            assert_eq!((refused.status, refused.code()), (409, "idempotency_key_reused"), "{:?}", refused.body);
        }
        // A fresh key's refusals are the request's own, and claim nothing.
        let bad_fields = send(with(body("DEMO-REVIEW-01"), "phone", json!("1")), "k-2").await;
        assert_eq!((bad_fields.status, bad_fields.code()), (422, "validation_failed"));
        let no_terminal = send(body("DEMO-B-01"), "k-2").await;
        assert_eq!(no_terminal.status, 404, "{:?}", no_terminal.body);
        let corrected = send(body("DEMO-AUTO-01"), "k-2").await;
        assert_eq!(corrected.status, 201, "{:?}", corrected.body);
        assert_eq!(count_applications(&app).await, 2);
        let bad_key = app.send("POST", "/api/v1/refund-applications", Some(&token), Some(body("DEMO-AUTO-01")), &[("idempotency-key", "")]).await;
        assert_eq!(bad_key.code(), "invalid_idempotency_key");
    }

    async fn fifty_racing_submits_make_one_application(db) {
        let app = Arc::new(spawn_app(db).await);
        let token = app.merchant(A).await;
        let tasks: Vec<_> = (0..50).map(|i| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move {
                // Half share one key, half bring their own.
                let key = if i % 2 == 0 { "shared-key".to_owned() } else { format!("key-{i}") };
                app.send("POST", "/api/v1/refund-applications", Some(&token), Some(body("DEMO-REVIEW-01")), &[("idempotency-key", &key)]).await
            })
        }).collect();
        let mut created = Vec::new();
        let mut conflicts = 0;
        for t in tasks {
            let r = t.await.unwrap();
            match (r.status, r.code()) {
                (201, _) => created.push(r.body["id"].as_str().unwrap().to_owned()),
                (409, "application_already_open") => { conflicts += 1; assert!(r.body["application_id"].is_string(), "{:?}", r.body) }
                other => panic!("unexpected {other:?}: {:?}", r.body),
            }
        }
        created.dedup();
        assert_eq!(created.len(), 1, "every 201 is the same application (replays)");
        assert!(conflicts >= 24, "{conflicts}");
        assert_eq!(count_applications(&app).await, 1);
        // The losers' statements wrote nothing: one first event, one notification.
        let written: (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM application_events WHERE application_id = $1),
                    (SELECT count(*) FROM notifications WHERE kind = 'application_submitted' AND application_id = $1)",
        )
        .bind(&created[0])
        .fetch_one(app.db.pool())
        .await
        .unwrap();
        assert_eq!(written, (1, 1));
        let strays: (i64,) = sqlx::query_as(
            "SELECT count(*) FROM notifications n WHERE n.application_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM refund_applications a WHERE a.id = n.application_id)",
        )
        .fetch_one(app.db.pool())
        .await
        .unwrap();
        assert_eq!(strays.0, 0, "no notification of an application that was rolled back");
    }

    async fn cancel_and_supplement_follow_the_state_machine(db) {
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let b = app.merchant(demo::MERCHANT_B.phone).await;
        let id = app.post("/api/v1/refund-applications", &token, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        let supplement = json!({"note": "补充购机凭证", "attachment_ids": []});
        let r = app.post(&format!("/api/v1/refund-applications/{id}/supplement"), &token, supplement.clone()).await;
        assert_eq!((r.status, r.code(), r.body["application_status"].as_str()), (409, "invalid_state", Some("submitted")));
        // A reviewer asks for information (the back office is another issue; the store moves it).
        let mut tx = app.db.begin_write().await.unwrap();
        yajin_store::records::applications::transition(&mut tx, &id, &[Status::Submitted], Status::InfoRequested, 1).await.unwrap();
        tx.commit().await.unwrap();
        let r = app.post(&format!("/api/v1/refund-applications/{id}/supplement"), &token, json!({"note": ""})).await;
        assert_eq!(r.code(), "validation_failed");
        let r = app.post(&format!("/api/v1/refund-applications/{id}/supplement"), &token, supplement).await;
        assert_eq!((r.status, r.body["status"].as_str()), (200, Some("submitted")));
        assert!(r.body["note"].as_str().unwrap().contains("补充购机凭证"));
        assert_eq!(r.body["timeline"].as_array().unwrap().last().unwrap()["from"], "info_requested");

        assert_eq!(app.post(&format!("/api/v1/refund-applications/{id}/cancel"), &b, json!({})).await.status, 404);
        let r = app.post(&format!("/api/v1/refund-applications/{id}/cancel"), &token, json!({})).await;
        assert_eq!((r.status, r.body["status"].as_str()), (200, Some("cancelled")));
        let r = app.post(&format!("/api/v1/refund-applications/{id}/cancel"), &token, json!({})).await;
        assert_eq!((r.status, r.code()), (409, "invalid_state"));
        assert_eq!(app.post("/api/v1/refund-applications", &token, body("DEMO-REVIEW-01")).await.status, 201, "a new one may open");
    }

    async fn the_receipt_shows_the_amount_in_capitals(db) {
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let refunded = app.get("/api/v1/terminals/DEMO-REFUNDED-01", &token).await;
        assert_eq!(refunded.body["deposit"]["status"], "refunded");
        let list = app.get("/api/v1/refund-applications", &token).await;
        let id = list.body["items"][0]["id"].as_str().unwrap().to_owned();
        let r = app.get(&format!("/api/v1/refund-applications/{id}/receipt"), &token).await;
        assert_eq!((r.status, r.body["net_refund_capitals"].as_str(), r.body["bank_card"].as_str()), (200, Some("玖拾玖元整"), Some("6222 **** **** 0128")));
        let html = app.get(&format!("/api/v1/refund-applications/{id}/receipt?format=html"), &token).await;
        let document = html.body.as_str().unwrap();
        assert!(document.contains("玖拾玖元整"), "{document}");
        // Printable under the CSP: the site's stylesheet, no inline style.
        assert!(document.contains("rel=\"stylesheet\" href=\"/assets/site.") && !document.contains("<style"));
        let open = app.post("/api/v1/refund-applications", &token, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        let r = app.get(&format!("/api/v1/refund-applications/{open}/receipt"), &token).await;
        assert_eq!((r.status, r.code()), (409, "not_refunded"));
    }
}
