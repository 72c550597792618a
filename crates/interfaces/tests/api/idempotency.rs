//! One idempotency layer for every request that creates something or moves money: a retry
//! with the key gets the first answer and changes nothing; the key with another request is
//! refused; keys belong to their caller; a refused request stores nothing.

use serde_json::{json, Value};
use sha2::Digest;
use yajin_app::demo;
use yajin_testdb::on_both_databases;

use crate::applications::body;
use crate::attachments::{upload_with, PNG};
use crate::harness::{spawn_app, Reply, TestApp};

async fn count(app: &TestApp, sql: &str) -> i64 {
    let row: (i64,) = sqlx::query_as(sql).fetch_one(app.db.pool()).await.unwrap();
    row.0
}

async fn keyed(app: &TestApp, token: &str, path: &str, payload: Option<Value>, key: &str) -> Reply {
    app.send("POST", path, Some(token), payload, &[("idempotency-key", key)]).await
}

/// Sends the request twice with one key: the second answer is the first one again, marked.
async fn twice(app: &TestApp, token: &str, path: &str, payload: Option<Value>, key: &str) -> Reply {
    let first = keyed(app, token, path, payload.clone(), key).await;
    assert!((200..300).contains(&first.status), "{path}: {} {:?}", first.status, first.body);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = keyed(app, token, path, payload, key).await;
    assert_eq!((again.status, &again.body), (first.status, &first.body), "{path}: the retry is answered as the first");
    assert_eq!(again.headers["idempotent-replayed"], "true", "{path}");
    assert_eq!(again.headers["content-type"], "application/json", "{path}");
    first
}

fn id(r: &Reply) -> String {
    r.body["id"].as_str().unwrap().to_owned()
}

on_both_databases! {
    async fn a_stored_request_digest_gives_no_id_number_away(db) {
        let app = spawn_app(db).await;
        let token = app.merchant(demo::MERCHANT_A.phone).await;
        let body = crate::applications::body("DEMO-REVIEW-01");
        let created = app.send("POST", "/api/v1/refund-applications", Some(&token), Some(body), &[("idempotency-key", "k-digest")]).await;
        assert_eq!(created.status, 201);
        let (stored,): (String,) = sqlx::query_as("SELECT request_hash FROM idempotency_keys WHERE key = 'k-digest'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        // Someone who reads the table guesses the ID number (10^4 birth-date and sequence
        // combinations would do) and hashes each guess as the request was hashed: a plain
        // digest would match the right guess. The stored one is keyed, so no guess matches.
        let guessed = format!(
            "POST /api/v1/refund-applications\n{{\"terminal_sn\":\"DEMO-REVIEW-01\",\"phone\":\"{}\",\"id_card_no\":\"{}\",\"bank_card_no\":\"{}\",\"reason\":\"stop_using\",\"note\":\"请尽快处理\",\"attachment_ids\":[],\"deduct_outstanding\":false}}",
            demo::MERCHANT_A.phone,
            demo::MERCHANT_A.id_card_no,
            demo::MERCHANT_A.bank_card_no
        );
        let plain = hex::encode(sha2::Sha256::digest(guessed.as_bytes()));
        assert_ne!(stored, plain, "the right guess must not match");
        assert!(!plain.starts_with(&stored) && stored.len() >= 32, "{stored}");
        // And the key still does its work: the same request again is the same answer.
        let again = app
            .send("POST", "/api/v1/refund-applications", Some(&token), Some(crate::applications::body("DEMO-REVIEW-01")), &[("idempotency-key", "k-digest")])
            .await;
        assert_eq!((again.status, again.body["id"].clone()), (201, created.body["id"].clone()));
    }

    async fn every_merchant_request_that_changes_something_replays(db) {
        let app = crate::harness::spawn_app(db).await;
        let a = app.merchant(demo::MERCHANT_A.phone).await;

        let ticket = twice(&app, &a, "/api/v1/tickets", Some(json!({"subject": "进度", "body": "何时到账？"})), "t-1").await;
        assert_eq!(count(&app, "SELECT count(*) FROM tickets").await, 1);
        let message = format!("/api/v1/tickets/{}/messages", id(&ticket));
        let r = twice(&app, &a, &message, Some(json!({"body": "补充"})), "m-1").await;
        assert_eq!(r.body["messages"].as_array().unwrap().len(), 2, "one message added, not two");
        assert_eq!(count(&app, "SELECT count(*) FROM ticket_messages").await, 2);

        // An upload resent with another form boundary is the same request.
        let key = [("idempotency-key", "u-1")];
        let first = upload_with(&app, &a, Some("purchase_voucher"), Some(PNG), "one", &key).await;
        let again = upload_with(&app, &a, Some("purchase_voucher"), Some(PNG), "another", &key).await;
        assert_eq!((first.status, again.status, &again.body), (201, 201, &first.body));
        assert_eq!(again.headers["idempotent-replayed"], "true");
        let other = upload_with(&app, &a, Some("other"), Some(PNG), "one", &key).await;
        assert_eq!((other.status, other.code()), (409, "idempotency_key_reused"));
        assert_eq!(count(&app, "SELECT count(*) FROM attachments").await, 1);

        let item = app.get("/api/v1/outstanding-items", &a).await.body["items"][0]["id"].as_str().unwrap().to_owned();
        let settled = twice(&app, &a, &format!("/api/v1/outstanding-items/{item}/settle"), None, "s-1").await;
        assert_eq!((settled.status, settled.body["status"].as_str()), (202, Some("settling")));
        // Without the key the same request is a new one, refused by the rules.
        let r = app.send("POST", &format!("/api/v1/outstanding-items/{item}/settle"), Some(&a), None, &[]).await;
        assert_eq!(r.code(), "already_settled");

        let application = twice(&app, &a, "/api/v1/refund-applications", Some(body("DEMO-REVIEW-01")), "a-1").await;
        let cancel = format!("/api/v1/refund-applications/{}/cancel", id(&application));
        assert_eq!(twice(&app, &a, &cancel, None, "c-1").await.body["status"], "cancelled");
        let timeline = app.get(&format!("/api/v1/refund-applications/{}", id(&application)), &a).await;
        assert_eq!(timeline.body["timeline"].as_array().unwrap().len(), 2, "submitted, cancelled: {:?}", timeline.body);
    }

    async fn every_staff_decision_replays_and_money_moves_once(db) {
        let app = crate::harness::spawn_app(db).await;
        let a = app.merchant(demo::MERCHANT_A.phone).await;
        let (reviewer, approver, support, admin) =
            (app.staff("reviewer").await, app.staff("approver").await, app.staff("support").await, app.staff("admin").await);
        let application = id(&app.post("/api/v1/refund-applications", &a, body("DEMO-REVIEW-01")).await);
        let step = |s: &str| format!("/api/v1/review/applications/{application}/{s}");
        twice(&app, &reviewer, &step("claim"), None, "claim-1").await;
        assert_eq!(twice(&app, &reviewer, &step("approve"), Some(json!({"comment": "ok"})), "ap-1").await.body["status"], "awaiting_second_approval");
        assert_eq!(twice(&app, &approver, &step("approve"), Some(json!({})), "ap-2").await.body["status"], "approved");
        let jobs = "SELECT count(*) FROM jobs WHERE kind = 'payout'";
        assert_eq!(count(&app, jobs).await, 1, "one payout, however often the approval is resent");

        let ticket = id(&app.post("/api/v1/tickets", &a, json!({"subject": "s", "body": "b"})).await);
        let answer = format!("/api/v1/support/tickets/{ticket}/messages");
        twice(&app, &support, &answer, Some(json!({"body": "已处理"})), "ans-1").await;
        twice(&app, &support, &format!("/api/v1/support/tickets/{ticket}/close"), None, "close-1").await;
        assert_eq!(count(&app, "SELECT count(*) FROM ticket_messages").await, 2);

        let drafts = "SELECT count(*) FROM announcements";
        let before = count(&app, drafts).await;
        let draft = twice(&app, &admin, "/api/v1/admin/announcements", Some(json!({"title": "t", "body": "b"})), "d-1").await;
        assert_eq!(count(&app, drafts).await, before + 1);
        let publish = format!("/api/v1/admin/announcements/{}/publish", id(&draft));
        assert_eq!(twice(&app, &admin, &publish, None, "p-1").await.body["status"], "published");

        let mut plan = app.get("/api/v1/policies", &admin).await.body["items"][0].clone();
        let versions = "SELECT count(*) FROM deposit_plans";
        let before = count(&app, versions).await;
        for field in ["version", "id", "created_at", "summary", "display_name"] {
            plan.as_object_mut().unwrap().remove(field);
        }
        let created = twice(&app, &admin, "/api/v1/policies", Some(plan), "plan-1").await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        assert_eq!(count(&app, versions).await, before + 1, "one new version, not two");
    }

    async fn keys_belong_to_their_caller_and_their_request(db) {
        let app = crate::harness::spawn_app(db).await;
        let a = app.merchant(demo::MERCHANT_A.phone).await;
        let b = app.merchant(demo::MERCHANT_B.phone).await;
        let ticket = json!({"subject": "s", "body": "b"});
        let mine = keyed(&app, &a, "/api/v1/tickets", Some(ticket.clone()), "same").await;
        let theirs = keyed(&app, &b, "/api/v1/tickets", Some(ticket.clone()), "same").await;
        assert_eq!((mine.status, theirs.status), (201, 201));
        assert_ne!(id(&mine), id(&theirs), "B's key is B's own: B gets B's ticket, never A's answer");
        assert_eq!(count(&app, "SELECT count(*) FROM tickets").await, 2);
        // The same key on another endpoint is another request.
        let elsewhere = keyed(&app, &a, &format!("/api/v1/tickets/{}/messages", id(&mine)), Some(json!({"body": "b"})), "same").await;
        assert_eq!((elsewhere.status, elsewhere.code()), (409, "idempotency_key_reused"));
        assert!(elsewhere.is_problem());
    }

    async fn a_refused_request_stores_nothing_so_the_corrected_retry_works(db) {
        let app = crate::harness::spawn_app(db).await;
        let a = app.merchant(demo::MERCHANT_A.phone).await;
        let bad = keyed(&app, &a, "/api/v1/tickets", Some(json!({"subject": "", "body": "b"})), "k").await;
        assert_eq!((bad.status, bad.code()), (422, "validation_failed"));
        let bad_json = app.raw_with("POST", "/api/v1/tickets", Some(&a), "application/json", b"{".to_vec(), &[("idempotency-key", "k")]).await;
        assert_eq!(bad_json.code(), "malformed_json");
        let good = keyed(&app, &a, "/api/v1/tickets", Some(json!({"subject": "s", "body": "b"})), "k").await;
        assert_eq!(good.status, 201, "{:?}", good.body);
        // A rule refusal inside the use case rolls the claim back too.
        let closed = id(&good);
        let support = app.staff("support").await;
        app.post(&format!("/api/v1/support/tickets/{closed}/close"), &support, json!({})).await;
        let path = format!("/api/v1/tickets/{closed}/messages");
        let refused = keyed(&app, &a, &path, Some(json!({"body": "x"})), "k2").await;
        assert_eq!((refused.status, refused.code()), (409, "invalid_state"));
        assert_eq!(count(&app, "SELECT count(*) FROM idempotency_keys WHERE key = 'k2'").await, 0);
        for key in ["", "has space", &"x".repeat(256)] {
            let r = keyed(&app, &a, "/api/v1/tickets", Some(json!({"subject": "s", "body": "b"})), key).await;
            assert_eq!((r.status, r.code()), (400, "invalid_idempotency_key"), "{key:?}");
        }
        assert_eq!(count(&app, "SELECT count(*) FROM tickets").await, 1);
    }
}
