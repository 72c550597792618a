//! What the merchant and staff are told is true, complete and in the reader's language: why an
//! application was refused and what to do next, notices that never contradict the facts, an SMS
//! when the merchant must act or money moves, numbers read as people type them, dead ends that
//! say what they are, and times in Beijing time.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use yajin_app::demo;
use yajin_core::text::{is_cjk, language_faults};
use yajin_sandbox_bank::Faults;
use yajin_testdb::on_both_databases;

use crate::applications::body;
use crate::harness::{spawn_app, spawn_paying_app, Reply, TestApp};

const A: &str = demo::MERCHANT_A.phone;
const EN: (&str, &str) = ("accept-language", "en");

async fn get_in(app: &TestApp, path: &str, token: &str, lang: Option<(&str, &str)>) -> Reply {
    let headers: Vec<(&str, &str)> = lang.into_iter().collect();
    app.send("GET", path, Some(token), None, &headers).await
}

fn path(id: &str, step: &str) -> String {
    format!("/api/v1/review/applications/{id}/{step}")
}

async fn submitted(app: &TestApp, token: &str, sn: &str) -> String {
    let r = app.post("/api/v1/refund-applications", token, body(sn)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Every notification's title and body, in the language asked for.
async fn notification_texts(app: &TestApp, token: &str, lang: Option<(&str, &str)>) -> Vec<(String, String, String)> {
    let r = get_in(app, "/api/v1/notifications?limit=200", token, lang).await;
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let text = |k: &str| n[k].as_str().unwrap().to_owned();
            (text("kind"), text("title"), text("body"))
        })
        .collect()
}

/// Waits for an SMS to `phone` that contains `needle` (the worker sends them in the background).
async fn texted(app: &TestApp, phone: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = app.send("GET", &format!("/api/v1/sandbox/sms?phone={phone}"), None, None, &[]).await;
        let found =
            r.body["items"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).find(|t| t.contains(needle));
        if let Some(text) = found {
            return text.to_owned();
        }
        assert!(Instant::now() < deadline, "no SMS with {needle:?}: {:?}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

on_both_databases! {
    async fn a_rejection_says_why_and_what_next_on_the_application_in_both_languages(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let reviewer = app.staff("reviewer").await;
        let id = submitted(&app, &m, "DEMO-REVIEW-01").await;
        app.post(&path(&id, "claim"), &reviewer, json!({})).await;

        // "Another reason" alone tells the merchant nothing: it needs the reviewer's words.
        let bare = app.post(&path(&id, "reject"), &reviewer, json!({"reason_code": "other", "comment": " "})).await;
        assert_eq!((bare.status, bare.body["errors"][0]["field"].as_str()), (422, Some("comment")));
        assert_eq!(get_in(&app, &format!("/api/v1/refund-applications/{id}"), &m, None).await.body["status"], "in_review", "nothing changed");

        let rejected = app.post(&path(&id, "reject"), &reviewer, json!({"reason_code": "materials_invalid", "comment": "照片模糊"})).await;
        assert_eq!(rejected.body["status"], "rejected");
        let zh = get_in(&app, &format!("/api/v1/refund-applications/{id}"), &m, None).await.body;
        let reason = yajin_core::rejection::find("materials_invalid").unwrap();
        assert_eq!(zh["rejection"], json!({"reason_code": "materials_invalid", "explanation": reason.explanation_zh,
            "next_step": reason.next_step_zh, "comment": "照片模糊"}));
        let last = zh["timeline"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((last["status"].as_str(), last["rejection"]["comment"].as_str()), (Some("rejected"), Some("照片模糊")));
        assert_eq!(last["actor_name"], "审核员 王芳", "the reviewer by name");

        let en = get_in(&app, &format!("/api/v1/refund-applications/{id}"), &m, Some(EN)).await.body;
        assert_eq!((en["rejection"]["explanation"].as_str(), en["rejection"]["next_step"].as_str()),
            (Some(reason.explanation_en), Some(reason.next_step_en)));
        assert_eq!(en["reason_name"], "no longer used");
        for entry in en["timeline"].as_array().unwrap() {
            // The merchant's own note and the reviewer's comment are quoted as written.
            let note = entry["note"].as_str().unwrap();
            assert!(!note.chars().any(is_cjk) || note == "请尽快处理", "{entry}");
            assert!(entry["actor_name"].as_str().unwrap().split(' ').next().is_some_and(|role| !role.chars().any(is_cjk)), "{entry}");
        }

        // The notification says the same, in each language, naming no code.
        let (_, title, text) = notification_texts(&app, &m, None).await.into_iter().find(|(k, ..)| k == "application_rejected").unwrap();
        assert_eq!(title, "退押金申请未通过");
        assert!(text.contains(reason.explanation_zh) && text.contains(reason.next_step_zh) && text.contains("审核说明：照片模糊"), "{text}");
        let (_, title, text) = notification_texts(&app, &m, Some(EN)).await.into_iter().find(|(k, ..)| k == "application_rejected").unwrap();
        assert_eq!(title, "Refund application not approved");
        assert!(text.contains(reason.next_step_en) && text.contains("Reviewer's comment: 照片模糊"), "{text}");
    }

    async fn an_information_request_lists_what_is_asked_for_until_it_is_answered(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let reviewer = app.staff("reviewer").await;
        let id = submitted(&app, &m, "DEMO-REVIEW-01").await;
        app.post(&path(&id, "claim"), &reviewer, json!({})).await;
        let items = json!(["机具退还快递单号", "购机发票照片"]);
        app.post(&path(&id, "request-info"), &reviewer, json!({"items": items, "comment": "请一并上传"})).await;
        let a = get_in(&app, &format!("/api/v1/refund-applications/{id}"), &m, None).await.body;
        assert_eq!(a["info_request"], json!({"items": items, "comment": "请一并上传"}));
        let last = a["timeline"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((last["info_request"]["items"].clone(), last["comment"].as_str()), (items.clone(), Some("请一并上传")));
        assert_eq!(last["note"], "需要补充：机具退还快递单号；购机发票照片");
        let en = get_in(&app, &format!("/api/v1/refund-applications/{id}"), &m, Some(EN)).await.body;
        assert_eq!(en["timeline"].as_array().unwrap().last().unwrap()["note"], "Needed: 机具退还快递单号; 购机发票照片");

        app.post(&format!("/api/v1/refund-applications/{id}/supplement"), &m, json!({"note": "SF1234567890"})).await;
        let back = get_in(&app, &format!("/api/v1/refund-applications/{id}"), &m, None).await.body;
        assert_eq!((back["status"].as_str(), back["info_request"].clone()), (Some("submitted"), Value::Null), "answered: nothing is asked any more");
    }

    async fn every_notice_is_true_names_no_code_and_reads_in_both_languages(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        // The demo's refunded deposit met its target too: nobody is told it can be applied for.
        let seeded = notification_texts(&app, &m, None).await;
        assert!(!seeded.iter().any(|(_, _, body)| body.contains("DEMO-REFUNDED-01")), "{seeded:?}");

        // A journey that writes most kinds: submitted, auto-approved, in review, four eyes,
        // information requested, cancelled, a settled debt, a ticket answered and closed.
        submitted(&app, &m, "DEMO-AUTO-01").await;
        let reviewer = app.staff("reviewer").await;
        let id = submitted(&app, &m, "DEMO-REVIEW-01").await;
        app.post(&path(&id, "claim"), &reviewer, json!({})).await;
        app.post(&path(&id, "request-info"), &reviewer, json!({"items": ["快递单号"], "comment": ""})).await;
        app.post(&format!("/api/v1/refund-applications/{id}/supplement"), &m, json!({"note": "SF1"})).await;
        app.post(&format!("/api/v1/refund-applications/{id}/cancel"), &m, json!({})).await;
        let ticket = app.post("/api/v1/tickets", &m, json!({"subject": "退款进度", "body": "什么时候到账？"})).await.body["id"].as_str().unwrap().to_owned();
        let support = app.staff("support").await;
        app.post(&format!("/api/v1/support/tickets/{ticket}/messages"), &support, json!({"body": "今天到账"})).await;
        app.post(&format!("/api/v1/support/tickets/{ticket}/close"), &support, json!({})).await;

        let zh = notification_texts(&app, &m, None).await;
        let en = notification_texts(&app, &m, Some(EN)).await;
        assert_eq!(zh.len(), en.len());
        let kinds: Vec<&str> = zh.iter().map(|(k, ..)| k.as_str()).collect();
        for kind in ["application_submitted", "application_auto_approved", "application_in_review", "info_requested",
                     "application_supplemented", "application_cancelled", "ticket_answered", "ticket_closed"] {
            assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
        }
        // Quoted as written: the merchant's and support's words, the ticket's subject, SNs, ids.
        let mut allowed: Vec<String> = vec!["退款进度".into(), "今天到账".into(), "快递单号".into()];
        let devices = app.get("/api/v1/terminals", &m).await.body;
        allowed.extend(devices["items"].as_array().unwrap().iter().map(|t| t["sn"].as_str().unwrap().to_owned()));
        let list = app.get("/api/v1/refund-applications", &m).await.body;
        allowed.extend(list["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()));
        let owner = get_in(&app, &format!("/api/v1/tickets/{ticket}"), &m, None).await.body;
        let name = owner["owner"].as_str().unwrap().trim_start_matches("客服 ").to_owned();
        allowed.push(name);
        let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
        for ((kind, zh_title, zh_body), (_, en_title, en_body)) in zh.iter().zip(&en) {
            for (z, e) in [(zh_title, en_title), (zh_body, en_body)] {
                let faults = language_faults(z, e, &allowed);
                assert!(faults.is_empty(), "{kind}: {z} / {e}: {faults:?}");
            }
        }
    }

    async fn the_merchant_is_texted_when_they_must_act_or_money_moves(db) {
        let app = spawn_paying_app(db, Faults::default()).await;
        let m = app.merchant(A).await;
        let reviewer = app.staff("reviewer").await;
        let id = submitted(&app, &m, "DEMO-REVIEW-01").await;
        app.post(&path(&id, "claim"), &reviewer, json!({})).await;
        app.post(&path(&id, "request-info"), &reviewer, json!({"items": ["机具退还快递单号"], "comment": ""})).await;
        let asked = texted(&app, A, "需要补充").await;
        assert!(asked.starts_with("【押金服务】") && asked.contains("机具退还快递单号") && asked.contains(&id), "{asked}");
        app.post(&format!("/api/v1/refund-applications/{id}/supplement"), &m, json!({"note": "SF1"})).await;
        app.post(&path(&id, "claim"), &reviewer, json!({})).await;
        app.post(&path(&id, "reject"), &reviewer, json!({"reason_code": "device_not_returned", "comment": ""})).await;
        let refused = texted(&app, A, "未通过").await;
        assert!(refused.contains("寄回机具"), "the next step travels with it: {refused}");

        let paid = submitted(&app, &m, "DEMO-AUTO-01").await;
        let done = texted(&app, A, "已退回尾号").await;
        assert!(done.contains(&paid) && done.contains("0128"), "{done}");
        // A submission alone is not texted: the merchant did it and sees it.
        let all = app.send("GET", &format!("/api/v1/sandbox/sms?phone={A}"), None, None, &[]).await.body;
        assert!(!all["items"].as_array().unwrap().iter().any(|s| s["text"].as_str().unwrap().contains("已提交")), "{all}");
    }

    async fn a_failed_payout_is_texted_with_what_to_do(db) {
        let faults = Faults { failing_card_last4: Some("0128".into()), ..Faults::default() };
        let app = spawn_paying_app(db, faults).await;
        let m = app.merchant(A).await;
        let id = submitted(&app, &m, "DEMO-AUTO-01").await;
        let failed = texted(&app, A, "未能付至").await;
        assert!(failed.contains(&id) && failed.contains("收款账户已销户") && failed.contains("更换"), "{failed}");
        let en = get_in(&app, &format!("/api/v1/refund-applications/{id}"), &m, Some(EN)).await.body;
        let last = en["timeline"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((last["status"].as_str(), last["note"].as_str()), (Some("payout_failed"), Some("Returned by the bank: the account is closed")));
    }

    async fn numbers_are_read_as_people_type_them_everywhere(db) {
        let app = spawn_app(db).await;
        for typed in ["+86 138-0000-0001", "１３８０００００００１", "138 0000 0001", "0086 13800000001"] {
            let r = app.login(typed, demo::MERCHANT_PASSWORD).await;
            assert_eq!(r.status, 200, "{typed}: {:?}", r.body);
        }
        // Wrong passwords under different spellings of one number share one counter.
        for typed in ["13800000002", "+86 138 0000 0002", "１３８０００００００２", "138-0000-0002"] {
            assert_eq!(app.login(typed, "Wrong@12345").await.code(), "invalid_credentials", "{typed}");
        }
        assert_eq!(app.login("+8613800000002", "Wrong@12345").await.code(), "account_locked", "the fifth try, spelt a fifth way");
        let locked = app.login("13800000002", demo::MERCHANT_PASSWORD).await;
        assert_eq!((locked.status, locked.code()), (423, "account_locked"));

        let m = app.merchant(A).await;
        let mut typed = body("DEMO-REVIEW-01");
        typed["phone"] = json!("+86 １３８-0000-0001");
        typed["id_card_no"] = json!("310115 19850615 1236");
        typed["bank_card_no"] = json!("6222-0212-3456-7890-128");
        let preview = app.post("/api/v1/refund-applications/preview", &m, typed.clone()).await;
        assert_eq!((preview.status, preview.body["eligible"].as_bool()), (200, Some(true)), "{:?}", preview.body);
        assert_eq!(app.post("/api/v1/refund-applications", &m, typed).await.status, 201);

        let ask = app.send("POST", "/api/v1/auth/sms-codes", None, Some(json!({"phone": "+86 138 0000 0001", "purpose": "reset_password"})), &[]).await;
        assert_eq!(ask.status, 202);
        assert!(app.last_code_sms(A).await.is_some(), "the code went to the one number");
    }

    async fn dead_ends_say_what_they_are(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        // A closed ticket: the merchant is told it was closed, and a reply says so.
        let ticket = app.post("/api/v1/tickets", &m, json!({"subject": "发票", "body": "能开发票吗？"})).await.body["id"].as_str().unwrap().to_owned();
        let support = app.staff("support").await;
        app.post(&format!("/api/v1/support/tickets/{ticket}/close"), &support, json!({})).await;
        assert!(notification_texts(&app, &m, None).await.iter().any(|(k, _, b)| k == "ticket_closed" && b.contains("发票")));
        let again = format!("/api/v1/tickets/{ticket}/messages");
        let zh = app.send("POST", &again, Some(&m), Some(json!({"body": "还在吗"})), &[("accept-language", "zh-CN")]).await;
        let en = app.send("POST", &again, Some(&m), Some(json!({"body": "还在吗"})), &[EN]).await;
        assert_eq!((zh.status, zh.code(), zh.body["ticket_status"].as_str()), (409, "invalid_state", Some("closed")));
        assert!(zh.body["detail"].as_str().unwrap().contains("工单已关闭"), "{:?}", zh.body);
        assert!(en.body["detail"].as_str().unwrap().contains("ticket is closed"), "{:?}", en.body);

        // Four eyes: the first approver is told so; another reviewer is told the role it takes.
        let (reviewer, reviewer2) = (app.staff("reviewer").await, app.staff("reviewer2").await);
        let id = submitted(&app, &m, "DEMO-REVIEW-01").await;
        app.post(&path(&id, "claim"), &reviewer, json!({})).await;
        assert_eq!(app.post(&path(&id, "approve"), &reviewer, json!({})).await.body["status"], "awaiting_second_approval");
        let again = app.post(&path(&id, "approve"), &reviewer, json!({})).await;
        assert_eq!((again.status, again.code()), (403, "same_approver"));
        let other = app.post(&path(&id, "approve"), &reviewer2, json!({})).await;
        assert_eq!((other.status, other.code()), (403, "approver_required"));
        assert!(other.body["title"].as_str().unwrap().contains("审批人"), "{:?}", other.body);
        // The merchant hears of the first approval, and the approver finds it waiting.
        assert!(notification_texts(&app, &m, None).await.iter().any(|(k, ..)| k == "awaiting_second_approval"));
        let approver = app.staff("approver").await;
        let waiting = app.get("/api/v1/review/applications", &approver).await.body;
        assert_eq!(waiting["items"][0]["id"], id.as_str(), "an approver's queue is what awaits them: {waiting}");
        assert_eq!(app.get("/api/v1/review/applications", &reviewer).await.body["items"].as_array().unwrap().len(), 0, "a reviewer's is what is new");

        // Staff log in with a user name, and are told so.
        let staff = app.send("POST", "/api/v1/staff/auth/login", None, Some(json!({"username": "reviewer", "password": "nope"})), &[]).await;
        assert_eq!((staff.code(), staff.body["detail"].as_str()), ("invalid_credentials", Some("用户名或密码错误")));
    }

    async fn my_devices_shows_the_application_in_progress(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let id = submitted(&app, &m, "DEMO-REVIEW-01").await;
        let t = app.get("/api/v1/terminals/DEMO-REVIEW-01", &m).await.body;
        assert_eq!(t["open_application"], json!({"id": id, "status": "submitted", "net_refund_fen": 29_900}));
        let all = app.get("/api/v1/terminals", &m).await.body;
        let row = all["items"].as_array().unwrap().iter().find(|t| t["sn"] == "DEMO-REVIEW-01").unwrap().clone();
        assert_eq!(row["open_application"]["id"], id.as_str(), "the list says the same as the terminal");
        let idle = all["items"].as_array().unwrap().iter().find(|t| t["sn"] == "DEMO-PROGRESS-01").unwrap().clone();
        assert_eq!(idle["open_application"], Value::Null);
    }

    async fn staff_see_who_and_how_long_and_merchants_see_names(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let ticket = app.post("/api/v1/tickets", &m, json!({"subject": "进度", "body": "请问进度"})).await.body["id"].as_str().unwrap().to_owned();
        let support = app.staff("support").await;
        let seen = app.get(&format!("/api/v1/support/tickets/{ticket}"), &support).await.body;
        assert_eq!((seen["merchant_no"].as_str(), seen["merchant_name"].as_str(), seen["merchant_phone"].as_str()),
            (Some(demo::MERCHANT_A.merchant_no), Some(demo::MERCHANT_A.name), Some("138****0001")));
        let inbox = app.get("/api/v1/support/tickets", &support).await.body;
        assert_eq!(inbox["items"][0]["merchant_phone"], "138****0001");
        app.post(&format!("/api/v1/support/tickets/{ticket}/messages"), &support, json!({"body": "正在处理"})).await;
        let mine = app.get(&format!("/api/v1/tickets/{ticket}"), &m).await.body;
        let owner = mine["owner"].as_str().unwrap();
        assert!(owner.starts_with("客服 ") && !owner.contains("st_"), "{owner}");
        assert_eq!(mine["messages"][1]["author_name"], owner);
        let en = get_in(&app, &format!("/api/v1/tickets/{ticket}"), &m, Some(EN)).await.body;
        assert!(en["owner"].as_str().unwrap().starts_with("Customer service "), "{en}");

        // The waiting clock stops at a final state.
        let reviewer = app.staff("reviewer").await;
        let id = submitted(&app, &m, "DEMO-REVIEW-01").await;
        app.clock.advance_ms(3_600_000);
        app.post(&path(&id, "claim"), &reviewer, json!({})).await;
        app.post(&path(&id, "reject"), &reviewer, json!({"reason_code": "materials_invalid", "comment": ""})).await;
        app.clock.advance_ms(10 * 86_400_000);
        let reviewer = app.staff("reviewer").await;
        let done = app.get(&format!("/api/v1/review/applications/{id}"), &reviewer).await.body;
        assert_eq!(done["waiting_s"], 3_600, "{done}");

        // The summary counts what was submitted within the period only.
        let admin = app.staff("admin").await;
        let recent = app.get("/api/v1/reports/summary?days=1", &admin).await.body;
        assert_eq!(recent["applications_by_status"].get("rejected"), None, "submitted ten days ago: {recent}");
        let month = app.get("/api/v1/reports/summary?days=30", &admin).await.body;
        assert_eq!(month["applications_by_status"]["rejected"], 1, "{month}");
    }

    async fn receipts_show_beijing_time_and_refuse_unknown_formats(db) {
        let app = spawn_paying_app(db, Faults::default()).await;
        let m = app.merchant(A).await;
        let id = submitted(&app, &m, "DEMO-AUTO-01").await;
        app.eventually(&format!("/api/v1/refund-applications/{id}"), &m, |a| a["status"] == "refunded").await;
        let receipt = format!("/api/v1/refund-applications/{id}/receipt");
        let bad = app.get(&format!("{receipt}?format=xml"), &m).await;
        assert_eq!((bad.status, bad.code()), (400, "invalid_query"));
        let json = app.get(&format!("{receipt}?format=json"), &m).await.body;
        assert!(json["paid_at"].as_str().unwrap().ends_with('Z'), "the API keeps RFC 3339 UTC: {json}");
        for (lang, zone) in [("zh-CN", "（北京时间）"), ("en", " (Beijing time)")] {
            let page = app.client.get(format!("{}{receipt}?format=html", app.base)).bearer_auth(&m)
                .header("accept-language", lang).send().await.unwrap().text().await.unwrap();
            assert!(page.contains(zone), "{lang}: {page}");
        }
    }
}
