//! The store on both databases: migrations, the ledger's conditional updates, the one-open-
//! application rule, conditional state changes, the audit chain, personal data at rest.
//! Races are real: many tasks, many connections, one database.

use std::sync::Arc;

use yajin_core::application::{Role, Status};
use yajin_core::eligibility::TerminalStatus;
use yajin_core::ids::{BankCardNo, IdCardNo, MerchantNo, PhoneNo, TerminalId, TerminalSn};
use yajin_core::ledger::{postings, AccountKey, Created, LedgerError};
use yajin_core::plan::{DepositPlan, FeeRule, RefundRule, TxnKind};
use yajin_core::{Fen, Timestamp};
use yajin_store::audit::{self, AuditEntry};
use yajin_store::migrate::{self, Migration};
use yajin_store::pii::{MasterKey, Vault};
use yajin_store::records::{applications, merchants, plans, terminals};
use yajin_store::{ledger, Db, StoreError};
use yajin_testdb::on_both_databases;

fn vault() -> Vault {
    Vault::new(&MasterKey::from_hex(&"11".repeat(32)).unwrap(), &[])
}

fn plan() -> DepositPlan {
    DepositPlan {
        code: "TERM-299".into(),
        version: 1,
        name: "退机退押金".into(),
        deposit_fen: Fen::yuan(299),
        rule: RefundRule::Termination { refund_window_days: 180, device_return_required: true },
        fee: FeeRule::NONE,
        auto_approve: false,
        four_eyes_threshold_fen: Fen::yuan(200),
        auto_apply: false,
    }
}

struct Fixture {
    merchant_id: String,
    terminal_id: String,
}

async fn merchant_with_terminal(db: &Db, phone: &str, sn: &str) -> Fixture {
    let mut tx = db.begin_write().await.unwrap();
    let merchant_id = merchants::insert(
        &mut tx,
        &vault(),
        &merchants::NewMerchant {
            merchant_no: MerchantNo::parse(&format!("8221000581{}", &phone[6..])).unwrap(),
            name: "演示便利店".into(),
            phone: PhoneNo::parse(phone).unwrap(),
            password_hash: "x".into(),
            id_card: IdCardNo::parse("310115198506151236").unwrap(),
            bank_card: BankCardNo::parse("6222021234567890128").unwrap(),
            bank_name: "工商银行".into(),
        },
        0,
    )
    .await
    .unwrap();
    let plan_id = match plans::latest(&mut tx, "TERM-299").await.unwrap() {
        Some((id, _)) => id,
        None => plans::insert(&mut tx, &plan(), "test", 0).await.unwrap(),
    };
    let terminal_id = terminals::insert(
        &mut tx,
        &terminals::NewTerminal {
            merchant_id: merchant_id.clone(),
            sn: TerminalSn::parse(sn).unwrap(),
            terminal_id: TerminalId::parse(&format!("T{}", &phone[4..])).unwrap(),
            model: "P2".into(),
            status: TerminalStatus::Active,
            plan_id,
            plan_snapshot: plan(),
            bound_at: Timestamp::from_millis(0),
            activated_at: Some(Timestamp::from_millis(0)),
            terminated_at: None,
            device_returned_at: None,
        },
        0,
    )
    .await
    .unwrap();
    ledger::create(&mut tx, &[postings::collect_deposit(&terminal_id, Fen::yuan(299))], 0).await.unwrap();
    tx.commit().await.unwrap();
    Fixture { merchant_id, terminal_id }
}

fn new_application<'a>(f: &'a Fixture, card: &'a BankCardNo) -> applications::NewApplication<'a> {
    applications::NewApplication {
        merchant_id: &f.merchant_id,
        terminal_id: &f.terminal_id,
        reason: "stop_using",
        note: "",
        amount: Fen::yuan(299),
        fee: Fen::ZERO,
        deducted: Fen::ZERO,
        net_refund: Fen::yuan(299),
        deduct_outstanding: false,
        bank_card: card,
        four_eyes_required: true,
    }
}

async fn submit(db: &Db, f: &Fixture) -> Result<String, StoreError> {
    let card = BankCardNo::parse("6222021234567890128").unwrap();
    let mut tx = db.begin_write().await?;
    let id = applications::insert(&mut tx, &vault(), &new_application(f, &card), 1).await?;
    tx.commit().await?;
    Ok(id)
}

on_both_databases! {
    async fn migrations_are_idempotent_and_versioned(db) {
        assert_eq!(migrate::current_version(&db).await.unwrap(), migrate::latest_version(db.backend()));
        let again = migrate::migrate(&db, 0).await.unwrap();
        assert!(again.applied.is_empty(), "nothing left to apply: {again:?}");
    }

    async fn a_database_from_a_newer_yajin_is_refused(db) {
        sqlx::query("INSERT INTO yajin_schema (version, name, checksum, applied_at) VALUES (999, 'future', 'x', 0)")
            .execute(db.pool()).await.unwrap();
        let err = migrate::migrate(&db, 0).await.unwrap_err();
        assert!(matches!(err, StoreError::SchemaTooNew { found: 999, .. }), "{err}");
        assert!(err.to_string().contains("newer than this yajin"), "{err}");
    }

    async fn an_edited_migration_is_refused(db) {
        sqlx::query("UPDATE yajin_schema SET checksum = 'edited' WHERE version = 1").execute(db.pool()).await.unwrap();
        let err = migrate::migrate(&db, 0).await.unwrap_err();
        assert!(matches!(err, StoreError::SchemaChanged { version: 1 }), "{err}");
    }

    async fn a_failing_migration_applies_nothing(db) {
        let steps = [
            Migration { version: 2, name: "good", sql: "CREATE TABLE step_two (id BIGINT PRIMARY KEY)" },
            Migration { version: 3, name: "bad", sql: "CREATE TABLE step_three (id BIGINT PRIMARY KEY); SELECT * FROM no_such_table" },
        ];
        let all: Vec<&Migration> = migrate::migrations(db.backend()).iter().chain(&steps).collect();
        let err = migrate::apply(&db, &all, 0).await.unwrap_err();
        assert!(matches!(err, StoreError::MigrationFailed { version: 3, .. }), "{err}");
        assert_eq!(migrate::current_version(&db).await.unwrap(), 1);
        let step_two = sqlx::query("SELECT count(*) FROM step_two").execute(db.pool()).await;
        assert!(step_two.is_err(), "migration 2 was rolled back with 3");
    }

    async fn the_ledger_refuses_an_over_refund(db) {
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let mut tx = db.begin_write().await.unwrap();
        let first = postings::approve_refund("ra_1", &f.terminal_id, &f.merchant_id, Fen::yuan(299), Fen::ZERO, &[]);
        ledger::create(&mut tx, &first, 1).await.unwrap();
        let second = postings::approve_refund("ra_2", &f.terminal_id, &f.merchant_id, Fen::new(1), Fen::ZERO, &[]);
        let err = ledger::create(&mut tx, &second, 1).await.unwrap_err();
        assert!(matches!(err, StoreError::Ledger(LedgerError::ExceedsCredits(_))), "{err}");
        tx.rollback().await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        let held = ledger::balance(&mut conn, &AccountKey::deposit_held(&f.terminal_id)).await.unwrap();
        assert_eq!((held.credits_posted, held.debits_pending), (Fen::yuan(299), Fen::ZERO), "rolled back whole");
    }

    async fn transfer_ids_are_idempotent(db) {
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let mut conn = db.pool().acquire().await.unwrap();
        let again = postings::collect_deposit(&f.terminal_id, Fen::yuan(299));
        assert_eq!(ledger::create(&mut conn, std::slice::from_ref(&again), 2).await.unwrap(), [Created::AlreadyExists]);
        let changed = yajin_core::ledger::Transfer { amount: Fen::yuan(1), ..again };
        let err = ledger::create(&mut conn, &[changed], 2).await.unwrap_err();
        assert!(matches!(err, StoreError::Ledger(LedgerError::ExistsWithDifferentFields(_))), "{err}");
        let held = ledger::balance(&mut conn, &AccountKey::deposit_held(&f.terminal_id)).await.unwrap();
        assert_eq!(held.credits_posted, Fen::yuan(299), "collected once");
    }

    async fn a_pending_transfer_resolves_once(db) {
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let mut conn = db.pool().acquire().await.unwrap();
        let t = postings::approve_refund("ra_1", &f.terminal_id, &f.merchant_id, Fen::yuan(299), Fen::ZERO, &[]);
        ledger::create(&mut conn, &t, 1).await.unwrap();
        ledger::post(&mut conn, "ra_1:refund", 2).await.unwrap();
        let err = ledger::void(&mut conn, "ra_1:refund", 3).await.unwrap_err();
        assert!(matches!(err, StoreError::Ledger(LedgerError::NotPending { .. })), "{err}");
        let err = ledger::post(&mut conn, "ra_9:refund", 3).await.unwrap_err();
        assert!(matches!(err, StoreError::Ledger(LedgerError::NotFound(_))), "{err}");
        let held = ledger::balance(&mut conn, &AccountKey::deposit_held(&f.terminal_id)).await.unwrap();
        assert_eq!((held.debits_pending, held.debits_posted), (Fen::ZERO, Fen::yuan(299)));
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), []);
    }

    async fn twenty_racing_reservations_of_one_deposit_yield_one(db) {
        let f = Arc::new(merchant_with_terminal(&db, "13800000001", "SN-1").await);
        let mut tasks = Vec::new();
        for i in 0..20 {
            let (db, f) = (db.clone(), f.clone());
            tasks.push(tokio::spawn(async move {
                let mut tx = db.begin_write().await?;
                let t = postings::approve_refund(&format!("ra_{i}"), &f.terminal_id, &f.merchant_id, Fen::yuan(299), Fen::ZERO, &[]);
                ledger::create(&mut tx, &t, 1).await?;
                tx.commit().await?;
                Ok::<_, StoreError>(())
            }));
        }
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => won += 1,
                Err(StoreError::Ledger(LedgerError::ExceedsCredits(_))) => {}
                Err(e) => panic!("unexpected: {e}"),
            }
        }
        assert_eq!(won, 1);
        let mut conn = db.pool().acquire().await.unwrap();
        let held = ledger::balance(&mut conn, &AccountKey::deposit_held(&f.terminal_id)).await.unwrap();
        assert_eq!(held.debits_pending, Fen::yuan(299));
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), []);
    }

    async fn one_open_application_per_terminal_even_under_a_race(db) {
        let f = Arc::new(merchant_with_terminal(&db, "13800000001", "SN-1").await);
        let tasks: Vec<_> = (0..20).map(|_| {
            let (db, f) = (db.clone(), f.clone());
            tokio::spawn(async move { submit(&db, &f).await })
        }).collect();
        let mut ids = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(id) => ids.push(id),
                Err(e) => assert!(e.is_conflict(), "{e}"),
            }
        }
        assert_eq!(ids.len(), 1);
        // Once it is final, a new one may open.
        let mut conn = db.pool().acquire().await.unwrap();
        assert!(applications::transition(&mut conn, &ids[0], &[Status::Submitted], Status::Cancelled, 2).await.unwrap());
        drop(conn);
        assert!(submit(&db, &f).await.is_ok());
    }

    async fn racing_state_changes_move_an_application_once(db) {
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let id = Arc::new(submit(&db, &f).await.unwrap());
        let tasks: Vec<_> = (0..20).map(|_| {
            let (db, id) = (db.clone(), id.clone());
            tokio::spawn(async move {
                let mut tx = db.begin_write().await.unwrap();
                let moved = applications::transition(&mut tx, &id, &[Status::Submitted], Status::InReview, 2).await.unwrap();
                tx.commit().await.unwrap();
                moved
            })
        }).collect();
        let mut moved = 0;
        for task in tasks {
            moved += usize::from(task.await.unwrap());
        }
        assert_eq!(moved, 1);
        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(applications::by_id(&mut conn, &id).await.unwrap().unwrap().status, Status::InReview);
    }

    async fn the_schema_refuses_bad_money(db) {
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let id = submit(&db, &f).await.unwrap();
        let bad = [
            "UPDATE refund_applications SET net_refund_fen = 1 WHERE id = $1",
            "UPDATE refund_applications SET fee_fen = -1, net_refund_fen = 29901 WHERE id = $1",
            "UPDATE refund_applications SET first_approver = 'st_1', second_approver = 'st_1' WHERE id = $1",
            "UPDATE refund_applications SET status = 'lost' WHERE id = $1",
        ];
        for sql in bad {
            assert!(sqlx::query(sql).bind(&id).execute(db.pool()).await.is_err(), "{sql}");
        }
        let usage = sqlx::query("INSERT INTO usage_transactions (id, terminal_id, amount_fen, fee_fen, kind, occurred_at) VALUES ('tx_1', $1, -5, 0, 'credit_card', 0)")
            .bind(&f.terminal_id).execute(db.pool()).await;
        assert!(usage.is_err());
        let over = sqlx::query("UPDATE ledger_accounts SET debits_posted = credits_posted + 1 WHERE kind = 'deposit_held'")
            .execute(db.pool()).await;
        assert!(over.is_err(), "the CHECK backs the conditional update");
    }

    async fn the_audit_chain_verifies_and_detects_edits(db) {
        let mut conn = db.pool().acquire().await.unwrap();
        for i in 0..5 {
            let e = AuditEntry { actor_role: "reviewer".into(), actor_id: "st_1".into(), action: "approve".into(),
                entity: "refund_application".into(), entity_id: format!("ra_{i}"), detail: "{}".into() };
            audit::append(&mut conn, &e, i).await.unwrap();
        }
        let report = audit::verify(&mut conn).await.unwrap();
        assert!(report.ok && report.checked == 5 && report.first_broken_id.is_none(), "{report:?}");
        // The application cannot edit it ...
        assert!(sqlx::query("UPDATE audit_log SET actor_id = 'st_2' WHERE seq = 3").execute(&mut *conn).await.is_err());
        assert!(sqlx::query("DELETE FROM audit_log WHERE seq = 5").execute(&mut *conn).await.is_err());
        // ... and an edit by someone who removed the guard is found.
        drop_audit_guards(&db, &mut conn).await;
        sqlx::query("UPDATE audit_log SET actor_id = 'st_2' WHERE seq = 3").execute(&mut *conn).await.unwrap();
        let report = audit::verify(&mut conn).await.unwrap();
        assert_eq!((report.ok, report.checked, report.first_broken_id), (false, 2, Some(3)));
    }

    async fn deleting_the_last_audit_row_is_detected(db) {
        let mut conn = db.pool().acquire().await.unwrap();
        for i in 0..3 {
            let e = AuditEntry { actor_role: "system".into(), actor_id: "system".into(), action: "payout".into(),
                entity: "payout".into(), entity_id: format!("po_{i}"), detail: "{}".into() };
            audit::append(&mut conn, &e, i).await.unwrap();
        }
        drop_audit_guards(&db, &mut conn).await;
        sqlx::query("DELETE FROM audit_log WHERE seq = 3").execute(&mut *conn).await.unwrap();
        let report = audit::verify(&mut conn).await.unwrap();
        assert_eq!((report.ok, report.first_broken_id), (false, Some(3)));
    }

    async fn concurrent_audit_appends_never_fork_the_chain(db) {
        let tasks: Vec<_> = (0..20).map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tx = db.begin_write().await.unwrap();
                let e = AuditEntry { actor_role: "system".into(), actor_id: "system".into(), action: "t".into(),
                    entity: "x".into(), entity_id: i.to_string(), detail: "{}".into() };
                audit::append(&mut tx, &e, i).await.unwrap();
                tx.commit().await.unwrap();
            })
        }).collect();
        for t in tasks { t.await.unwrap(); }
        let mut conn = db.pool().acquire().await.unwrap();
        let report = audit::verify(&mut conn).await.unwrap();
        assert!(report.ok && report.checked == 20, "{report:?}");
    }

    async fn personal_numbers_are_sealed_at_rest(db) {
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let row = sqlx::query("SELECT * FROM merchants").fetch_one(db.pool()).await.unwrap();
        use sqlx::Row;
        let sealed: Vec<u8> = row.try_get("id_card_sealed").unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("310115198506151236"));
        let mut conn = db.pool().acquire().await.unwrap();
        let m = merchants::by_id(&mut conn, &f.merchant_id).await.unwrap().unwrap();
        assert_eq!((m.id_card_masked.as_str(), m.bank_card_masked.as_str()), ("310***********1236", "6222 **** **** 0128"));
        let same = merchants::match_identity(&mut conn, &vault(), &f.merchant_id,
            &IdCardNo::parse("310115198506151236").unwrap(), &BankCardNo::parse("6217001234567890122").unwrap()).await.unwrap();
        assert_eq!((same.id_card, same.bank_card), (true, false));
        assert_eq!(merchants::bank_card_for_payout(&mut conn, &vault(), &f.merchant_id).await.unwrap(), "6222021234567890128");
        let wrong_key = Vault::new(&MasterKey::generate(), &[]);
        assert!(merchants::bank_card_for_payout(&mut conn, &wrong_key, &f.merchant_id).await.is_err());
    }

    async fn the_timeline_is_append_only(db) {
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let id = submit(&db, &f).await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        let e = applications::NewEvent { application_id: &id, from: None, to: Status::Submitted, actor_role: Role::Merchant,
            actor_id: &f.merchant_id, note: "", detail: "{}" };
        applications::append_event(&mut conn, &e, 1).await.unwrap();
        assert_eq!(applications::events(&mut conn, &id).await.unwrap().len(), 1);
        assert!(sqlx::query("DELETE FROM application_events").execute(&mut *conn).await.is_err());
    }

    async fn counted_volume_sums_only_counted_kinds_in_the_window(db) {
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let mut conn = db.pool().acquire().await.unwrap();
        for (fen, kind, at) in [(100, TxnKind::CreditCard, 10), (200, TxnKind::DebitCard, 20), (400, TxnKind::CreditCard, 30), (800, TxnKind::CreditCard, 99)] {
            terminals::insert_usage(&mut conn, &terminals::NewUsage { terminal_id: f.terminal_id.clone(), amount: Fen::new(fen),
                fee: Fen::ZERO, kind, occurred_at: Timestamp::from_millis(at) }).await.unwrap();
        }
        let v = terminals::counted_volume(&mut conn, &f.terminal_id, &[TxnKind::CreditCard], Timestamp::from_millis(0), Timestamp::from_millis(30)).await.unwrap();
        assert_eq!(v, Fen::new(500));
    }
}

async fn drop_audit_guards(db: &Db, conn: &mut sqlx::AnyConnection) {
    let statements: &[&str] = match db.backend() {
        yajin_store::Backend::Sqlite => &["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"],
        yajin_store::Backend::Postgres => &["DROP TRIGGER audit_log_append_only ON audit_log"],
    };
    for sql in statements {
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }
}
