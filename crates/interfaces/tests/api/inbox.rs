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
