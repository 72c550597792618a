//! Use cases on both databases: the demo data set lands every terminal in the state api.md
//! promises; provisioning refuses bad input whole; plans are versioned and snapshotted.

use std::sync::Arc;

use yajin_app::assessment::assess_by_sn;
use yajin_app::clock::ManualClock;
use yajin_app::demo::{self, SeedOutcome};
use yajin_app::idempotency::Replay;
use yajin_app::provisioning::{self, MerchantInput};
use yajin_app::{Actor, App, AppError};
use yajin_core::eligibility::{Missing, Reason};
use yajin_core::{Fen, Timestamp};
use yajin_store::pii::{MasterKey, Vault};
use yajin_store::records::{merchants, terminals};
use yajin_store::{audit, ledger, Db};
use yajin_testdb::on_both_databases;

// 2026-11-24T04:00:00Z
const NOW: Timestamp = Timestamp::from_millis(1_795_492_800_000);

fn app(db: &Db) -> App {
    App::new(
        db.clone(),
        Vault::new(&MasterKey::from_hex(&"22".repeat(32)).unwrap(), &[]),
        Arc::new(ManualClock::at(NOW)),
        Arc::new(yajin_channels::sms::SandboxSms),
    )
}

fn codes(reasons: &[Reason]) -> Vec<&'static str> {
    reasons.iter().map(Reason::code).collect()
}

async fn assess_sn(app: &App, phone: &str, sn: &str, deduct: bool) -> yajin_app::assessment::TerminalAssessment {
    let mut conn = app.db.pool().acquire().await.unwrap();
    let m = merchants::by_phone(&mut conn, phone).await.unwrap().unwrap();
    assess_by_sn(&mut conn, &m.id, sn, deduct, NOW).await.unwrap().unwrap_or_else(|| panic!("{sn} seeded"))
}

/// A demo merchant's id.
async fn merchant_id(db: &Db, m: &demo::DemoMerchant) -> String {
    let mut conn = db.pool().acquire().await.unwrap();
    merchants::by_phone(&mut conn, m.phone).await.unwrap().unwrap().id
}

/// A demo merchant's refund form for a terminal, filled in rightly.
fn refund_form(m: &demo::DemoMerchant, sn: &str) -> yajin_app::applications::ApplyInput {
    yajin_app::applications::ApplyInput {
        terminal_sn: sn.into(),
        phone: m.phone.into(),
        id_card_no: m.id_card_no.into(),
        bank_card_no: m.bank_card_no.into(),
        reason: "stop_using".into(),
        ..Default::default()
    }
}

fn merchant_input() -> MerchantInput {
    MerchantInput {
        merchant_no: "822100058129999".into(),
        name: "测试商户".into(),
        phone: "13900000009".into(),
        password: "Secret@123".into(),
        id_card_no: "11010519491231002X".into(),
        bank_card_no: "6222021234567890128".into(),
        bank_name: "中国工商银行".into(),
        agent_id: None,
    }
}

on_both_databases! {
    async fn a_real_gateways_codes_are_not_kept_in_clear(db) {
        // A gateway that is not the sandbox: it gets the code; the database keeps it masked.
        struct Recording(std::sync::Mutex<Vec<String>>);
        impl yajin_channels::sms::SmsGateway for Recording {
            fn name(&self) -> &'static str {
                "http"
            }
            fn send<'a>(&'a self, _phone: &'a str, text: &'a str) -> yajin_channels::sms::SendFuture<'a> {
                self.0.lock().unwrap().push(text.to_owned());
                Box::pin(async { Ok(()) })
            }
        }
        let gateway = Arc::new(Recording(std::sync::Mutex::new(Vec::new())));
        let app = App::new(
            db.clone(),
            Vault::new(&MasterKey::from_hex(&"22".repeat(32)).unwrap(), &[]),
            Arc::new(ManualClock::at(NOW)),
            gateway.clone(),
        );
        demo::seed(&app).await.unwrap();
        yajin_app::auth::request_reset_code(&app, demo::MERCHANT_A.phone, "203.0.113.9").await.unwrap();
        // Delivery happens in the background, after the request has answered.
        let mut sent = None;
        for _ in 0..200 {
            sent = gateway.0.lock().unwrap().pop();
            if sent.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let sent = sent.expect("delivered");
        let code: String = sent.chars().filter(char::is_ascii_digit).take(6).collect();
        assert_eq!(code.len(), 6, "{sent}");
        let (kept,): (String,) = sqlx::query_as("SELECT text FROM sms_messages WHERE gateway = 'http'")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert!(!kept.contains(&code) && kept.contains("******"), "{kept}");
    }

    async fn the_demo_terminals_are_in_the_promised_states(db) {
        let app = app(&db);
        assert_eq!(demo::seed(&app).await.unwrap(), SeedOutcome::Seeded);
        let a = demo::MERCHANT_A.phone;

        let auto = assess_sn(&app, a, "DEMO-AUTO-01", false).await;
        assert!(auto.assessment.eligible() && auto.assessment.auto_approvable, "{:?}", auto.assessment.reasons);
        assert_eq!(auto.assessment.net_refund_fen, Fen::yuan(99));

        let review = assess_sn(&app, a, "DEMO-REVIEW-01", false).await;
        assert!(review.assessment.eligible() && !review.assessment.auto_approvable);
        assert_eq!(review.assessment.refundable_fen, Fen::yuan(299));

        let owes = assess_sn(&app, a, "DEMO-OWES-01", false).await;
        assert_eq!(codes(&owes.assessment.reasons), ["outstanding_balance"]);
        assert!(matches!(&owes.assessment.reasons[0], Reason::OutstandingBalance { outstanding_fen, .. } if *outstanding_fen == Fen::new(6000)));
        let deducting = assess_sn(&app, a, "DEMO-OWES-01", true).await;
        assert!(deducting.assessment.eligible());
        assert_eq!(deducting.assessment.net_refund_fen, Fen::yuan(39));

        let progress = assess_sn(&app, a, "DEMO-PROGRESS-01", false).await;
        let [Reason::NotYetEligible { missing: Missing::VolumeBelowTarget { reached_fen, needed_fen, days_left, .. } }] = progress.assessment.reasons.as_slice() else {
            panic!("{:?}", progress.assessment.reasons);
        };
        assert_eq!((*reached_fen, *needed_fen, *days_left), (Fen::yuan(3_500), Fen::yuan(10_000), 40));

        assert_eq!(codes(&assess_sn(&app, a, "DEMO-EXPIRED-01", false).await.assessment.reasons), ["refund_window_expired"]);
        let refunded = assess_sn(&app, a, "DEMO-REFUNDED-01", false).await;
        assert_eq!(codes(&refunded.assessment.reasons), ["deposit_already_refunded"]);
        assert_eq!(refunded.deposit.refunded_fen, Fen::yuan(99));

        let b = assess_sn(&app, demo::MERCHANT_B.phone, "DEMO-B-01", false).await;
        assert!(b.assessment.eligible());

        // Merchant A cannot see merchant B's terminal.
        let mut conn = db.pool().acquire().await.unwrap();
        let ma = merchants::by_phone(&mut conn, a).await.unwrap().unwrap();
        assert!(terminals::by_sn(&mut conn, &ma.id, "DEMO-B-01").await.unwrap().is_none());

        // The books balance and the audit chain is whole.
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), []);
        let chain = audit::verify(&mut conn, &app.vault).await.unwrap();
        assert!(chain.ok && chain.checked > 10, "{chain:?}");
    }

    async fn seeding_twice_leaves_the_demo_alone_and_other_data_is_refused(db) {
        let app = app(&db);
        assert_eq!(demo::seed(&app).await.unwrap(), SeedOutcome::Seeded);
        assert_eq!(demo::seed(&app).await.unwrap(), SeedOutcome::AlreadyPresent);
        let other = yajin_testdb::TestDb::sqlite().await;
        let other_app = self::app(&other.db);
        provisioning::create_merchant(&other_app, &Actor::system(), merchant_input()).await.unwrap();
        assert!(matches!(demo::seed(&other_app).await, Err(AppError::Precondition(_))));
    }

    async fn provisioning_reports_every_bad_field_and_writes_nothing(db) {
        let app = app(&db);
        let input = MerchantInput { merchant_no: "123".into(), phone: "12345".into(), id_card_no: "11010519491231002Y".into(),
            bank_card_no: "abc".into(), name: "".into(), ..merchant_input() };
        let Err(AppError::Fields(errors)) = provisioning::create_merchant(&app, &Actor::system(), input).await else { panic!() };
        let got: Vec<(String, &str)> = errors.into_iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(got, [
            ("merchant_no".to_string(), "invalid_length"), ("phone".to_string(), "invalid_length"),
            ("id_card_no".to_string(), "invalid_format"), ("bank_card_no".to_string(), "invalid_format"),
            ("name".to_string(), "invalid_length"),
        ]);
        let mut conn = db.pool().acquire().await.unwrap();
        assert!(yajin_store::records::counts(&mut conn).await.unwrap().is_empty());
        drop(conn);
        provisioning::create_merchant(&app, &Actor::system(), merchant_input()).await.unwrap();
        let dup = provisioning::create_merchant(&app, &Actor::system(), merchant_input()).await;
        assert!(matches!(dup, Err(AppError::Duplicate { .. })), "{dup:?}");
    }

    async fn a_new_plan_version_never_moves_existing_goalposts(db) {
        let app = app(&db);
        demo::seed(&app).await.unwrap();
        let mut stricter = demo::activation_plan();
        stricter.rule = yajin_core::plan::RefundRule::Activation {
            volume_target_fen: Fen::yuan(50_000), counted_kinds: vec![yajin_core::plan::TxnKind::CreditCard], window_days: 30 };
        let stored = provisioning::create_plan(&app, &Actor::system(), stricter, Replay::none()).await.unwrap().done().unwrap();
        let version = stored.plan.version;
        assert_eq!(version, 2);
        let auto = assess_sn(&app, demo::MERCHANT_A.phone, "DEMO-AUTO-01", false).await;
        assert!(auto.assessment.eligible(), "the snapshot taken at activation still applies");
        let mut bad = demo::activation_plan();
        bad.deposit_fen = Fen::ZERO;
        assert!(matches!(provisioning::create_plan(&app, &Actor::system(), bad, Replay::none()).await, Err(AppError::Fields(_))));
    }
}

async fn notifications_of(app: &App, phone: &str, kind: &str) -> usize {
    let mut conn = app.db.pool().acquire().await.unwrap();
    let m = merchants::by_phone(&mut conn, phone).await.unwrap().unwrap();
    yajin_store::records::notifications::page(&mut conn, &m.id, None, 200)
        .await
        .unwrap()
        .iter()
        .filter(|n| n.kind == kind)
        .count()
}

on_both_databases! {
    async fn reaching_the_target_tells_the_merchant_once(db) {
        let app = app(&db);
        demo::seed(&app).await.unwrap();
        let before = notifications_of(&app, demo::MERCHANT_A.phone, "target_reached").await;
        let mut conn = db.pool().acquire().await.unwrap();
        let a = merchants::by_phone(&mut conn, demo::MERCHANT_A.phone).await.unwrap().unwrap();
        let progress = terminals::by_sn(&mut conn, &a.id, "DEMO-PROGRESS-01").await.unwrap().unwrap();
        drop(conn);
        provisioning::add_usage(&app, &progress.id, Fen::yuan(6_000), yajin_core::plan::TxnKind::CreditCard, NOW.plus_days(-1)).await.unwrap();
        assert_eq!(notifications_of(&app, demo::MERCHANT_A.phone, "target_reached").await, before, "6,000 more is still short");
        provisioning::add_usage(&app, &progress.id, Fen::yuan(500), yajin_core::plan::TxnKind::CreditCard, NOW.plus_days(-1)).await.unwrap();
        assert_eq!(notifications_of(&app, demo::MERCHANT_A.phone, "target_reached").await, before + 1);
        provisioning::add_usage(&app, &progress.id, Fen::yuan(500), yajin_core::plan::TxnKind::CreditCard, NOW.plus_days(-1)).await.unwrap();
        assert_eq!(notifications_of(&app, demo::MERCHANT_A.phone, "target_reached").await, before + 1, "once");
    }

    async fn under_an_auto_apply_plan_nobody_forfeits_for_not_applying(db) {
        let app = app(&db);
        demo::seed(&app).await.unwrap();
        let plan = yajin_core::plan::DepositPlan { code: "ACT-AUTO".into(), auto_apply: true, ..demo::activation_plan() };
        provisioning::create_plan(&app, &Actor::system(), plan, Replay::none()).await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        let b = merchants::by_phone(&mut conn, demo::MERCHANT_B.phone).await.unwrap().unwrap();
        drop(conn);
        let input = provisioning::TerminalInput {
            merchant_id: b.id.clone(), sn: "AUTO-APPLY-01".into(), terminal_id: "B0000009".into(), model: "P2".into(),
            plan_code: "ACT-AUTO".into(), status: yajin_core::eligibility::TerminalStatus::Active, bound_at: NOW.plus_days(-5),
            activated_at: Some(NOW.plus_days(-4)), terminated_at: None, device_returned_at: None,
            deposit: Some(provisioning::DepositInput { amount: Fen::yuan(99), route: "card", route_ref: "x".into(), collected_at: NOW.plus_days(-5) }),
        };
        let terminal = provisioning::create_terminal(&app, &Actor::system(), input).await.unwrap();
        provisioning::add_usage(&app, &terminal, Fen::yuan(10_000), yajin_core::plan::TxnKind::CreditCard, NOW.plus_days(-1)).await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        let open = yajin_store::records::applications::open_for_terminal(&mut conn, &terminal).await.unwrap().expect("applied for them");
        assert_eq!((open.status, open.net_refund, open.bank_card_masked.as_str()), (yajin_core::application::Status::Approved, Fen::yuan(99), "6217 **** **** 0122"));
        let events = yajin_store::records::applications::events(&mut conn, &open.id).await.unwrap();
        assert_eq!(events.iter().map(|e| e.actor_role.as_str()).collect::<Vec<_>>(), ["system", "system"]);
        let held = yajin_store::ledger::balance(&mut conn, &yajin_core::ledger::AccountKey::deposit_held(&terminal)).await.unwrap();
        assert_eq!(held.debits_pending, Fen::yuan(99));
    }
}

async fn count(db: &Db, table: &str) -> i64 {
    use sqlx::Row;
    sqlx::query(&format!("SELECT count(*) AS n FROM {table}")).fetch_one(db.pool()).await.unwrap().try_get("n").unwrap()
}

on_both_databases! {
    async fn pruning_forgets_what_can_no_longer_matter_and_keeps_the_rest(db) {
        use yajin_app::housekeeping::{prune, Retention};
        use yajin_store::records::{idempotency, sessions, throttle};
        let clock = Arc::new(ManualClock::at(Timestamp::from_millis(1_000_000_000_000)));
        let vault = Vault::new(&MasterKey::from_hex(&"22".repeat(32)).unwrap(), &[]);
        let app = App::new(db.clone(), vault, clock.clone(), Arc::new(yajin_channels::sms::SandboxSms));
        let day = 24 * 3_600_000;
        let t0 = yajin_app::Clock::now(clock.as_ref()).millis();
        let mut tx = db.begin_write().await.unwrap();
        for (i, expires) in [t0 - 2 * day, t0 + day].into_iter().enumerate() {
            let s = sessions::Session {
                token_hash: format!("h{i}"),
                principal_kind: "merchant".into(),
                principal_id: "mc_1".into(),
                role: "merchant".into(),
                csrf_hash: "c".into(),
                expires_at: expires,
            };
            sessions::insert(&mut tx, &s, t0 - 3 * day).await.unwrap();
        }
        idempotency::claim(&mut tx, "merchant:mc_1", "old", "h", t0 - 2 * day).await.unwrap();
        idempotency::complete(&mut tx, "merchant:mc_1", "old", 201, b"{}").await.unwrap();
        idempotency::claim(&mut tx, "merchant:mc_1", "new", "h", t0 - 3_600_000).await.unwrap();
        idempotency::complete(&mut tx, "merchant:mc_1", "new", 201, b"{}").await.unwrap();
        throttle::hit(&mut tx, "login-ip:1.2.3.4", 60_000, 5, t0 - 2 * day).await.unwrap();
        throttle::hit(&mut tx, "login-ip:1.2.3.4", 60_000, 5, t0).await.unwrap();
        throttle::hit(&mut tx, "sms-ip:5.6.7.8", 3_600_000, 5, t0 - 2 * day).await.unwrap();
        // Jobs: done 31 days ago, done yesterday, queued long ago (still to run), given up.
        use yajin_store::records::jobs;
        for (key, at) in [("old", t0 - 31 * day), ("recent", t0 - day), ("waiting", t0 - 40 * day), ("dead", t0 - 40 * day)] {
            jobs::enqueue(&mut tx, "sms", key, "{}", at, at).await.unwrap();
        }
        yajin_store::sql::query("UPDATE jobs SET status = 'done' WHERE dedupe_key IN ('old', 'recent')")
            .execute(&mut *tx).await.unwrap();
        yajin_store::sql::query("UPDATE jobs SET status = 'dead' WHERE dedupe_key = 'dead'").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!((count(&db, "sessions").await, count(&db, "idempotency_keys").await, count(&db, "rate_limit_hits").await), (2, 2, 3));

        let pruned = prune(&app, Retention::default()).await.unwrap();
        // Two requests counted two days ago, and the bucket nobody has asked in since.
        assert_eq!((pruned.sessions, pruned.idempotency_keys, pruned.throttles, pruned.jobs), (1, 1, 3, 1));
        let mut conn = db.begin_read().await.unwrap();
        let kept = yajin_store::sql::query("SELECT dedupe_key FROM jobs ORDER BY dedupe_key").fetch_all(&mut *conn).await.unwrap();
        let kept: Vec<String> = kept.iter().map(|r| r.try_get("dedupe_key").unwrap()).collect();
        assert_eq!(kept, ["dead", "recent", "waiting"], "only the job done a month ago is forgotten");
        drop(conn);
        assert_eq!((count(&db, "sessions").await, count(&db, "idempotency_keys").await, count(&db, "rate_limit_hits").await), (1, 1, 1));
        assert_eq!(count(&db, "rate_limit_buckets").await, 1);
        // A key inside its retention still replays its answer.
        let mut tx = db.begin_write().await.unwrap();
        let replay = idempotency::claim(&mut tx, "merchant:mc_1", "new", "h", t0).await.unwrap();
        assert_eq!(replay, idempotency::Claim::Replay { status: 201, body: b"{}".to_vec() });
        drop(tx);
        assert_eq!(prune(&app, Retention::default()).await.unwrap(), Default::default(), "nothing more to forget");
    }
}

on_both_databases! {
    async fn a_batch_of_terminals_writes_what_provisioning_them_one_by_one_would(db) {
        use yajin_app::import::{self, Columns, Kind, Row};
        use yajin_core::ledger::{AccountKey, AccountKind};
        let app = app(&db);
        demo::seed(&app).await.unwrap();
        let clearing = AccountKey::company(AccountKind::ChannelClearing);
        let audited = |db: Db| async move {
            let mut conn = db.pool().acquire().await.unwrap();
            audit::list(&mut conn, Some("terminal"), 0, 100_000).await.unwrap().iter().filter(|r| r.entry.action == "create_terminal").count()
        };
        let (clearing_before, audited_before) = {
            let mut conn = db.pool().acquire().await.unwrap();
            (ledger::balance(&mut conn, &clearing).await.unwrap(), audited(db.clone()).await)
        };
        let header = "merchant_no,sn,terminal_id,model,plan_code,status,bound_at,terminated_at,deposit_amount_fen,deposit_route,deposit_route_ref,deposit_collected_at";
        let at = "2026-09-01T00:00:00Z";
        let lines = [
            // 2: new, with a deposit; 3: new, none.
            format!("822100058120001,BATCH-1,YBATCH01,P2,ACT-99,active,{at},,9900,card,C1,{at}"),
            format!("822100058120001,batch 2,YBATCH02,P2,ACT-99,inactive,{at},,,,,"),
            // 4: line 2 again, the same: there already; 5: line 2's SN on another plan.
            format!("822100058120001,BATCH-1,YBATCH01,P2,ACT-99,active,{at},,9900,card,C1,{at}"),
            format!("822100058120001,BATCH-1,YBATCH01,P2,TERM-299,active,{at},,9900,card,C1,{at}"),
            // 6: a new SN with line 3's terminal id; 7: no such plan; 8: no such merchant.
            format!("822100058120001,BATCH-6,YBATCH02,P2,ACT-99,inactive,{at},,5000,card,C6,{at}"),
            format!("822100058120001,BATCH-7,,P2,NOPE-1,inactive,{at},,,,,"),
            format!("822109999999999,BATCH-8,,P2,ACT-99,inactive,{at},,,,,"),
            // 9: another merchant's, terminated, with a deposit and a generated terminal id.
            format!("822100058120002,BATCH-9,,P2,TERM-299,terminated,{at},2026-11-20T00:00:00Z,29900,wechat,W9,{at}"),
            // 10: a terminal id that does not parse.
            format!("822100058120001,BATCH-10,SHORT,P2,ACT-99,inactive,{at},,,,,"),
            // 11: bound next year; 12: its deposit collected before 2000.
            "822100058120001,BATCH-11,,P2,ACT-99,inactive,2027-06-01T00:00:00Z,,,,,".to_owned(),
            format!("822100058120001,BATCH-12,,P2,ACT-99,inactive,{at},,9900,card,C12,1999-12-31T00:00:00Z"),
        ];
        let columns = Columns::new(Kind::Terminals, &header.split(',').map(String::from).collect::<Vec<_>>()).unwrap();
        let rows = || -> Vec<Row> {
            lines.iter().enumerate().map(|(i, l)| Row { line: i as u64 + 2, fields: l.split(',').map(String::from).collect() }).collect()
        };
        let (tally, errors) = import::load(&app, &Actor::system(), &columns, rows(), false).await.unwrap();
        assert_eq!((tally.rows, tally.loaded, tally.existing, tally.refused), (11, 3, 1, 7), "{errors:?}");
        let refused: Vec<(u64, &str, &str)> = errors.iter().map(|e| (e.line, e.field.as_str(), e.code)).collect();
        assert_eq!(
            refused,
            [
                (5, "sn", "already_exists"),
                (6, "sn or terminal_id", "already_exists"),
                (7, "plan_code", "not_found"),
                (8, "merchant_no", "not_found"),
                (10, "terminal_id", "invalid_length"),
                (11, "bound_at", "out_of_range"),
                (12, "deposit_collected_at", "out_of_range"),
            ]
        );

        // What was written: the three terminals, their two deposits, each deposit's transfer,
        // the clearing account debited by exactly both, one audit entry a terminal.
        let mut conn = db.pool().acquire().await.unwrap();
        let found = terminals::by_sns(&mut conn, &["BATCH-1".into(), "BATCH2".into(), "BATCH-6".into(), "BATCH-9".into()]).await.unwrap();
        let mut sns: Vec<&str> = found.iter().map(|t| t.sn.as_str()).collect();
        sns.sort_unstable();
        assert_eq!(sns, ["BATCH-1", "BATCH-9", "BATCH2"]);
        let b9 = found.iter().find(|t| t.sn == "BATCH-9").unwrap();
        assert_eq!((b9.terminal_id.len(), b9.plan.code.as_str(), b9.terminated_at.is_some()), (8, "TERM-299", true));
        for (sn, fen) in [("BATCH-1", Some(9_900)), ("BATCH2", None), ("BATCH-9", Some(29_900))] {
            let t = found.iter().find(|t| t.sn == sn).unwrap();
            let held = ledger::balance(&mut conn, &AccountKey::deposit_held(&t.id)).await.unwrap();
            assert_eq!(held.credits_posted, Fen::new(fen.unwrap_or(0)), "{sn}");
            let transfers = ledger::by_reference(&mut conn, &t.id).await.unwrap();
            assert_eq!(transfers.iter().map(|(t, _)| t.amount.get()).collect::<Vec<_>>(), fen.into_iter().collect::<Vec<_>>(), "{sn}");
        }
        let clearing_after = ledger::balance(&mut conn, &clearing).await.unwrap();
        assert_eq!(clearing_after.debits_posted.get(), clearing_before.debits_posted.get() + 9_900 + 29_900);
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), [], "every account's counters are its transfers' sums");
        assert_eq!(count(&db, "deposits").await, {
            use sqlx::Row;
            sqlx::query("SELECT count(*) AS n FROM deposits WHERE terminal_id NOT IN (SELECT id FROM terminals WHERE sn LIKE 'BATCH%')")
                .fetch_one(db.pool()).await.unwrap().try_get::<i64, _>("n").unwrap() + 2
        });
        assert_eq!(audited(db.clone()).await, audited_before + 3);
        let chain = audit::verify(&mut conn, &app.vault).await.unwrap();
        assert!(chain.ok, "{chain:?}");
        drop(conn);

        // The same file again adds nothing and answers each row as one at a time would.
        let (tally, errors) = import::load(&app, &Actor::system(), &columns, rows(), false).await.unwrap();
        assert_eq!((tally.rows, tally.loaded, tally.existing, tally.refused), (11, 0, 4, 7), "{errors:?}");
        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(ledger::balance(&mut conn, &clearing).await.unwrap(), clearing_after);
        assert_eq!(audited(db.clone()).await, audited_before + 3);

        // One at a time through the provisioning call gives the same answers.
        let one = |line: usize, plan: &str| {
            let f: Vec<&str> = lines[line - 2].split(',').collect();
            provisioning::TerminalInput {
                merchant_id: String::new(),
                sn: f[1].into(),
                terminal_id: f[2].into(),
                model: f[3].into(),
                plan_code: plan.into(),
                status: yajin_core::eligibility::TerminalStatus::parse(f[5]).unwrap(),
                bound_at: Timestamp::parse_rfc3339(at).unwrap(),
                activated_at: None,
                terminated_at: None,
                device_returned_at: None,
                deposit: None,
            }
        };
        let system = Actor::system();
        let provision = |no: &'static str, input| yajin_app::onboarding::terminal(&app, &system, no, input);
        assert!(matches!(provision("822100058120001", one(3, "ACT-99")).await, Ok(yajin_app::onboarding::Provisioned::Existing(_))));
        assert!(matches!(provision("822100058120001", one(2, "TERM-299")).await, Err(AppError::Duplicate { field: "sn" })));
        assert!(matches!(provision("822100058120001", one(6, "ACT-99")).await, Err(AppError::Duplicate { field: "sn or terminal_id" })));
        assert!(matches!(provision("822100058120001", one(7, "NOPE-1")).await, Err(AppError::NotFound("deposit plan"))));
    }
}

on_both_databases! {
    async fn outstanding_items_load_once_even_from_two_imports_at_once(db) {
        use yajin_app::import::{self, Columns, Kind, Row};
        use yajin_core::ledger::{AccountKey, AccountKind};
        let app = app(&db);
        demo::seed(&app).await.unwrap();
        let fee_revenue = AccountKey::company(AccountKind::FeeRevenue);
        let (revenue_before, items_before) = {
            let mut conn = db.pool().acquire().await.unwrap();
            (ledger::balance(&mut conn, &fee_revenue).await.unwrap().credits_posted.get(), count(&db, "outstanding_items").await)
        };
        let columns = Columns::new(Kind::OutstandingItems, &["sn", "kind", "amount_fen", "due_at"].map(String::from)).unwrap();
        let lines = [
            "DEMO-AUTO-01,service_fee,6000,2026-11-01T00:00:00Z",
            "demo-b-01,sim_fee,1200,2026-11-01T00:00:00Z",
            // 4: line 2 again: one item; 5: no such terminal; 6: nothing owed; 7: no such kind.
            "DEMO-AUTO-01,service_fee,6000,2026-11-01T00:00:00Z",
            "NOPE-1,service_fee,6000,2026-11-01T00:00:00Z",
            "DEMO-AUTO-01,service_fee,0,2026-11-01T00:00:00Z",
            "DEMO-AUTO-01,late_fee,100,2026-11-01T00:00:00Z",
            // 8: the same terminal, kind and amount, due another day: another item.
            "DEMO-AUTO-01,service_fee,6000,2026-12-01T00:00:00Z",
            // 9: due in 2100.
            "DEMO-AUTO-01,service_fee,6000,2100-01-01T00:00:00Z",
        ];
        let rows = || -> Vec<Row> {
            lines.iter().enumerate().map(|(i, l)| Row { line: i as u64 + 2, fields: l.split(',').map(String::from).collect() }).collect()
        };
        let system = Actor::system();
        let (tally, errors) = import::load(&app, &system, &columns, rows(), true).await.unwrap();
        assert_eq!((tally.loaded, tally.existing, tally.refused), (3, 1, 4), "{errors:?}");
        assert_eq!(count(&db, "outstanding_items").await, items_before, "a dry run writes nothing");

        // Two imports of the file at once: each item is owed once.
        let (a, b) = tokio::join!(
            import::load(&app, &system, &columns, rows(), false),
            import::load(&app, &system, &columns, rows(), false)
        );
        let ((a, errors), (b, _)) = (a.unwrap(), b.unwrap());
        assert_eq!((a.loaded + b.loaded, a.existing + b.existing, a.refused, b.refused), (3, 5, 4, 4));
        let refused: Vec<(u64, &str, &str)> = errors.iter().map(|e| (e.line, e.field.as_str(), e.code)).collect();
        assert_eq!(
            refused,
            [(5, "sn", "not_found"), (6, "amount_fen", "out_of_range"), (7, "kind", "invalid_value"), (9, "due_at", "out_of_range")]
        );
        assert_eq!(count(&db, "outstanding_items").await, items_before + 3);
        let mut conn = db.pool().acquire().await.unwrap();
        let revenue = ledger::balance(&mut conn, &fee_revenue).await.unwrap().credits_posted.get();
        assert_eq!(revenue, revenue_before + 6000 + 1200 + 6000, "each charge accrued once");
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), []);
        let added = audit::list(&mut conn, Some("outstanding_item"), 0, 1_000).await.unwrap();
        assert_eq!(added.iter().filter(|r| r.entry.action == "add_outstanding").count() as i64, count(&db, "outstanding_items").await);
        assert!(audit::verify(&mut conn, &app.vault).await.unwrap().ok);
        // The errors come in the file's order, a row cut short among them.
        let cut = vec![
            Row { line: 2, fields: "DEMO-AUTO-01,late_fee,100,2026-11-01T00:00:00Z".split(',').map(String::from).collect() },
            Row { line: 3, fields: vec!["DEMO-AUTO-01".into(), "service_fee".into()] },
        ];
        let (_, errors) = import::load(&app, &system, &columns, cut, true).await.unwrap();
        assert_eq!(errors.iter().map(|e| (e.line, e.code)).collect::<Vec<_>>(), [(2, "invalid_value"), (3, "wrong_column_count")]);
        // What merchant B owes now blocks B's refund as any item does.
        let b = assess_sn(&app, demo::MERCHANT_B.phone, "DEMO-B-01", false).await;
        assert!(b.owed.iter().any(|o| (o.kind.as_str(), o.amount_fen) == ("sim_fee", Fen::new(1200))), "{:?}", b.owed);
    }
}

on_both_databases! {
    async fn merchants_load_several_at_once_as_if_one_by_one(db) {
        use yajin_app::import::{self, Columns, Kind, Row};
        let app = app(&db);
        demo::seed(&app).await.unwrap();
        let header = ["merchant_no", "name", "phone", "password", "id_card_no", "bank_card_no", "bank_name"].map(String::from);
        let columns = Columns::new(Kind::Merchants, &header).unwrap();
        let person = "11010519491231002X,6222021234567890128,工商银行";
        let lines = [
            format!("822100058129201,甲店,13900000201,Shop@2026x,{person}"),
            format!("822100058129202,乙店,13900000202,Shop@2026x,{person}"),
            // 4: line 2 again, the same; 5: another number with line 3's phone; 6: a bad phone.
            format!("822100058129201,甲店,13900000201,Shop@2026x,{person}"),
            format!("822100058129203,丙店,13900000202,Shop@2026x,{person}"),
            format!("822100058129204,丁店,1390000,Shop@2026x,{person}"),
            // 7: line 2's number under another name.
            format!("822100058129201,别的店,13900000209,Shop@2026x,{person}"),
            format!("822100058129205,戊店,13900000205,Shop@2026x,{person}"),
        ];
        let rows: Vec<Row> =
            lines.iter().enumerate().map(|(i, l)| Row { line: i as u64 + 2, fields: l.split(',').map(String::from).collect() }).collect();
        let merchants_before = count(&db, "merchants").await;
        let (tally, errors) = import::load(&app, &Actor::system(), &columns, rows, false).await.unwrap();
        assert_eq!((tally.rows, tally.loaded, tally.existing, tally.refused), (7, 3, 1, 3), "{errors:?}");
        let refused: Vec<(u64, &str, &str)> = errors.iter().map(|e| (e.line, e.field.as_str(), e.code)).collect();
        assert_eq!(
            refused,
            [(5, "merchant_no or phone", "already_exists"), (6, "phone", "invalid_length"), (7, "merchant_no", "already_exists")]
        );
        assert_eq!(count(&db, "merchants").await, merchants_before + 3);
        // Each can sign in with the password of its row.
        for phone in ["13900000201", "13900000202", "13900000205"] {
            let session = yajin_app::auth::login(&app, yajin_app::auth::Kind::Merchant, phone, "Shop@2026x".into(), None, "203.0.113.7").await;
            assert!(session.is_ok(), "{phone}: {:?}", session.err());
        }
    }
}

on_both_databases! {
    async fn two_imports_of_one_terminals_file_at_once_collect_each_deposit_once(db) {
        use yajin_app::import::{self, Columns, Kind, Row};
        use yajin_core::ledger::{AccountKey, AccountKind};
        let app = app(&db);
        demo::seed(&app).await.unwrap();
        let clearing = AccountKey::company(AccountKind::ChannelClearing);
        let before = {
            let mut conn = db.pool().acquire().await.unwrap();
            ledger::balance(&mut conn, &clearing).await.unwrap().debits_posted.get()
        };
        let (deposits_before, terminals_before) = (count(&db, "deposits").await, count(&db, "terminals").await);
        let header = "merchant_no,sn,model,plan_code,status,bound_at,deposit_amount_fen,deposit_route,deposit_route_ref,deposit_collected_at";
        let columns = Columns::new(Kind::Terminals, &header.split(',').map(String::from).collect::<Vec<_>>()).unwrap();
        let rows = || -> Vec<Row> {
            (0..40)
                .map(|i| Row {
                    line: i + 2,
                    fields: format!("822100058120001,TWICE-{i:03},P2,ACT-99,inactive,2026-09-01T00:00:00Z,9900,card,R{i},2026-09-01T00:00:00Z")
                        .split(',').map(String::from).collect(),
                })
                .collect()
        };
        let system = Actor::system();
        let (a, b) = tokio::join!(
            import::load(&app, &system, &columns, rows(), false),
            import::load(&app, &system, &columns, rows(), false)
        );
        let ((a, _), (b, _)) = (a.unwrap(), b.unwrap());
        assert_eq!((a.loaded + b.loaded, a.existing + b.existing, a.refused + b.refused), (40, 40, 0));
        assert_eq!((count(&db, "terminals").await, count(&db, "deposits").await), (terminals_before + 40, deposits_before + 40));
        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(ledger::balance(&mut conn, &clearing).await.unwrap().debits_posted.get(), before + 40 * 9_900, "each deposit collected once");
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), []);
        assert!(audit::verify(&mut conn, &app.vault).await.unwrap().ok);
    }

    async fn a_batch_of_submits_answers_each_as_if_it_came_alone(db) {
        // Submits from many requests are written a batch at a time (PostgreSQL): each must get
        // what it would get alone, whatever the others in its batch are.
        use yajin_app::applications::{self, ApplyError, ApplyInput, Submit};
        use yajin_app::idempotency::{Key, Outcome};
        use yajin_core::application::Status;
        let app = app(&db);
        demo::seed(&app).await.unwrap();
        let (a, b) = (merchant_id(&db, &demo::MERCHANT_A).await, merchant_id(&db, &demo::MERCHANT_B).await);
        let form = refund_form;
        let render: yajin_app::idempotency::Render<'static, applications::ApplicationDetail> =
            Arc::new(|d| format!("{} {:?}", d.application.id, d.application.status).into_bytes());
        let keyed = |merchant: &str, key: &str, input: &ApplyInput| {
            let key = Key { principal: format!("merchant:{merchant}"), key: key.into(), request_hash: format!("{input:?}") };
            Replay::maybe(Some(key), 201, render.clone())
        };
        let submit = |merchant: &str, input: ApplyInput, key: Option<&str>| Submit {
            merchant_id: merchant.to_owned(),
            replay: key.map_or_else(Replay::none, |k| keyed(merchant, k, &input)),
            input,
        };
        let review = form(&demo::MERCHANT_A, "DEMO-REVIEW-01");
        let owes = form(&demo::MERCHANT_A, "DEMO-OWES-01");
        let batch = vec![
            submit(&a, review.clone(), Some("k-review")),
            // Approved by the system at once.
            submit(&a, form(&demo::MERCHANT_A, "DEMO-AUTO-01"), Some("k-auto")),
            // Owes a fee it did not agree to have deducted: refused, its key given up.
            submit(&a, owes.clone(), Some("k-owes")),
            submit(&a, ApplyInput { id_card_no: demo::MERCHANT_B.id_card_no.into(), ..form(&demo::MERCHANT_A, "DEMO-PROGRESS-01") }, None),
            submit(&a, form(&demo::MERCHANT_A, "NO-SUCH-01"), None),
            // Another merchant's terminal, and merchant B's own.
            submit(&a, form(&demo::MERCHANT_A, "DEMO-B-01"), None),
            submit(&b, form(&demo::MERCHANT_B, "DEMO-B-01"), Some("k-review")),
            // The first one's terminal again, under another key; then its key again.
            submit(&a, review.clone(), Some("k-again")),
            submit(&a, review.clone(), Some("k-review")),
            submit(&a, ApplyInput { bank_card_no: "123".into(), ..review.clone() }, None),
        ];
        let answers = applications::submit_many(&app, &batch).await;
        assert_eq!(answers.len(), batch.len());
        let mut answers = answers.into_iter();
        let mut next = || answers.next().unwrap();
        let first = next().unwrap().done().expect("submitted");
        assert_eq!((first.application.status, first.terminal_sn.as_deref()), (Status::Submitted, Some("DEMO-REVIEW-01")));
        let auto = next().unwrap().done().expect("submitted");
        assert_eq!(auto.application.status, Status::Approved, "approved by the system in the same transaction");
        assert!(matches!(next(), Err(ApplyError::NotEligible(_))));
        assert!(matches!(next(), Err(ApplyError::IdentityMismatch(_))));
        assert!(matches!(next(), Err(ApplyError::TerminalNotFound)));
        assert!(matches!(next(), Err(ApplyError::TerminalNotFound)), "another merchant's terminal is not found");
        let of_b = next().unwrap().done().expect("merchant B's own, under a key of the same name");
        assert_eq!(of_b.application.merchant_id, b);
        match next() {
            Err(ApplyError::AlreadyOpen { application_id, .. }) => assert_eq!(application_id, Some(first.application.id.clone())),
            other => panic!("{other:?}"),
        }
        let replayed = next().unwrap();
        assert_eq!(replayed, Outcome::Replayed { status: 201, body: render(&first) }, "the key's first answer");
        assert!(matches!(next(), Err(ApplyError::Fields(_))));

        // What each answer said is what is stored, and what a replay says.
        for (merchant, detail) in [(&a, &first), (&a, &auto), (&b, &of_b)] {
            assert_eq!(&applications::detail(&app, merchant, &detail.application.id).await.unwrap(), detail);
        }
        let again = applications::submit(&app, &a, &review, keyed(&a, "k-review", &review)).await.unwrap();
        assert_eq!(again, Outcome::Replayed { status: 201, body: render(&first) });
        let again = applications::submit(&app, &a, &form(&demo::MERCHANT_A, "DEMO-AUTO-01"), keyed(&a, "k-auto", &form(&demo::MERCHANT_A, "DEMO-AUTO-01"))).await.unwrap();
        assert_eq!(again, Outcome::Replayed { status: 201, body: render(&auto) });
        // The refused request's key is free: corrected, the retry under it goes through.
        let corrected = ApplyInput { deduct_outstanding: true, ..owes };
        let retried = applications::submit(&app, &a, &corrected, keyed(&a, "k-owes", &corrected)).await.unwrap();
        assert_eq!(retried.done().expect("submitted").application.deducted, Fen::yuan(60));
        // The wrong ID card counted against the merchant, once.
        let mut conn = db.pool().acquire().await.unwrap();
        let misses = yajin_store::records::identity_misses::count_since(&mut conn, &a, 0).await.unwrap();
        assert_eq!(misses, 1);
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), []);
        assert!(audit::verify(&mut conn, &app.vault).await.unwrap().ok);
    }

    async fn a_batch_of_approvals_made_at_once_reserves_each_ones_money(db) {
        // The system's approvals in a batch of submits reserve their money together, last:
        // each deposit must still hold back its own refund and fee, and each refund be queued.
        use yajin_app::applications::{self, Submit};
        use yajin_core::application::Status;
        use yajin_core::ledger::{AccountKey, AccountKind};
        let app = app(&db);
        demo::seed(&app).await.unwrap();
        let a = merchant_id(&db, &demo::MERCHANT_A).await;
        let sns = demo::add_eligible_terminals(&app, "LOAD", 5).await.unwrap();
        let batch: Vec<Submit> = sns
            .iter()
            .map(|sn| Submit { merchant_id: a.clone(), input: refund_form(&demo::MERCHANT_A, sn), replay: Replay::none() })
            .chain([Submit { merchant_id: a.clone(), input: refund_form(&demo::MERCHANT_A, "DEMO-REVIEW-01"), replay: Replay::none() }])
            .collect();
        let answers = applications::submit_many(&app, &batch).await;
        let details: Vec<_> = answers.into_iter().map(|a| a.unwrap().done().expect("submitted")).collect();
        assert_eq!(details.iter().filter(|d| d.application.status == Status::Approved).count(), 5);
        assert_eq!(details[5].application.status, Status::Submitted, "left for staff, nothing reserved");
        let mut conn = db.pool().acquire().await.unwrap();
        let mut reserved = Fen::ZERO;
        for d in &details {
            let held = ledger::balance(&mut conn, &AccountKey::deposit_held(&d.application.terminal_id)).await.unwrap();
            let expected = if d.application.status == Status::Approved {
                d.application.net_refund.checked_add(d.application.fee).unwrap()
            } else {
                Fen::ZERO
            };
            assert_eq!(held.debits_pending, expected, "{}", d.application.id);
            if d.application.status == Status::Approved {
                reserved = reserved.checked_add(d.application.net_refund).unwrap();
            }
        }
        let in_flight = ledger::balance(&mut conn, &AccountKey::company(AccountKind::RefundsInFlight)).await.unwrap();
        assert_eq!(in_flight.credits_pending, reserved);
        let queued: (i64,) = sqlx::query_as("SELECT count(*) FROM jobs WHERE kind = 'payout'").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(queued.0, 5, "each approval's payout queued");
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), []);
        assert!(audit::verify(&mut conn, &app.vault).await.unwrap().ok);
    }

    async fn a_batch_that_loses_a_race_for_a_terminal_submits_each_alone(db) {
        // Another server's application for a terminal of the batch commits while the batch
        // writes: the batch's statement fails on the one-open-application index, and each of
        // its submits is then made alone. Nothing is written twice, nothing is lost.
        use yajin_app::applications::{self, ApplyError, Submit};
        use yajin_core::ids::BankCardNo;
        use yajin_store::records::applications as stored;
        let app = app(&db);
        demo::seed(&app).await.unwrap();
        let sns = demo::add_eligible_terminals(&app, "RACE", 2).await.unwrap();
        let a = merchant_id(&db, &demo::MERCHANT_A).await;
        let t2 = assess_sn(&app, demo::MERCHANT_A.phone, &sns[1], false).await.terminal;
        let card = BankCardNo::parse(demo::MERCHANT_A.bank_card_no).unwrap();
        let mut other = db.begin_write().await.unwrap();
        let theirs = stored::NewApplication {
            merchant_id: &a,
            terminal_id: &t2.id,
            reason: "stop_using",
            note: "",
            amount: Fen::yuan(99),
            fee: Fen::ZERO,
            deducted: Fen::ZERO,
            net_refund: Fen::yuan(99),
            deduct_outstanding: false,
            bank_card: &card,
            four_eyes_required: false,
        };
        let theirs = stored::insert(&mut other, &app.vault, &theirs, NOW.millis()).await.unwrap().id;
        let batch: Vec<Submit> = sns
            .iter()
            .map(|sn| Submit { merchant_id: a.clone(), input: refund_form(&demo::MERCHANT_A, sn), replay: Replay::none() })
            .collect();
        let running = {
            let app = app.clone();
            tokio::spawn(async move { applications::submit_many(&app, &batch).await })
        };
        // Let the batch read and reach its insert (on PostgreSQL it then waits on the index;
        // on SQLite it waits for the one writer), then let the other application commit.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        other.commit().await.unwrap();
        let answers = running.await.unwrap();
        let mut answers = answers.into_iter();
        let ours = answers.next().unwrap().unwrap().done().expect("the other terminal's submit goes through");
        assert_eq!(ours.terminal_sn.as_deref(), Some(sns[0].as_str()));
        match answers.next().unwrap() {
            Err(ApplyError::AlreadyOpen { application_id, .. }) => assert_eq!(application_id, Some(theirs)),
            other => panic!("{other:?}"),
        }
        let mut conn = db.pool().acquire().await.unwrap();
        let t1 = assess_sn(&app, demo::MERCHANT_A.phone, &sns[0], false).await.terminal;
        let open = stored::open_for_terminal(&mut conn, &t1.id).await.unwrap().expect("one open application");
        assert_eq!(open.id, ours.application.id);
        let page = stored::page_of_merchant(&mut conn, &a, None, 100).await.unwrap();
        assert_eq!(page.iter().filter(|x| x.terminal_id == t1.id).count(), 1, "written once");
        assert_eq!(page.iter().filter(|x| x.terminal_id == t2.id).count(), 1, "only theirs");
    }

    async fn many_submits_at_once_with_retries_make_one_application_a_terminal(db) {
        // Sixty submits at once, through the batches (PostgreSQL) or the writer (SQLite): for
        // each of twenty terminals a request, its retry under the same key, and another
        // request under another key. Each terminal gets one application; a retry answered
        // at all is answered with the first answer.
        use yajin_app::applications::{self, ApplyError};
        use yajin_app::idempotency::{Key, Outcome};
        let app = app(&db);
        demo::seed(&app).await.unwrap();
        let sns = demo::add_eligible_terminals(&app, "MANY", 20).await.unwrap();
        let a = merchant_id(&db, &demo::MERCHANT_A).await;
        let render: yajin_app::idempotency::Render<'static, applications::ApplicationDetail> =
            Arc::new(|d| d.application.id.clone().into_bytes());
        let mut running = Vec::new();
        for sn in &sns {
            let input = refund_form(&demo::MERCHANT_A, sn);
            for key in [format!("{sn}-1"), format!("{sn}-1"), format!("{sn}-2")] {
                let (app, a, input, render) = (app.clone(), a.clone(), input.clone(), render.clone());
                running.push(tokio::spawn(async move {
                    let key = Key { principal: format!("merchant:{a}"), key, request_hash: "same body".into() };
                    applications::submit(&app, &a, &input, Replay::maybe(Some(key), 201, render)).await
                }));
            }
        }
        let mut answers = Vec::new();
        for task in running {
            answers.push(task.await.unwrap());
        }
        let mut conn = db.pool().acquire().await.unwrap();
        let mut reserved = Fen::ZERO;
        for (sn, three) in sns.iter().zip(answers.chunks(3)) {
            let terminal = assess_sn(&app, demo::MERCHANT_A.phone, sn, false).await.terminal;
            let open = yajin_store::records::applications::open_for_terminal(&mut conn, &terminal.id).await.unwrap();
            let open = open.expect("one application");
            // The system approved it at once and reserved its money once, from its own deposit.
            assert_eq!(open.status, yajin_core::application::Status::Approved, "{sn}");
            let held = ledger::balance(&mut conn, &yajin_core::ledger::AccountKey::deposit_held(&terminal.id)).await.unwrap();
            assert_eq!(held.debits_pending, open.amount, "{sn}: reserved once");
            reserved = reserved.checked_add(open.net_refund).unwrap();
            let open = open.id;
            let done: Vec<&String> = three.iter().filter_map(|a| match a {
                Ok(Outcome::Done(detail)) => Some(&detail.application.id),
                _ => None,
            }).collect();
            assert_eq!(done, vec![&open], "{sn}: {three:?}");
            for answer in three {
                match answer {
                    Ok(Outcome::Done(_)) => {}
                    Ok(Outcome::Replayed { body, .. }) => assert_eq!(body, open.as_bytes(), "{sn}"),
                    Err(ApplyError::AlreadyOpen { application_id, .. }) => assert_eq!(application_id.as_ref(), Some(&open)),
                    other => panic!("{sn}: {other:?}"),
                }
            }
        }
        let page = yajin_store::records::applications::page_of_merchant(&mut conn, &a, None, 200).await.unwrap();
        assert_eq!(page.iter().filter(|x| x.reason == "stop_using").count(), 20, "one application a terminal");
        let in_flight = yajin_core::ledger::AccountKey::company(yajin_core::ledger::AccountKind::RefundsInFlight);
        assert_eq!(ledger::balance(&mut conn, &in_flight).await.unwrap().credits_pending, reserved, "each net once");
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), []);
    }
}

/// A bank that holds each payout until `crowd` of them are in flight at once (or 10 s pass),
/// then pays everything at once (with a crowd of one, each at once); it counts what it was sent.
struct CrowdedBank {
    crowd: usize,
    in_flight: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    gathered: tokio::sync::Notify,
    paid: std::sync::Mutex<Vec<String>>,
}

impl CrowdedBank {
    fn new(crowd: usize) -> Arc<CrowdedBank> {
        Arc::new(CrowdedBank {
            crowd,
            in_flight: Default::default(),
            most: Default::default(),
            gathered: tokio::sync::Notify::new(),
            paid: Default::default(),
        })
    }
}

impl yajin_channels::payout::PayoutChannel for CrowdedBank {
    fn name(&self) -> &str {
        "sandbox"
    }

    fn pay<'a>(&'a self, order: &'a yajin_channels::payout::PayoutOrder) -> yajin_channels::payout::ChannelFuture<'a> {
        use std::sync::atomic::Ordering::SeqCst;
        Box::pin(async move {
            let now = self.in_flight.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(now, SeqCst);
            let waiting = self.gathered.notified();
            if now >= self.crowd {
                self.gathered.notify_waiters();
            } else if self.most.load(SeqCst) < self.crowd {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(10), waiting).await;
            }
            self.paid.lock().unwrap().push(order.payout_id.clone());
            self.in_flight.fetch_sub(1, SeqCst);
            Ok(yajin_channels::payout::BankStatus::Succeeded {
                bank_reference: format!("B{}", order.payout_id.len()),
                paid_at_ms: NOW.millis(),
            })
        })
    }

    fn payout_status<'a>(&'a self, payout_id: &'a str) -> yajin_channels::payout::ChannelFuture<'a> {
        let known = self.paid.lock().unwrap().iter().any(|p| p == payout_id);
        Box::pin(async move {
            Ok(if known {
                yajin_channels::payout::BankStatus::Succeeded { bank_reference: "B".into(), paid_at_ms: NOW.millis() }
            } else {
                yajin_channels::payout::BankStatus::NotFound
            })
        })
    }

    fn collect<'a>(
        &'a self,
        _: &'a yajin_channels::payout::CollectionOrder,
    ) -> yajin_channels::payout::ChannelFuture<'a> {
        Box::pin(async { Err(yajin_channels::payout::ChannelError::NotDone("no collections here".into())) })
    }

    fn collection_status<'a>(&'a self, _: &'a str) -> yajin_channels::payout::ChannelFuture<'a> {
        Box::pin(async { Ok(yajin_channels::payout::BankStatus::NotFound) })
    }
}

/// The demo data set with `n` more of merchant A's terminals past their target, SNs
/// `PREFIX-00001` …; the merchant's id and the SNs.
async fn eligible(app: &App, prefix: &str, n: usize) -> (String, Vec<String>) {
    demo::seed(app).await.unwrap();
    let merchant = merchant_id(&app.db, &demo::MERCHANT_A).await;
    (merchant, demo::add_eligible_terminals(app, prefix, n).await.unwrap())
}

/// Submits the activation refund of each terminal; the refusals, by SN.
async fn apply_for(app: &App, merchant: &str, sns: &[String]) -> Vec<String> {
    let mut refused = Vec::new();
    for sn in sns {
        let form = yajin_app::applications::ApplyInput {
            reason: "target_reached".into(),
            ..refund_form(&demo::MERCHANT_A, sn)
        };
        match yajin_app::applications::submit(app, merchant, &form, Replay::none()).await {
            Ok(done) => assert_eq!(done.done().unwrap().application.status.as_str(), "approved", "{sn}"),
            Err(e) => refused.push(format!("{sn}: {e}")),
        }
    }
    refused
}

/// Waits (up to 60 s) until `n` applications for terminals whose SN starts with `prefix` are
/// refunded.
async fn until_refunded(db: &Db, prefix: &str, n: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let mut conn = db.begin_read().await.unwrap();
        let refunded: i64 = yajin_store::sql::query(
            "SELECT count(*) AS n FROM refund_applications a JOIN terminals t ON t.id = a.terminal_id
             WHERE t.sn LIKE $1 AND a.status = 'refunded'",
        )
        .bind(format!("{prefix}-%"))
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
        if refunded == n {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{n} refunds not paid in 60 s: {refunded} were");
        drop(conn);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

on_both_databases! {
    async fn the_worker_pays_as_many_refunds_at_once_as_it_is_told_and_each_once(db) {
        use std::sync::atomic::Ordering::SeqCst;
        let app = app(&db);
        let (merchant, sns) = eligible(&app, "CROWD", 30).await;
        assert_eq!(apply_for(&app, &merchant, &sns).await, Vec::<String>::new());
        let bank = CrowdedBank::new(6);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(yajin_app::worker::work(app.clone(), bank.clone(), "crowd".into(), 30_000, 6, stopped));
        until_refunded(&db, "CROWD", 30).await;
        assert_eq!(bank.most.load(SeqCst), 6, "six payouts were at the bank at once, never more");
        let mut paid = bank.paid.lock().unwrap().clone();
        paid.sort();
        paid.dedup();
        assert_eq!(paid.len(), 30, "each refund paid once");
        stop.send(true).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), worker).await.expect("the worker stops").unwrap();
    }

    async fn approvals_and_paid_refunds_at_once_never_stop_each_other(db) {
        // Each automatic approval reserves money (the shared refunds-in-flight account) and
        // writes the audit chain; each payout's success posts it and writes the chain. Taken
        // in opposite orders, PostgreSQL stopped one of each such pair as a deadlock.
        let app = app(&db);
        let (merchant, sns) = eligible(&app, "BUSY", 96).await;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker =
            tokio::spawn(yajin_app::worker::work(app.clone(), CrowdedBank::new(1), "busy".into(), 30_000, 16, stopped));
        let mut submitters = Vec::new();
        for share in sns.chunks(12) {
            let (app, merchant, share) = (app.clone(), merchant.clone(), share.to_vec());
            submitters.push(tokio::spawn(async move { apply_for(&app, &merchant, &share).await }));
        }
        let mut refused = Vec::new();
        for s in submitters {
            refused.extend(s.await.unwrap());
        }
        assert_eq!(refused, Vec::<String>::new(), "every submit went through");
        until_refunded(&db, "BUSY", 96).await;
        let mut conn = db.begin_read().await.unwrap();
        let failed = yajin_store::sql::query("SELECT count(*) AS n FROM jobs WHERE last_error IS NOT NULL")
            .fetch_one(&mut *conn).await.unwrap().try_get::<i64, _>("n").unwrap();
        assert_eq!(failed, 0, "no job had to run again");
        drop(conn);
        stop.send(true).unwrap();
        worker.await.unwrap();
    }
}
