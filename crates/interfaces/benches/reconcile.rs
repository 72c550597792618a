//! Reconciling a large bank statement: lines per second through the streaming reconciler.
//!
//!     cargo bench -p yajin --bench reconcile                  # 1,000,000 lines, SQLite
//!     cargo bench -p yajin --bench reconcile -- --postgres    # a fresh PostgreSQL database
//!     cargo bench -p yajin --bench reconcile -- --lines 200000
//!
//! The statement holds one payout of ours and a million lines we must look up and not find
//! (a lookup costs the same either way). Prints one JSON line.

use std::sync::Arc;
use std::time::Instant;

use yajin_app::reconciliation::Reconciler;
use yajin_app::{demo, App, SystemClock};
use yajin_channels::sms::SandboxSms;
use yajin_store::pii::{MasterKey, Vault};
use yajin_testdb::TestDb;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let postgres = args.iter().any(|a| a == "--postgres");
    let lines: usize =
        args.iter().position(|a| a == "--lines").and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(1_000_000);
    let test_db =
        if postgres { TestDb::postgres().await.expect("PostgreSQL for --postgres") } else { TestDb::sqlite().await };
    let backend = test_db.db.backend().name();
    let app = App::new(
        test_db.db.clone(),
        Vault::new(&MasterKey::generate(), &[]),
        Arc::new(SystemClock),
        Arc::new(SandboxSms),
    );
    demo::seed(&app).await.expect("demo data");

    let ours = [paid_payout(&test_db).await];
    let mut csv = String::with_capacity(lines * 90);
    csv.push_str("payout_id,reference,amount_fen,bank_reference,paid_at\n");
    for i in 0..lines {
        match ours.get(i) {
            Some((payout, application)) => {
                csv.push_str(&format!("{payout},{application},9900,SBX{i:012},2026-11-25T08:00:00Z\n"))
            }
            None => csv.push_str(&format!(
                "po_other{i:020},ra_other{i:020},{},SBX{i:012},2026-11-25T08:00:00Z\n",
                100 + i % 9_000
            )),
        }
    }
    let bytes = csv.into_bytes();
    let started = Instant::now();
    let mut reconciler = Reconciler::new(&app);
    for chunk in bytes.chunks(1 << 20) {
        reconciler.feed(chunk).await.expect("feed");
    }
    let report = reconciler.finish().await.expect("finish");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(report.matched, 1);
    println!(
        "{}",
        serde_json::json!({"bench": "reconcile", "backend": backend, "lines": lines, "seconds": seconds,
            "lines_per_s": (lines as f64 / seconds).round(), "matched": report.matched, "unknown": report.unknown_total})
    );
}

/// A payout that succeeded, inserted directly (the bench measures reconciliation, not
/// payouts): its id and application.
async fn paid_payout(test_db: &TestDb) -> (String, String) {
    let application: (String,) = sqlx::query_as(
        "SELECT a.id FROM refund_applications a JOIN terminals t ON t.id = a.terminal_id WHERE t.sn = 'DEMO-REFUNDED-01'",
    )
    .fetch_one(test_db.db.pool())
    .await
    .unwrap();
    let id = "po_bench0000000000000001".to_owned();
    sqlx::query(
        "INSERT INTO payouts (id, application_id, attempt, amount_fen, channel, status, card_last4, paid_at, created_at, updated_at)
         VALUES ($1, $2, 1, 9900, 'sandbox', 'succeeded', '0128', 1795600000000, 0, 0)",
    )
    .bind(&id)
    .bind(&application.0)
    .execute(test_db.db.pool())
    .await
    .unwrap();
    (id, application.0)
}
