use serde_json::json;
use yajin_app::demo;
use yajin_testdb::on_both_databases;

use crate::applications::body;
use crate::harness::spawn_app;

on_both_databases! {
    async fn tickets_tie_to_applications_and_stay_private(db) {
        let app = spawn_app(db).await;
        let a = app.merchant(demo::MERCHANT_A.phone).await;
        let b = app.merchant(demo::MERCHANT_B.phone).await;
        let application = app.post("/api/v1/refund-applications", &a, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        let t = app.post("/api/v1/tickets", &a, json!({"subject": "退款进度", "body": "请问何时到账？", "application_id": application})).await;
        assert_eq!(t.status, 201, "{:?}", t.body);
        assert!(t.body["id"].as_str().unwrap().starts_with("tk_"));
        assert_eq!((t.body["status"].as_str(), t.body["messages"][0]["author"].as_str()), (Some("open"), Some("merchant")));
        assert!(t.body["first_response_due_at"].as_str().unwrap() > t.body["created_at"].as_str().unwrap(), "an answer is promised");
        let id = t.body["id"].as_str().unwrap();
        let more = app.post(&format!("/api/v1/tickets/{id}/messages"), &a, json!({"body": "补充：卡号尾号 0128"})).await;
        assert_eq!((more.status, more.body["messages"].as_array().unwrap().len()), (201, 2));
        assert_eq!(app.get("/api/v1/tickets", &a).await.body["items"][0]["id"], id);
        assert_eq!(app.get(&format!("/api/v1/tickets/{id}"), &b).await.status, 404);
        assert_eq!(app.post(&format!("/api/v1/tickets/{id}/messages"), &b, json!({"body": "x"})).await.status, 404);
        let r = app.post("/api/v1/tickets", &b, json!({"subject": "", "body": "", "application_id": application})).await;
        let fields: Vec<&str> = r.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!((r.code(), fields), ("validation_failed", vec!["subject", "body", "application_id"]), "B cannot tie a ticket to A's application");
    }

    async fn announcements_warn_about_scams(db) {
        let app = spawn_app(db).await;
        let r = app.send("GET", "/api/v1/announcements", None, None, &[]).await;
        assert_eq!(r.status, 200);
        assert!(r.body["items"][0]["body"].as_str().unwrap().contains("不会索要短信验证码"));
    }
}

on_both_databases! {
    async fn another_merchants_objects_are_not_found_anywhere(db) {
        let app = spawn_app(db).await;
        let a = app.merchant(demo::MERCHANT_A.phone).await;
        let b = app.merchant(demo::MERCHANT_B.phone).await;
        let application = app.post("/api/v1/refund-applications", &a, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        let ticket = app.post("/api/v1/tickets", &a, json!({"subject": "s", "body": "b"})).await.body["id"].as_str().unwrap().to_owned();
        let file = crate::attachments::upload(&app, &a, Some("other"), Some(b"%PDF-1.4\n")).await.body["id"].as_str().unwrap().to_owned();
        let item = app.get("/api/v1/outstanding-items", &a).await.body["items"][0]["id"].as_str().unwrap().to_owned();
        let probes: Vec<(&str, String, Option<serde_json::Value>)> = vec![
            ("GET", format!("/api/v1/refund-applications/{application}"), None),
            ("POST", format!("/api/v1/refund-applications/{application}/cancel"), Some(json!({}))),
            ("POST", format!("/api/v1/refund-applications/{application}/supplement"), Some(json!({"note": "x"}))),
            ("GET", format!("/api/v1/refund-applications/{application}/receipt"), None),
            ("GET", format!("/api/v1/tickets/{ticket}"), None),
            ("POST", format!("/api/v1/tickets/{ticket}/messages"), Some(json!({"body": "x"}))),
            ("GET", format!("/api/v1/attachments/{file}"), None),
            ("POST", format!("/api/v1/outstanding-items/{item}/settle"), None),
            ("GET", "/api/v1/terminals/DEMO-REVIEW-01".to_owned(), None),
            ("GET", "/api/v1/terminals/DEMO-REVIEW-01/transactions".to_owned(), None),
        ];
        for (method, path, payload) in probes {
            let r = app.send(method, &path, Some(&b), payload, &[]).await;
            assert_eq!(r.status, 404, "{method} {path}: {:?}", r.body);
        }
        // B attaching A's file to B's own application is refused too.
        let mut b_body = body("DEMO-B-01");
        b_body["phone"] = json!(demo::MERCHANT_B.phone);
        b_body["id_card_no"] = json!(demo::MERCHANT_B.id_card_no);
        b_body["bank_card_no"] = json!(demo::MERCHANT_B.bank_card_no);
        b_body["attachment_ids"] = json!([file]);
        let r = app.post("/api/v1/refund-applications", &b, b_body).await;
        assert_eq!((r.code(), r.body["errors"][0]["field"].as_str()), ("validation_failed", Some("attachment_ids[0]")));
        // Nothing of A's changed.
        assert_eq!(app.get(&format!("/api/v1/refund-applications/{application}"), &a).await.body["status"], "submitted");
        assert_eq!(app.get("/api/v1/outstanding-items", &a).await.body["items"][0]["status"], "open");
    }

    async fn the_sms_inbox_exists_only_in_the_sandbox(db) {
        let app = crate::harness::spawn_app_with(db, false).await;
        let r = app.send("GET", "/api/v1/sandbox/sms?phone=13800000001", None, None, &[]).await;
        assert_eq!((r.status, r.code()), (404, "not_found"));
    }
}
