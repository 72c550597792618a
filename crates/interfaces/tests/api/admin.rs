use serde_json::json;
use yajin_app::demo;
use yajin_testdb::on_both_databases;

use crate::applications::body;
use crate::harness::spawn_app;

const A: &str = demo::MERCHANT_A.phone;

on_both_databases! {
    async fn plans_are_versioned_and_never_move_existing_goalposts(db) {
        let app = spawn_app(db).await;
        let admin = app.staff("admin").await;
        let list = app.get("/api/v1/policies", &admin).await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
        let stricter = json!({"code": "ACT-99", "name": "激活返押金 99 元（新）", "deposit_fen": 9900,
            "rule": {"kind": "activation", "volume_target_fen": 5_000_000, "counted_kinds": ["credit_card"], "window_days": 60},
            "fee": {"kind": "percent", "basis_points": 100, "cap_fen": 500}, "auto_approve": true, "four_eyes_threshold_fen": 20000});
        let created = app.post("/api/v1/policies", &admin, stricter.clone()).await;
        assert_eq!((created.status, created.body["version"].as_i64()), (201, Some(2)));
        let m = app.merchant(A).await;
        let auto = app.get("/api/v1/terminals/DEMO-AUTO-01", &m).await;
        assert_eq!((auto.body["plan"]["version"].as_i64(), auto.body["eligibility"]["eligible"].as_bool()), (Some(1), Some(true)));
        let mut bad = stricter.clone();
        bad["deposit_fen"] = json!(-1);
        bad["rule"]["window_days"] = json!(0);
        let r = app.post("/api/v1/policies", &admin, bad).await;
        let fields: Vec<&str> = r.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!((r.status, fields), (422, vec!["deposit_fen", "rule.window_days"]));
        let r = app.post("/api/v1/policies", &admin, json!({"code": "X"})).await;
        assert_eq!(r.code(), "invalid_body");
        assert_eq!(app.post("/api/v1/policies", &app.staff("reviewer").await, stricter).await.status, 403);
    }

    async fn the_audit_log_records_staff_actions_and_detects_edits(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let reviewer = app.staff("reviewer").await;
        let admin = app.staff("admin").await;
        let id = app.post("/api/v1/refund-applications", &m, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        app.post(&format!("/api/v1/review/applications/{id}/claim"), &reviewer, json!({})).await;
        let log = app.get("/api/v1/audit?entity=refund_application", &admin).await;
        let actions: Vec<&str> = log.body["items"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
        assert!(actions.contains(&"application_in_review"), "{actions:?}");
        let ok = app.get("/api/v1/audit/verify", &admin).await;
        assert_eq!((ok.body["ok"].as_bool(), ok.body["first_broken_id"].clone()), (Some(true), serde_json::Value::Null));
        let checked = ok.body["checked"].as_i64().unwrap();
        assert!(checked > 10);
        // Someone with database access removes the guard and edits a row.
        let drop = match app.db.backend() {
            yajin_store::Backend::Sqlite => "DROP TRIGGER audit_log_no_update",
            yajin_store::Backend::Postgres => "DROP TRIGGER audit_log_append_only ON audit_log",
        };
        sqlx::query(drop).execute(app.db.pool()).await.unwrap();
        sqlx::query("UPDATE audit_log SET actor_id = 'someone-else' WHERE seq = 5").execute(app.db.pool()).await.unwrap();
        let broken = app.get("/api/v1/audit/verify", &admin).await;
        assert_eq!((broken.body["ok"].as_bool(), broken.body["first_broken_id"].as_i64()), (Some(false), Some(5)));
        assert_eq!(app.get("/api/v1/audit/verify", &reviewer).await.status, 403);
    }

    async fn a_chain_recomputed_without_the_key_does_not_verify(db) {
        let app = spawn_app(db).await;
        let admin = app.staff("admin").await;
        let m = app.merchant(A).await;
        app.post("/api/v1/refund-applications", &m, body("DEMO-REVIEW-01")).await;
        assert_eq!(app.get("/api/v1/audit/verify", &admin).await.body["ok"], true);
        // Someone with the database role drops the guard, changes a row's actor, recomputes
        // the hashes from there on by the published rule and resets the head.
        let drop = match app.db.backend() {
            yajin_store::Backend::Sqlite => "DROP TRIGGER audit_log_no_update",
            yajin_store::Backend::Postgres => "DROP TRIGGER audit_log_append_only ON audit_log",
        };
        sqlx::query(drop).execute(app.db.pool()).await.unwrap();
        let rewrite_from = |first: i64| {
            let app = &app;
            async move {
                let mut conn = app.db.pool().acquire().await.unwrap();
                let rows = yajin_store::audit::list(&mut conn, None, 0, 10_000).await.unwrap();
                let mut prev = "genesis".to_owned();
                for row in rows {
                    if row.seq >= first {
                        let mut entry = row.entry.clone();
                        if row.seq == first {
                            entry.actor_id = "someone-else".into();
                        }
                        let hash = yajin_store::audit::row_hash(&prev, row.seq, row.at, &entry);
                        sqlx::query("UPDATE audit_log SET actor_id = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
                            .bind(&entry.actor_id).bind(&prev).bind(&hash).bind(row.seq)
                            .execute(&mut *conn).await.unwrap();
                        sqlx::query("UPDATE audit_head SET last_hash = $1 WHERE id = 1").bind(&hash).execute(&mut *conn).await.unwrap();
                        prev = hash;
                    } else {
                        prev = row.hash;
                    }
                }
            }
        };
        rewrite_from(5).await;
        let broken = app.get("/api/v1/audit/verify", &admin).await;
        assert_eq!((broken.body["ok"].as_bool(), broken.body["first_broken_id"].as_i64()), (Some(false), Some(5)), "{:?}", broken.body);
        // Rewriting the whole chain by the plain rule does not pass either: its end is unkeyed.
        rewrite_from(1).await;
        let whole = app.get("/api/v1/audit/verify", &admin).await;
        assert_eq!(whole.body["ok"], false, "{:?}", whole.body);
    }

    async fn an_outside_system_checks_the_signed_head(db) {
        use ed25519_dalek::{Signature, Verifier, VerifyingKey};
        let app = spawn_app(db).await;
        let admin = app.staff("admin").await;
        // The outside system holds the public key and records a signed head.
        let key = app.send("GET", "/api/v1/audit/public-key", None, None, &[]).await;
        assert_eq!(key.body["algorithm"], "ed25519");
        let public: [u8; 32] = hex::decode(key.body["public_key"].as_str().unwrap()).unwrap().try_into().unwrap();
        let verifying = VerifyingKey::from_bytes(&public).unwrap();
        let head = app.get("/api/v1/audit/head", &admin).await;
        let (seq, hash) = (head.body["seq"].as_i64().unwrap(), head.body["hash"].as_str().unwrap().to_owned());
        assert_eq!(head.body["signed_message"], format!("yajin-audit-head\n{seq}\n{hash}"));
        let signature: [u8; 64] = hex::decode(head.body["signature"].as_str().unwrap()).unwrap().try_into().unwrap();
        let message = head.body["signed_message"].as_str().unwrap().to_owned();
        assert!(verifying.verify(message.as_bytes(), &Signature::from_bytes(&signature)).is_ok());
        // A forged head (another hash) does not carry the signature.
        let forged = format!("yajin-audit-head\n{seq}\n{}", "0".repeat(64));
        assert!(verifying.verify(forged.as_bytes(), &Signature::from_bytes(&signature)).is_err());
        // Later, the row at `seq` still has the recorded hash; after a rewrite it would not.
        let id = app.post("/api/v1/refund-applications", &app.merchant(A).await, body("DEMO-REVIEW-01")).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.post(&format!("/api/v1/review/applications/{id}/claim"), &app.staff("reviewer").await, json!({})).await;
        let mut conn = app.db.pool().acquire().await.unwrap();
        let rows = yajin_store::audit::list(&mut conn, None, seq - 1, 1).await.unwrap();
        assert_eq!(rows[0].hash, hash, "the recorded head still matches the chain");
        assert!(app.get("/api/v1/audit/head", &admin).await.body["seq"].as_i64().unwrap() > seq);
        assert_eq!(app.get("/api/v1/audit/head", &app.staff("finance").await).await.status, 403);
    }

    async fn the_books_are_checked_against_their_transfers(db) {
        let app = spawn_app(db).await;
        let admin = app.staff("admin").await;
        let ok = app.get("/api/v1/ledger/verify", &admin).await;
        assert_eq!((ok.status, ok.body["ok"].as_bool()), (200, Some(true)), "{:?}", ok.body);
        assert!(ok.body["accounts_checked"].as_i64().unwrap() > 5);
        // Someone with database access changes an account's counter: the check names it.
        let account: (String, i64) =
            sqlx::query_as("SELECT id, credits_posted FROM ledger_accounts WHERE kind = 'deposit_held' ORDER BY id LIMIT 1")
                .fetch_one(app.db.pool())
                .await
                .unwrap();
        sqlx::query("UPDATE ledger_accounts SET credits_posted = credits_posted + 100 WHERE id = $1")
            .bind(&account.0)
            .execute(app.db.pool())
            .await
            .unwrap();
        let broken = app.get("/api/v1/ledger/verify", &admin).await;
        assert_eq!(broken.body["ok"], false);
        let mismatch = &broken.body["mismatches"][0];
        assert_eq!(mismatch["account_id"], account.0.as_str());
        assert_eq!(mismatch["stored"]["credits_posted"].as_i64(), Some(account.1 + 100));
        assert_eq!(mismatch["derived"]["credits_posted"].as_i64(), Some(account.1));
        assert_eq!(app.get("/api/v1/ledger/verify", &app.staff("finance").await).await.status, 403);
    }

    async fn support_answers_tickets_and_the_merchant_hears(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let support = app.staff("support").await;
        let application = app.post("/api/v1/refund-applications", &m, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        let tk = app.post("/api/v1/tickets", &m, json!({"subject": "进度", "body": "何时到账？", "application_id": application})).await.body["id"].as_str().unwrap().to_owned();
        let inbox = app.get("/api/v1/support/tickets?status=open", &support).await;
        assert_eq!((inbox.body["items"][0]["id"].as_str(), inbox.body["items"][0]["overdue"].as_bool()), (Some(tk.as_str()), Some(false)));
        let seen = app.get(&format!("/api/v1/support/tickets/{tk}"), &support).await;
        assert_eq!(seen.body["application"]["timeline"][0]["status"], "submitted", "the linked application's timeline");
        let answered = app.post(&format!("/api/v1/support/tickets/{tk}/messages"), &support, json!({"body": "已在审核中，预计 3 个工作日内完成。"})).await;
        assert_eq!((answered.status, answered.body["status"].as_str()), (201, Some("answered")));
        assert!(answered.body["owner"].is_string() && answered.body["first_response_at"].is_string());
        let mine = app.get(&format!("/api/v1/tickets/{tk}"), &m).await;
        assert_eq!(mine.body["messages"][1]["author"], "support");
        assert_eq!(app.get("/api/v1/notifications", &m).await.body["items"][0]["kind"], "ticket_answered");
        assert_eq!(app.post(&format!("/api/v1/support/tickets/{tk}/close"), &support, json!({})).await.body["status"], "closed");
        let late = app.post(&format!("/api/v1/support/tickets/{tk}/messages"), &support, json!({"body": "x"})).await;
        assert_eq!((late.status, late.code()), (409, "invalid_state"));
        let merchant_late = app.post(&format!("/api/v1/tickets/{tk}/messages"), &m, json!({"body": "x"})).await;
        assert_eq!(merchant_late.status, 409);
        let tk2 = app.post("/api/v1/tickets", &m, json!({"subject": "另一个", "body": "?"})).await.body["id"].as_str().unwrap().to_owned();
        app.clock.advance_ms(7 * 3_600_000);
        assert_eq!(app.get(&format!("/api/v1/support/tickets/{tk2}"), &support).await.body["overdue"], false);
        app.clock.advance_ms(18 * 3_600_000);
        let support = app.staff("support").await;
        let overdue = app.get(&format!("/api/v1/support/tickets/{tk2}"), &support).await;
        assert_eq!(overdue.body["overdue"], true, "no first answer within a day");
        assert_eq!(app.get("/api/v1/support/tickets", &app.staff("reviewer").await).await.status, 403);
        assert_eq!(app.get("/api/v1/support/tickets?status=lost", &support).await.code(), "invalid_query");
    }

    async fn announcements_go_from_draft_to_published_to_withdrawn(db) {
        let app = spawn_app(db).await;
        let admin = app.staff("admin").await;
        let public = || app.send("GET", "/api/v1/announcements", None, None, &[]);
        let before = public().await.body["items"].as_array().unwrap().len();
        let id = app.post("/api/v1/admin/announcements", &admin, json!({"title": "政策调整", "body": "自下月起……"})).await.body["id"].as_str().unwrap().to_owned();
        assert_eq!(public().await.body["items"].as_array().unwrap().len(), before, "drafts are not shown");
        assert_eq!(app.post(&format!("/api/v1/admin/announcements/{id}/publish"), &admin, json!({})).await.body["status"], "published");
        assert_eq!(public().await.body["items"][0]["title"], "政策调整");
        assert_eq!(app.post(&format!("/api/v1/admin/announcements/{id}/publish"), &admin, json!({})).await.status, 409);
        assert_eq!(app.post(&format!("/api/v1/admin/announcements/{id}/withdraw"), &admin, json!({})).await.body["status"], "withdrawn");
        assert_eq!(public().await.body["items"].as_array().unwrap().len(), before);
        let r = app.post("/api/v1/admin/announcements", &admin, json!({"title": "", "body": ""})).await;
        assert_eq!(r.body["errors"].as_array().unwrap().len(), 2);
        assert_eq!(app.post("/api/v1/admin/announcements", &app.staff("support").await, json!({"title": "t", "body": "b"})).await.status, 403);
    }

    async fn the_summary_report_counts_and_times_refunds(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        app.post("/api/v1/refund-applications", &m, body("DEMO-REVIEW-01")).await;
        let finance = app.staff("finance").await;
        let r = app.get("/api/v1/reports/summary?days=90", &finance).await;
        assert_eq!(r.status, 200);
        assert_eq!((r.body["applications_by_status"]["refunded"].as_i64(), r.body["applications_by_status"]["submitted"].as_i64()), (Some(1), Some(1)));
        assert_eq!(r.body["refunded_per_day"][0]["amount_fen"], 9900);
        assert!(r.body["submit_to_refund_median_s"].is_i64());
        assert_eq!(app.get("/api/v1/reports/summary?days=0", &finance).await.code(), "invalid_query");
        assert_eq!(app.get("/api/v1/reports/summary", &app.staff("support").await).await.status, 403);
    }
}
