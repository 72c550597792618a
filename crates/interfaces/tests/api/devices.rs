use serde_json::Value;
use yajin_app::demo;
use yajin_testdb::on_both_databases;

use crate::harness::spawn_app;

const A: &str = demo::MERCHANT_A.phone;
const B: &str = demo::MERCHANT_B.phone;

fn by_sn<'a>(items: &'a [Value], sn: &str) -> &'a Value {
    items.iter().find(|t| t["sn"] == sn).unwrap_or_else(|| panic!("{sn} listed"))
}

on_both_databases! {
    async fn the_list_read_in_one_statement_agrees_with_each_terminals_own_page(db) {
        // My Devices gathers every fact in one statement; a terminal's own page gathers them
        // query by query. Whatever state the money is in, both must say the same.
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let admin = app.staff("admin").await;
        assert_eq!(app.post("/api/v1/refund-applications", &token, crate::applications::body("DEMO-AUTO-01")).await.status, 201);
        assert_eq!(app.post("/api/v1/refund-applications", &token, crate::applications::body("DEMO-REVIEW-01")).await.status, 201);
        let owed = serde_json::json!({"sn": "DEMO-PROGRESS-01", "kind": "sim_fee", "amount_fen": 1200, "due_at": "2026-12-01T00:00:00Z"});
        assert_eq!(app.post("/api/v1/admin/outstanding-items", &admin, owed).await.status, 201);
        let mut seen = 0;
        let mut cursor = String::new();
        loop {
            let page = app.get(&format!("/api/v1/terminals?limit=2{cursor}"), &token).await;
            assert_eq!(page.status, 200);
            for listed in page.body["items"].as_array().unwrap() {
                let own = app.get(&format!("/api/v1/terminals/{}", listed["sn"].as_str().unwrap()), &token).await.body;
                for key in ["deposit", "progress", "eligibility", "open_application_id", "status", "plan"] {
                    assert_eq!(listed[key], own[key], "{} {key}", listed["sn"]);
                }
                seen += 1;
            }
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        assert!(seen >= 5, "{seen} terminals compared");
        let listed = app.get("/api/v1/terminals", &token).await.body;
        let auto = by_sn(listed["items"].as_array().unwrap(), "DEMO-AUTO-01");
        assert!(auto["open_application_id"].is_string() && auto["deposit"]["in_flight_fen"].as_i64() > Some(0), "{auto}");
        let progress = by_sn(listed["items"].as_array().unwrap(), "DEMO-PROGRESS-01");
        assert!(progress["eligibility"]["reasons"].to_string().contains("outstanding") || progress["eligibility"].to_string().contains("1200"), "{progress}");
    }

    async fn my_devices_show_every_rule_with_its_figures(db) {
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let reply = app.get("/api/v1/terminals", &token).await;
        assert_eq!(reply.status, 200);
        let items = reply.body["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 6);
        assert_eq!(reply.body["next_cursor"], Value::Null);

        let auto = by_sn(&items, "DEMO-AUTO-01");
        assert_eq!(auto["eligibility"]["eligible"], true);
        assert_eq!(auto["eligibility"]["auto_approvable"], true);
        assert_eq!(auto["deposit"]["amount_fen"], 9900);
        assert_eq!(auto["deposit"]["status"], "held");
        assert_eq!(auto["plan"]["rule"]["volume_target_fen"], 1_000_000);
        assert_eq!(auto["progress"]["percent"], 100);

        let owes = by_sn(&items, "DEMO-OWES-01");
        assert_eq!(owes["eligibility"]["reasons"][0]["code"], "outstanding_balance");
        assert_eq!(owes["eligibility"]["reasons"][0]["outstanding_fen"], 6000);

        let progress = by_sn(&items, "DEMO-PROGRESS-01");
        let reason = &progress["eligibility"]["reasons"][0];
        assert_eq!(reason["code"], "not_yet_eligible");
        assert_eq!((reason["reached_fen"].as_i64(), reason["needed_fen"].as_i64(), reason["days_left"].as_i64()), (Some(350_000), Some(1_000_000), Some(40)));
        assert!(reason["message"].as_str().unwrap().contains("¥6,500.00"), "{reason}");
        assert_eq!(progress["progress"]["percent"], 35);

        assert_eq!(by_sn(&items, "DEMO-EXPIRED-01")["eligibility"]["reasons"][0]["code"], "refund_window_expired");
        let refunded = by_sn(&items, "DEMO-REFUNDED-01");
        assert_eq!(refunded["eligibility"]["reasons"][0]["code"], "deposit_already_refunded");
        assert_eq!((refunded["deposit"]["refunded_fen"].as_i64(), refunded["deposit"]["status"].as_str()), (Some(9900), Some("refunded")));
        assert_eq!(by_sn(&items, "DEMO-REVIEW-01")["eligibility"]["eligible"], true);

        let en = app.send("GET", "/api/v1/terminals/demo-progress-01", Some(&token), None, &[("accept-language", "en")]).await;
        assert_eq!(en.status, 200, "SNs are normalised");
        assert!(en.body["eligibility"]["reasons"][0]["message"].as_str().unwrap().contains("days left"));
    }

    async fn another_merchants_terminal_is_not_found(db) {
        let app = spawn_app(db).await;
        let a = app.merchant(A).await;
        let b = app.merchant(B).await;
        for path in ["/api/v1/terminals/DEMO-B-01", "/api/v1/terminals/DEMO-B-01/transactions", "/api/v1/terminals/NO-SUCH", "/api/v1/terminals/%E7%BB%88"] {
            let r = app.get(path, &a).await;
            assert_eq!((r.status, r.code()), (404, "terminal_not_found"), "{path}");
        }
        assert_eq!(app.get("/api/v1/terminals/DEMO-B-01", &b).await.status, 200);
        assert_eq!(app.get("/api/v1/terminals", &b).await.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(app.send("GET", "/api/v1/terminals", None, None, &[]).await.status, 401);
    }

    async fn my_devices_reads_the_session_with_the_page_and_refuses_as_every_list_does(db) {
        // My Devices looks the session up in the statement that reads the page: whoever asks
        // must still be told apart exactly as the other lists tell them apart.
        let app = spawn_app(db).await;
        let a = app.login(A, demo::MERCHANT_PASSWORD).await;
        let (token, csrf) = (a.body["token"].as_str().unwrap().to_owned(), a.body["csrf_token"].as_str().unwrap().to_owned());
        let listed = app.get("/api/v1/terminals", &token).await;
        assert_eq!((listed.status, listed.body["items"].as_array().unwrap().len()), (200, 6));
        let cookie = format!("yajin_session={token}");
        let by_cookie = app.send("GET", "/api/v1/terminals", None, None, &[("cookie", &cookie)]).await;
        assert_eq!((by_cookie.status, &by_cookie.body), (200, &listed.body), "a read by cookie needs no CSRF token");

        let b = app.merchant(B).await;
        assert_eq!(app.get("/api/v1/terminals", &b).await.body["items"][0]["sn"], "DEMO-B-01", "each merchant its own");
        let first = app.get("/api/v1/terminals?limit=2", &token).await; // after DEMO-AUTO-01, DEMO-EXPIRED-01
        let after_a_second = first.body["next_cursor"].as_str().unwrap();
        let empty = app.get(&format!("/api/v1/terminals?limit=5&cursor={after_a_second}"), &b).await;
        assert_eq!((empty.status, empty.body["items"].as_array().map(Vec::len)), (200, Some(0)), "nothing after: an empty page");
        assert_eq!(empty.body["next_cursor"], Value::Null);

        let staff = app.staff("admin").await;
        for (who, path, status, code) in [
            (None, "/api/v1/terminals", 401, "unauthenticated"),
            (Some("not-a-session"), "/api/v1/terminals", 401, "unauthenticated"),
            (Some("not-a-session"), "/api/v1/terminals?limit=x", 401, "unauthenticated"),
            (Some("not-a-session"), "/api/v1/terminals?limit=1&limit=2", 401, "unauthenticated"),
            (Some(staff.as_str()), "/api/v1/terminals", 403, "forbidden"),
            (Some(staff.as_str()), "/api/v1/terminals?limit=x", 403, "forbidden"),
            (Some(token.as_str()), "/api/v1/terminals?limit=x", 400, "invalid_query"),
            (Some(token.as_str()), "/api/v1/terminals?cursor=zz", 400, "invalid_cursor"),
        ] {
            let r = app.send("GET", path, who, None, &[]).await;
            assert_eq!((r.status, r.code()), (status, code), "{who:?} {path}");
        }
        assert_eq!(app.get("/api/v1/terminals?limit=1&limit=2", &token).await.status, 400, "a query that does not parse");

        assert_eq!(app.send("POST", "/api/v1/auth/logout", None, None, &[("cookie", &cookie), ("x-csrf-token", &csrf)]).await.status, 204);
        let revoked = app.get("/api/v1/terminals", &token).await;
        assert_eq!((revoked.status, revoked.code()), (401, "unauthenticated"), "a session ended is ended at once");
        app.clock.advance_ms(yajin_app::auth::SESSION_TTL_MS + 1);
        let expired = app.get("/api/v1/terminals", &b).await;
        assert_eq!((expired.status, expired.code()), (401, "unauthenticated"), "an expired session");
    }

    async fn lists_page_with_cursors(db) {
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let mut seen = Vec::new();
        let mut path = "/api/v1/terminals?limit=4".to_owned();
        loop {
            let r = app.get(&path, &token).await;
            assert_eq!(r.status, 200);
            seen.extend(r.body["items"].as_array().unwrap().iter().map(|t| t["sn"].as_str().unwrap().to_owned()));
            match r.body["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v1/terminals?limit=4&cursor={c}"),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!((seen.len(), seen.clone()), (6, sorted), "each once, in order");
        for bad in ["/api/v1/terminals?limit=0", "/api/v1/terminals?limit=201", "/api/v1/terminals?limit=x"] {
            assert_eq!(app.get(bad, &token).await.code(), "invalid_query", "{bad}");
        }
        assert_eq!(app.get("/api/v1/terminals?cursor=zz", &token).await.code(), "invalid_cursor");

        let first = app.get("/api/v1/terminals/DEMO-AUTO-01/transactions?limit=2", &token).await;
        let items = first.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["kind"], "qr_code", "newest first");
        assert_eq!(items[0]["amount_fen"], 80_000);
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let rest = app.get(&format!("/api/v1/terminals/DEMO-AUTO-01/transactions?limit=10&cursor={cursor}"), &token).await;
        assert_eq!(rest.body["items"].as_array().unwrap().len(), 3);
    }

    async fn settling_what_is_owed_makes_the_terminal_eligible(db) {
        let app = crate::harness::spawn_paying_app(db, yajin_sandbox_bank::Faults::default()).await;
        let a = app.merchant(A).await;
        let b = app.merchant(B).await;
        let items = app.get("/api/v1/outstanding-items", &a).await.body["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1);
        assert_eq!((items[0]["amount_fen"].as_i64(), items[0]["status"].as_str(), items[0]["terminal_sn"].as_str()), (Some(6000), Some("open"), Some("DEMO-OWES-01")));
        let id = items[0]["id"].as_str().unwrap();
        let path = format!("/api/v1/outstanding-items/{id}/settle");
        assert_eq!(app.send("POST", &path, Some(&b), None, &[]).await.status, 404, "not B's item");
        let settling = app.send("POST", &path, Some(&a), None, &[]).await;
        assert_eq!((settling.status, settling.body["status"].as_str()), (202, Some("settling")), "nothing is settled by the request alone");
        let again = app.send("POST", &path, Some(&a), None, &[]).await;
        assert_eq!((again.status, again.code()), (409, "already_settled"), "one collection at a time");
        app.eventually("/api/v1/outstanding-items", &a, |b| b["items"][0]["status"] == "settled").await;
        let owes = app.get("/api/v1/terminals/DEMO-OWES-01", &a).await;
        assert_eq!(owes.body["eligibility"]["eligible"], true);
        assert_eq!(owes.body["eligibility"]["net_refund_fen"], 9900);
        let mut conn = app.db.pool().acquire().await.unwrap();
        assert_eq!(yajin_store::ledger::verify(&mut conn).await.unwrap(), []);
    }
}
