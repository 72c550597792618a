//! The published plans and the fee calculator, without a login: what a terminal costs before a
//! merchant commits to anything.

use serde_json::{json, Value};
use yajin_testdb::on_both_databases;

use crate::harness::{spawn_app, TestApp};

async fn quote(app: &TestApp, body: Value) -> crate::harness::Reply {
    app.send("POST", "/api/v1/fee-quote", None, Some(body), &[]).await
}

on_both_databases! {
    async fn anyone_reads_the_plans_in_their_language(db) {
        let app = spawn_app(db).await;
        let zh = app.send("GET", "/api/v1/plans", None, None, &[]).await;
        assert_eq!(zh.status, 200);
        let codes: Vec<&str> = zh.body["items"].as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["ACT-99", "TERM-299"]);
        let act = &zh.body["items"][0];
        assert_eq!((act["deposit_fen"].as_i64(), act["refund_rule"].as_str()),
            (Some(9_900), Some("激活后 90 天内交易额达到 ¥10,000.00，即可申请全额退押金")));
        assert_eq!(act["card_rates"][1], json!({"kind": "debit_card", "kind_name": "借记卡", "rate_bp": 50, "cap_fen": 2000}));
        let en = app.send("GET", "/api/v1/plans", None, None, &[("accept-language", "en")]).await;
        let act = &en.body["items"][0];
        assert_eq!(act["name"], "Activation refund ¥99 (¥10,000 of card volume within 90 days)");
        for text in [&act["name"], &act["refund_rule"], &act["refund_fee"], &act["card_rates"][0]["kind_name"]] {
            assert!(!text.as_str().unwrap().chars().any(yajin_core::text::is_cjk), "{text}");
        }

        // A new version is what is published from then on.
        let admin = app.staff("admin").await;
        let mut next = app.get("/api/v1/policies", &admin).await.body["items"][0].clone();
        for field in ["version", "id", "created_at", "summary", "display_name"] {
            next.as_object_mut().unwrap().remove(field);
        }
        next["card_rates"] = json!([{"kind": "credit_card", "rate_bp": 55}]);
        assert_eq!(app.post("/api/v1/policies", &admin, next).await.status, 201);
        let now = app.send("GET", "/api/v1/plans", None, None, &[]).await.body;
        let act = now["items"].as_array().unwrap().iter().find(|p| p["code"] == "ACT-99").unwrap().clone();
        assert_eq!((act["version"].as_i64(), act["card_rates"].as_array().unwrap().len()), (Some(2), 1));
        assert_eq!(now["items"].as_array().unwrap().len(), 2, "one version of each plan");
    }

    async fn the_fee_calculator_quotes_to_the_fen(db) {
        let app = spawn_app(db).await;
        let credit = quote(&app, json!({"plan_code": "ACT-99", "amount_fen": 8_000_000, "kind": "credit_card"})).await;
        assert_eq!((credit.status, credit.body.clone()), (200, json!({"fee_fen": 48_000, "rate_bp": 60, "net_fen": 7_952_000, "capped": false})));
        let debit = quote(&app, json!({"plan_code": "ACT-99", "amount_fen": 8_000_000, "kind": "debit_card"})).await;
        assert_eq!((debit.body["fee_fen"].as_i64(), debit.body["capped"].as_bool()), (Some(2_000), Some(true)));
        // By QR code at 38 bp: 131 fen is 0.4978 fen of fee, rounded to 0; 132 fen is 0.5016, rounded to 1.
        assert_eq!(quote(&app, json!({"plan_code": "ACT-99", "amount_fen": 131, "kind": "qr_code"})).await.body["fee_fen"], 0);
        assert_eq!(quote(&app, json!({"plan_code": "ACT-99", "amount_fen": 132, "kind": "qr_code"})).await.body["fee_fen"], 1);
    }

    async fn a_wrong_quote_request_says_what_is_wrong(db) {
        let app = spawn_app(db).await;
        let all = quote(&app, json!({"plan_code": "NOPE", "amount_fen": -5, "kind": "cash"})).await;
        let fields: Vec<(&str, &str)> = all.body["errors"].as_array().unwrap().iter()
            .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap())).collect();
        assert_eq!((all.status, fields), (422, vec![("kind", "invalid"), ("amount_fen", "out_of_range"), ("plan_code", "not_found")]));
        let fraction = quote(&app, json!({"plan_code": "ACT-99", "amount_fen": 1.5, "kind": "nfc"})).await;
        assert_eq!((fraction.status, fraction.code()), (422, "invalid_body"), "fen are whole");
        let huge = quote(&app, json!({"plan_code": "ACT-99", "amount_fen": i64::MAX, "kind": "nfc"})).await;
        assert_eq!((huge.status, huge.body["errors"][0]["field"].as_str()), (422, Some("amount_fen")));
        let missing = quote(&app, json!({"plan_code": "ACT-99"})).await;
        assert_eq!((missing.status, missing.code()), (422, "invalid_body"));
        // A plan that quotes no rate for a kind says so.
        let admin = app.staff("admin").await;
        let mut only_credit = app.get("/api/v1/policies", &admin).await.body["items"][0].clone();
        for field in ["version", "id", "created_at", "summary", "display_name"] {
            only_credit.as_object_mut().unwrap().remove(field);
        }
        only_credit["code"] = json!("CREDIT-ONLY");
        only_credit["card_rates"] = json!([{"kind": "credit_card", "rate_bp": 60}]);
        assert_eq!(app.post("/api/v1/policies", &admin, only_credit).await.status, 201);
        let none = quote(&app, json!({"plan_code": "CREDIT-ONLY", "amount_fen": 100, "kind": "nfc"})).await;
        assert_eq!((none.status, none.body["errors"][0]["code"].as_str()), (422, Some("not_offered")));
    }
}
