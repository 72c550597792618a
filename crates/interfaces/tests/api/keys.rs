//! Rotating the PII (master) key: what the old key sealed still opens, blind indexes keep
//! matching, the audit chain and its signed head carry on, and once `rotate` has re-sealed
//! everything the old key can go.

use serde_json::json;
use yajin_app::demo;
use yajin_testdb::on_both_databases;

use crate::applications::body;
use crate::attachments::{upload, PNG};
use crate::harness::{spawn_app_with_keys, TestApp};

const K1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const K2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const K3: &str = "3131313131313131313131313131313131313131313131313131313131313131";

async fn staff_download(app: &TestApp, id: &str) -> Vec<u8> {
    let reviewer = app.staff("reviewer").await;
    let r = app
        .client
        .get(format!("{}/api/v1/review/attachments/{id}", app.base))
        .bearer_auth(&reviewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

on_both_databases! {
    async fn rotating_the_pii_key_keeps_every_identity_check_document_and_signature(db) {
        let before = spawn_app_with_keys(db.clone(), K1, &[]).await;
        let m = before.merchant(demo::MERCHANT_A.phone).await;
        let file = upload(&before, &m, Some("id_photo"), Some(PNG)).await.body["id"].as_str().unwrap().to_owned();
        let mut apply = body("DEMO-REVIEW-01");
        apply["attachment_ids"] = json!([file]);
        assert_eq!(before.post("/api/v1/refund-applications", &m, apply).await.status, 201);
        let admin = before.staff("admin").await;
        let public_key = before.get("/api/v1/audit/public-key", &admin).await.body["public_key"].clone();
        assert!(public_key.is_string());

        // The new key in force, the old one listed: everything still works before re-sealing.
        let during = spawn_app_with_keys(db.clone(), K2, &[K1]).await;
        let m = during.merchant(demo::MERCHANT_A.phone).await;
        let preview = during.post("/api/v1/refund-applications/preview", &m, body("DEMO-AUTO-01")).await;
        assert_eq!(preview.status, 200, "the stored blind indexes still match: {:?}", preview.body);
        assert_eq!(staff_download(&during, &file).await, PNG);
        let stale = yajin_app::keys::stale(&during.db, &during.app.vault).await.unwrap();
        assert!(stale >= 5, "merchants' numbers, the application's card, the file and the secrets: {stale}");
        let mut seen = Vec::new();
        let rotation = yajin_app::keys::rotate(&during.db, &during.app.vault, |n| seen.push(n)).await.unwrap();
        assert_eq!(rotation.resealed, stale);
        assert_eq!(seen.last(), Some(&stale), "progress is reported");
        assert_eq!(yajin_app::keys::stale(&during.db, &during.app.vault).await.unwrap(), 0);
        assert_eq!(yajin_app::keys::rotate(&during.db, &during.app.vault, |_| {}).await.unwrap().resealed, 0, "a second run has nothing to do");

        // The old key gone: identities match, files open, the chain verifies, the head's key is the same.
        let after = spawn_app_with_keys(db.clone(), K2, &[]).await;
        let m = after.merchant(demo::MERCHANT_A.phone).await;
        assert_eq!(after.post("/api/v1/refund-applications", &m, body("DEMO-AUTO-01")).await.status, 201);
        let mut wrong = body("DEMO-AUTO-01");
        wrong["bank_card_no"] = json!("6222021234567890003");
        assert_eq!(after.post("/api/v1/refund-applications/preview", &m, wrong).await.code(), "bank_card_mismatch", "still a real check");
        assert_eq!(staff_download(&after, &file).await, PNG);
        let admin = after.staff("admin").await;
        assert_eq!(after.get("/api/v1/audit/verify", &admin).await.body["ok"], true);
        assert_eq!(after.get("/api/v1/audit/public-key", &admin).await.body["public_key"], public_key);

        // A key that never sealed anything here opens nothing: refused at start, saying what to do.
        let Err(e) = yajin_app::keys::unlock(&db, yajin_store::pii::Vault::new(&yajin_store::pii::MasterKey::from_hex(K3).unwrap(), &[]), 0).await else {
            panic!("an unknown key unlocked the vault")
        };
        assert!(e.to_string().contains("pii_previous_keys"), "{e}");
    }
}
