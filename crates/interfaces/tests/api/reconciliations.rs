//! The bank's statement against our payouts: every line accounted for, bad lines reported by
//! number without stopping the good ones, an unknown payout the statement shows paid settled by
//! it, and our payouts it leaves out reported missing.

use std::time::Duration;

use serde_json::json;
use yajin_app::demo;
use yajin_sandbox_bank::Faults;
use yajin_testdb::on_both_databases;

use crate::applications::body;
use crate::harness::{channel_to, spawn_app_with_bank, Bank, Reply, TestApp};

async fn upload(app: &TestApp, token: &str, csv: Vec<u8>) -> Reply {
    let boundary = "statementboundary";
    let mut form = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\nContent-Type: text/csv\r\n\r\n").into_bytes();
    form.extend(csv);
    form.extend(format!("\r\n--{boundary}--\r\n").bytes());
    app.raw("POST", "/api/v1/reconciliations", Some(token), &format!("multipart/form-data; boundary={boundary}"), form)
        .await
}

on_both_databases! {
    async fn a_statement_settles_what_it_shows_and_reports_the_rest(db) {
        // Timeouts and no callbacks: the payout stays `unknown` until someone asks the bank.
        let bank = Bank { faults: Faults { timeout_rate: 1.0, hold_ms: 5_000, ..Faults::default() }, worker: false, callbacks: false };
        let app = spawn_app_with_bank(db, bank).await;
        let token = app.merchant(demo::MERCHANT_A.phone).await;
        let finance = app.staff("finance").await;
        let id = app.post("/api/v1/refund-applications", &token, body("DEMO-AUTO-01")).await.body["id"].as_str().unwrap().to_owned();
        let channel = channel_to(app.bank.as_deref().unwrap(), Duration::from_millis(300));
        assert!(yajin_app::worker::run_once(&app.app, &channel, "test", 5_000).await.unwrap());
        let application = app.get(&format!("/api/v1/refund-applications/{id}"), &token).await;
        assert_eq!((application.body["status"].as_str(), application.body["payout"]["status"].as_str()), (Some("paying"), Some("unknown")));
        let payout = application.body["payout"]["id"].as_str().unwrap().to_owned();

        let today = time::OffsetDateTime::now_utc().date().to_string();
        let statement = app.client.get(format!("{}/sandbox/statement?date={today}", app.bank.as_deref().unwrap())).send().await.unwrap().bytes().await.unwrap().to_vec();
        let paid_line = String::from_utf8(statement.clone()).unwrap().lines().nth(1).unwrap().to_owned();
        assert!(paid_line.starts_with(&payout), "{paid_line}");
        let mut csv = statement;
        csv.extend(format!("{paid_line}\n").bytes()); // a duplicate
        csv.extend(b"po_01unknown,ra_x,100,SBX9,2026-11-25T00:00:00Z\n"); // not ours
        csv.extend(b"this is not a statement line\n");
        csv.extend(b"po_01ab,ra_x,1\xff00,SBX9,2026-11-25T00:00:00Z\n"); // not UTF-8
        csv.extend(b"po_01cut,ra_x,10"); // the last line, cut off

        let r = upload(&app, &finance, csv.clone()).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!((r.body["matched"].as_u64(), r.body["settled_by_statement"][0].as_str()), (Some(1), Some(payout.as_str())));
        assert_eq!(r.body["duplicates"], json!([payout]));
        assert_eq!(r.body["unknown_in_statement"], json!(["po_01unknown"]));
        let error_lines: Vec<u64> = r.body["errors"].as_array().unwrap().iter().map(|e| e["line"].as_u64().unwrap()).collect();
        assert_eq!(error_lines, [5, 6, 7], "{:?}", r.body["errors"]);
        assert!(r.body["errors"][2]["message"].as_str().unwrap().contains("cut off"));
        let refunded = app.get(&format!("/api/v1/refund-applications/{id}"), &token).await;
        assert_eq!(refunded.body["status"], "refunded", "the statement is the bank's word");
        assert_eq!(app.bank_payments().await.len(), 1);

        // Again: nothing more is settled; a statement missing our payout says so.
        let again = upload(&app, &finance, csv).await;
        assert_eq!((again.body["matched"].as_u64(), again.body["settled_by_statement"].as_array().unwrap().len()), (Some(1), 0));
        let other_line = format!("po_01other,ra_x,100,SBX8,{today}T01:00:00Z\n");
        let missing = upload(&app, &finance, other_line.into_bytes()).await;
        assert_eq!(missing.body["missing_in_statement"], json!([payout]));
        let mut conn = app.db.pool().acquire().await.unwrap();
        assert_eq!(yajin_store::ledger::verify(&mut conn).await.unwrap(), []);
        // Only finance (and admin) reconcile.
        assert_eq!(upload(&app, &token, b"x".to_vec()).await.status, 403);
    }
}
