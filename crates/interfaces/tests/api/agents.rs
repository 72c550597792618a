//! The agent who sold a merchant its terminals sees each step of that merchant's cases —
//! read-only, masked — and nothing of anybody else's.

use serde_json::json;
use yajin_app::{demo, provisioning, Actor};
use yajin_core::application::Role;
use yajin_testdb::on_both_databases;

use crate::applications::body;
use crate::harness::spawn_app;

const A: &str = demo::MERCHANT_A.phone;
const B: &str = demo::MERCHANT_B.phone;

on_both_databases! {
    async fn an_agent_follows_its_merchants_cases_and_only_theirs(db) {
        let app = spawn_app(db).await;
        let agent = app.staff(demo::AGENT).await;

        let merchants = app.get("/api/v1/agent/merchants", &agent).await;
        assert_eq!(merchants.status, 200);
        assert_eq!(merchants.body["items"], json!([{"merchant_no": demo::MERCHANT_A.merchant_no, "name": demo::MERCHANT_A.name,
            "phone": "138****0001", "bank_card": "6222 **** **** 0128", "bank_name": demo::MERCHANT_A.bank_name}]));
        let terminals = app.get("/api/v1/agent/terminals?limit=200", &agent).await.body;
        let sns: Vec<&str> = terminals["items"].as_array().unwrap().iter().map(|t| t["sn"].as_str().unwrap()).collect();
        assert!(sns.contains(&"DEMO-AUTO-01") && !sns.contains(&"DEMO-B-01"), "{sns:?}");
        let refunded = terminals["items"].as_array().unwrap().iter().find(|t| t["sn"] == "DEMO-REFUNDED-01").unwrap().clone();
        assert_eq!(refunded["deposit"]["status"], "refunded");

        // Merchant A applies and is refused; the agent sees each step, in the reader's language.
        let m = app.merchant(A).await;
        let id = app.post("/api/v1/refund-applications", &m, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        let reviewer = app.staff("reviewer").await;
        app.post(&format!("/api/v1/review/applications/{id}/claim"), &reviewer, json!({})).await;
        app.post(&format!("/api/v1/review/applications/{id}/reject"), &reviewer, json!({"reason_code": "materials_invalid", "comment": "照片模糊"})).await;
        let seen = app.get(&format!("/api/v1/agent/refund-applications/{id}"), &agent).await;
        assert_eq!((seen.status, seen.body["status"].as_str(), seen.body["merchant_no"].as_str()),
            (200, Some("rejected"), Some(demo::MERCHANT_A.merchant_no)));
        assert_eq!(seen.body["rejection"]["reason_code"], "materials_invalid");
        assert_eq!(seen.body["timeline"].as_array().unwrap().len(), 3);
        let open = app.get("/api/v1/terminals/DEMO-REVIEW-01", &m).await;
        assert_eq!(open.status, 200);
        let listed = app.get("/api/v1/agent/refund-applications", &agent).await.body;
        assert!(listed["items"].as_array().unwrap().iter().any(|a| a["id"] == id.as_str()));
        // No full ID or card number ever reaches an agent.
        for path in ["/api/v1/agent/merchants", "/api/v1/agent/terminals?limit=200", "/api/v1/agent/refund-applications", &format!("/api/v1/agent/refund-applications/{id}")] {
            let raw = app.get(path, &agent).await.body.to_string();
            for secret in [demo::MERCHANT_A.id_card_no, demo::MERCHANT_A.bank_card_no, A] {
                assert!(!raw.contains(secret), "{path} shows {secret}");
            }
        }

        // The merchant reads who sold the terminal, and that the company owns the refund.
        let mine = app.get(&format!("/api/v1/refund-applications/{id}"), &m).await.body;
        assert_eq!(mine["agent"], "代理商 周强");
        let b = app.merchant(B).await;
        let theirs = app.post("/api/v1/refund-applications", &b, json!({"terminal_sn": "DEMO-B-01", "phone": B,
            "id_card_no": demo::MERCHANT_B.id_card_no, "bank_card_no": demo::MERCHANT_B.bank_card_no, "reason": "stop_using",
            "attachment_ids": []})).await;
        assert_eq!((theirs.status, theirs.body["agent"].clone()), (201, serde_json::Value::Null), "B came without an agent");
        let b_id = theirs.body["id"].as_str().unwrap().to_owned();

        // Another agent sees none of it; B's case is not A's agent's either.
        provisioning::create_staff(&app.app, &Actor::system(), "agent2", "吴敏", Role::Agent, demo::STAFF_PASSWORD.into()).await.unwrap();
        let other = app.staff("agent2").await;
        assert_eq!(app.get("/api/v1/agent/merchants", &other).await.body["items"], json!([]));
        assert_eq!(app.get("/api/v1/agent/refund-applications", &other).await.body["items"], json!([]));
        assert_eq!(app.get(&format!("/api/v1/agent/refund-applications/{id}"), &other).await.status, 404);
        assert_eq!(app.get(&format!("/api/v1/agent/refund-applications/{b_id}"), &agent).await.status, 404);
        // Agents read; nobody else reads this way, and an agent decides nothing.
        for path in ["/api/v1/agent/merchants", "/api/v1/agent/terminals", "/api/v1/agent/refund-applications"] {
            assert_eq!(app.get(path, &reviewer).await.status, 403, "{path}");
            assert_eq!(app.get(path, &m).await.status, 403, "{path}");
        }
        assert_eq!(app.post(&format!("/api/v1/review/applications/{b_id}/claim"), &agent, json!({})).await.status, 403);
        assert_eq!(app.get("/api/v1/review/applications", &agent).await.status, 403);
        assert_eq!(app.get(&format!("/api/v1/agent/refund-applications/{id}"), "nope").await.status, 401);
    }

    async fn provisioning_names_the_agent_who_onboarded_a_merchant(db) {
        let app = spawn_app(db).await;
        let admin = app.staff("admin").await;
        let merchant = |no: &str, agent: &str| json!({"merchant_no": no, "name": "新开小店", "phone": format!("1390000{}", &no[11..]),
            "password": "Shop@12345", "id_card_no": "11010519491231002X", "bank_card_no": "6222021234567890128",
            "bank_name": "工商银行", "agent_username": agent});
        let created = app.post("/api/v1/admin/merchants", &admin, merchant("822100058129001", "agent")).await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let again = app.post("/api/v1/admin/merchants", &admin, merchant("822100058129001", "agent")).await;
        assert_eq!(again.status, 200, "the same body again is the same merchant");
        provisioning::create_staff(&app.app, &Actor::system(), "agent2", "吴敏", Role::Agent, demo::STAFF_PASSWORD.into()).await.unwrap();
        let moved = app.post("/api/v1/admin/merchants", &admin, merchant("822100058129001", "agent2")).await;
        assert_eq!((moved.status, moved.code()), (409, "already_exists"), "another agent is another body");
        let not_agent = app.post("/api/v1/admin/merchants", &admin, merchant("822100058129002", "reviewer")).await;
        assert_eq!((not_agent.status, not_agent.body["errors"][0]["field"].as_str()), (422, Some("agent_username")));
        let agent = app.staff(demo::AGENT).await;
        let nos: Vec<String> = app.get("/api/v1/agent/merchants", &agent).await.body["items"].as_array().unwrap().iter()
            .map(|m| m["merchant_no"].as_str().unwrap().to_owned()).collect();
        assert_eq!(nos, [demo::MERCHANT_A.merchant_no, "822100058129001"]);
    }
}
