//! Every word a person reads in a problem is in the language they asked for: the title, the
//! detail and each field's message.

use serde_json::{json, Value};
use yajin_app::demo;
use yajin_testdb::on_both_databases;

use crate::applications::body;
use crate::harness::{Reply, TestApp};

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// The words of a problem meant for people.
fn prose(r: &Reply) -> Vec<String> {
    let mut out = vec![r.body["title"].as_str().unwrap().to_owned()];
    out.extend(r.body["detail"].as_str().map(str::to_owned));
    for e in r.body["errors"].as_array().into_iter().flatten() {
        out.push(e["message"].as_str().unwrap().to_owned());
    }
    out
}

async fn both(app: &TestApp, path: &str, token: Option<&str>, payload: Value) -> (Reply, Reply) {
    let zh = app.send("POST", path, token, Some(payload.clone()), &[("accept-language", "zh-CN")]).await;
    let en = app.send("POST", path, token, Some(payload), &[("accept-language", "en;q=0.9, zh;q=0.1")]).await;
    (zh, en)
}

fn assert_languages(what: &str, zh: &Reply, en: &Reply) {
    assert_eq!((zh.status, zh.code()), (en.status, en.code()), "{what}");
    assert!(zh.status >= 400, "{what}: {:?}", zh.body);
    for text in prose(zh) {
        assert!(has_cjk(&text), "{what}: {text:?} is not Chinese");
    }
    for text in prose(en) {
        assert!(!has_cjk(&text), "{what}: {text:?} is not English");
    }
}

on_both_databases! {
    async fn problems_speak_the_callers_language(db) {
        let app = crate::harness::spawn_app(db).await;
        let a = app.merchant(demo::MERCHANT_A.phone).await;
        let mut cases: Vec<(&str, &str, Value)> = vec![
            ("empty ticket", "/api/v1/tickets", json!({"subject": "", "body": ""})),
            ("unknown field", "/api/v1/tickets", json!({"subject": "s", "body": "b", "colour": 1})),
            ("wrong type", "/api/v1/tickets", json!({"subject": 5, "body": "b"})),
            ("bad identifiers", "/api/v1/refund-applications/preview",
                json!({"terminal_sn": "DEMO-REVIEW-01", "phone": "12", "id_card_no": "310115198506151235",
                       "bank_card_no": "1", "reason": "whatever", "note": "", "attachment_ids": []})),
        ];
        let mut wrong_person = body("DEMO-REVIEW-01");
        wrong_person["id_card_no"] = json!("11010519491231002X");
        cases.push(("identity mismatch", "/api/v1/refund-applications", wrong_person));
        cases.push(("not eligible", "/api/v1/refund-applications", body("DEMO-PROGRESS-01")));
        for (what, path, payload) in cases {
            let (zh, en) = both(&app, path, Some(&a), payload).await;
            assert_languages(what, &zh, &en);
        }
        let weak = json!({"phone": demo::MERCHANT_A.phone, "code": "000000", "new_password": "short"});
        let (zh, en) = both(&app, "/api/v1/auth/password-reset", None, weak).await;
        assert_languages("weak password", &zh, &en);

        let broken = |lang: &'static str| {
            let a = a.clone();
            let app = &app;
            async move {
                let mut request = app.client.post(format!("{}/api/v1/tickets", app.base)).bearer_auth(&a);
                request = request.header("content-type", "application/json").header("accept-language", lang);
                let r = request.body("{\"subject\": ").send().await.unwrap();
                r.json::<Value>().await.unwrap()
            }
        };
        let (zh, en) = (broken("zh").await, broken("en").await);
        assert_eq!(zh["code"], "malformed_json");
        assert!(has_cjk(zh["detail"].as_str().unwrap()) && !zh["detail"].as_str().unwrap().contains("EOF"), "{zh}");
        assert!(!has_cjk(en["detail"].as_str().unwrap()), "{en}");
    }
}
