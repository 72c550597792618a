//! The merchant's whole journey of product.md, over HTTP.

use serde_json::json;
use yajin_app::demo;
use yajin_testdb::on_both_databases;

use crate::applications::body;
use crate::harness::{code_in, spawn_paying_app};

const A: &str = demo::MERCHANT_A.phone;
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89";

on_both_databases! {
    async fn the_merchants_journey(db) {
        let app = spawn_paying_app(db, yajin_sandbox_bank::Faults::default()).await;
        // 1. Log in with the bound phone ... and forget the password: SMS code, new password.
        assert_eq!(app.login(A, demo::MERCHANT_PASSWORD).await.status, 200);
        let sent = app.send("POST", "/api/v1/auth/sms-codes", None, Some(json!({"phone": A, "purpose": "reset_password"})), &[]).await;
        assert_eq!(sent.status, 202);
        let code = code_in(&app.last_code_sms(A).await.unwrap());
        let reset = app.send("POST", "/api/v1/auth/password-reset", None, Some(json!({"phone": A, "code": code, "new_password": "Journey@2026"})), &[]).await;
        assert_eq!(reset.status, 204);
        let token = app.login(A, "Journey@2026").await.body["token"].as_str().unwrap().to_owned();

        // 2. My Devices: DEMO-OWES-01 is blocked by a service fee, with the figure.
        let devices = app.get("/api/v1/terminals", &token).await;
        let owes = devices.body["items"].as_array().unwrap().iter().find(|t| t["sn"] == "DEMO-OWES-01").unwrap().clone();
        assert_eq!(owes["eligibility"]["reasons"][0]["code"], "outstanding_balance");
        assert_eq!(owes["eligibility"]["reasons"][0]["outstanding_fen"], 6000);

        // 3. Settle it; the terminal becomes eligible.
        let items = app.get("/api/v1/outstanding-items", &token).await;
        let item = items.body["items"][0]["id"].as_str().unwrap().to_owned();
        let settling = app.send("POST", &format!("/api/v1/outstanding-items/{item}/settle"), Some(&token), None, &[]).await;
        assert_eq!((settling.status, settling.body["status"].as_str()), (202, Some("settling")));
        app.eventually("/api/v1/outstanding-items", &token, |b| b["items"][0]["status"] == "settled").await;

        // 4. Preview: the full deposit, no fee, nothing deducted.
        let preview = app.post("/api/v1/refund-applications/preview", &token, body("DEMO-OWES-01")).await;
        assert_eq!((preview.body["eligible"].as_bool(), preview.body["net_refund_fen"].as_i64()), (Some(true), Some(9900)));

        // 5. Upload the purchase voucher and submit with it.
        let voucher = crate::attachments::upload(&app, &token, Some("purchase_voucher"), Some(PNG)).await;
        assert_eq!(voucher.status, 201);
        let mut submission = body("DEMO-OWES-01");
        submission["attachment_ids"] = json!([voucher.body["id"]]);
        let created = app.post("/api/v1/refund-applications", &token, submission).await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let id = created.body["id"].as_str().unwrap();

        // 6. Target reached and nothing owed any more: the system approves it at once, the
        // worker pays it, the bank confirms; the timeline and the notifications say so.
        assert_eq!(created.body["status"], "approved");
        let path = format!("/api/v1/refund-applications/{id}");
        let detail = app.eventually(&path, &token, |b| b["status"] == "refunded").await;
        let steps: Vec<&str> = detail.body["timeline"].as_array().unwrap().iter().filter_map(|e| e["status"].as_str()).collect();
        assert_eq!(steps, ["submitted", "approved", "paying", "refunded"]);
        assert_eq!(detail.body["timeline"][1]["actor"], "system");
        assert_eq!(detail.body["attachments"][0]["kind"], "purchase_voucher");
        let paid: Vec<_> = app.bank_payments().await.into_iter().filter(|(_, reference, _)| reference == id).collect();
        assert_eq!(paid.len(), 1, "paid exactly once");
        assert_eq!(paid[0].2, 9900);
        let notes = app.get("/api/v1/notifications", &token).await;
        let kinds: Vec<&str> = notes.body["items"].as_array().unwrap().iter().filter_map(|n| n["kind"].as_str()).collect();
        assert_eq!(&kinds[..3], ["application_refunded", "application_auto_approved", "application_submitted"], "newest first");

        // 7. Another application, cancelled by the merchant.
        let other = app.post("/api/v1/refund-applications", &token, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        let cancelled = app.post(&format!("/api/v1/refund-applications/{other}/cancel"), &token, json!({})).await;
        assert_eq!(cancelled.body["status"], "cancelled");
        assert_eq!(cancelled.body["timeline"].as_array().unwrap().len(), 2);
    }
}
