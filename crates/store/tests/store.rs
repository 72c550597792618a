//! The store on both databases: migrations, the ledger's conditional updates, the one-open-
//! application rule, conditional state changes, the audit chain, personal data at rest.
//! Races are real: many tasks, many connections, one database.

use std::sync::Arc;

use yajin_core::application::{Role, Status};
use yajin_core::eligibility::TerminalStatus;
use yajin_core::ids::{BankCardNo, IdCardNo, MerchantNo, PhoneNo, TerminalId, TerminalSn};
use yajin_core::ledger::{postings, AccountKey, Created, LedgerError};
use yajin_core::notice::{Note, Notice};
use yajin_core::plan::{DepositPlan, FeeRule, RefundRule, TxnKind};
use yajin_core::{Fen, Timestamp};
use yajin_store::audit::{self, AuditEntry};
use yajin_store::migrate::{self, Migration};
use yajin_store::pii::{MasterKey, Vault};
use yajin_store::records::idempotency::{self, Answer, Claim, KeyClaim};
use yajin_store::records::{applications, devices, jobs, merchants, notifications, plans, staff, terminals, tickets};
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
        name_en: String::new(),
        card_rates: Vec::new(),
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
            agent_id: None,
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

/// The merchant's first step on a new application: submitted, in their words.
fn merchants_first_event<'a>(application_id: &'a str, merchant_id: &'a str) -> applications::NewEvent<'a> {
    applications::NewEvent {
        application_id,
        from: None,
        to: Status::Submitted,
        actor_role: Role::Merchant,
        actor_id: merchant_id,
        note: "不用了",
        system_note: None,
        detail: r#"{"amount_fen":29900}"#,
    }
}

/// What the merchant is told of an application submitted for SN-1's whole ¥299 deposit.
fn submitted_of_sn_1(application_id: &str) -> Notice {
    Notice::ApplicationSubmitted {
        application_id: application_id.to_owned(),
        sn: "SN-1".into(),
        amount: Fen::yuan(299),
        fee: Fen::ZERO,
        deducted: Fen::ZERO,
        net: Fen::yuan(299),
    }
}

/// The system's approval step of a submitted application, with its `note`.
fn systems_approval<'a>(id: &'a str, note: &'a Note) -> applications::NewEvent<'a> {
    applications::NewEvent {
        application_id: id,
        from: Some(Status::Submitted),
        to: Status::Approved,
        actor_role: Role::System,
        actor_id: "system",
        note: "",
        system_note: Some(note),
        detail: r#"{"rule":"activation"}"#,
    }
}

/// An application's submission with its first step alone.
fn submission<'a>(
    id: &'a str,
    application: &'a applications::NewApplication<'a>,
    first: &'a applications::NewEvent<'a>,
    notice: &'a Notice,
) -> applications::Submission<'a> {
    applications::Submission { id, application, first, notice, then: None }
}

async fn submit(db: &Db, f: &Fixture) -> Result<String, StoreError> {
    let card = BankCardNo::parse("6222021234567890128").unwrap();
    let mut tx = db.begin_write().await?;
    let id = applications::insert(&mut tx, &vault(), &new_application(f, &card), 1).await?.id;
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
        // Two steps after our newest migration: a good one, then a bad one.
        let head = migrate::latest_version(db.backend());
        let steps = [
            Migration { version: head + 1, name: "good", sql: "CREATE TABLE step_two (id BIGINT PRIMARY KEY)" },
            Migration { version: head + 2, name: "bad", sql: "CREATE TABLE step_three (id BIGINT PRIMARY KEY); SELECT * FROM no_such_table" },
        ];
        let all: Vec<&Migration> = migrate::migrations(db.backend()).iter().chain(&steps).collect();
        let err = migrate::apply(&db, &all, 0).await.unwrap_err();
        assert!(matches!(err, StoreError::MigrationFailed { version, .. } if version == head + 2), "{err}");
        assert_eq!(migrate::current_version(&db).await.unwrap(), head);
        let step_two = sqlx::query("SELECT count(*) FROM step_two").execute(db.pool()).await;
        assert!(step_two.is_err(), "migration 2 was rolled back with 3");
    }

    async fn an_application_and_its_events_come_back_from_their_inserts_as_they_read(db) {
        // Submit answers from what the inserts return instead of reading the rows again.
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let card = BankCardNo::parse("6222021234567890128").unwrap();
        let mut tx = db.begin_write().await.unwrap();
        let inserted = applications::insert(&mut tx, &vault(), &new_application(&f, &card), 7).await.unwrap();
        let reviewer = staff::insert(
            &mut tx,
            &staff::NewStaff {
                username: "wang".into(),
                display_name: "王审核".into(),
                role: Role::Reviewer,
                password_hash: "x".into(),
            },
            0,
        )
        .await
        .unwrap();
        let merchant_said = merchants_first_event(&inserted.id, &f.merchant_id);
        let note = yajin_core::notice::Note::AutoApproved;
        let reviewer_said = applications::NewEvent {
            from: Some(Status::Submitted),
            to: Status::InReview,
            actor_role: Role::Reviewer,
            actor_id: &reviewer,
            note: "",
            system_note: Some(&note),
            ..merchant_said
        };
        let appended = vec![
            applications::append_event(&mut tx, &merchant_said, 8).await.unwrap(),
            applications::append_event(&mut tx, &reviewer_said, 9).await.unwrap(),
        ];
        tx.commit().await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(applications::by_id(&mut conn, &inserted.id).await.unwrap(), Some(inserted.clone()));
        assert_eq!(inserted.bank_card_masked, "6222 **** **** 0128");
        let read = applications::events(&mut conn, &inserted.id).await.unwrap();
        assert_eq!(read, appended);
        assert_eq!(appended[1].actor_name.as_deref(), Some("王审核"), "the staff member's name, as a read joins it");
        assert_eq!(appended[0].actor_name, None);
    }

    async fn a_submitted_application_is_written_with_its_first_event_notification_and_answer_as_they_read(db) {
        // On PostgreSQL the three rows and the request's answer are one statement, and the row
        // and the event are given back as written, not read: each must be stored as the
        // separate inserts store it, and read as it was given back.
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let card = BankCardNo::parse("6222021234567890128").unwrap();
        let new = new_application(&f, &card);
        let id = applications::new_application_id();
        // The system's application on the merchant's behalf: its note is stored as JSON.
        let on_behalf = Note::AppliedForMerchant;
        let first = applications::NewEvent {
            actor_role: Role::System,
            actor_id: "system",
            system_note: Some(&on_behalf),
            ..merchants_first_event(&id, &f.merchant_id)
        };
        let notice = submitted_of_sn_1(&id);
        let mut tx = db.begin_write().await.unwrap();
        assert_eq!(idempotency::claim(&mut tx, "merchant:m", "k-1", "h", 7).await.unwrap(), Claim::New);
        // The answer is rendered from the row and the event it is stored with.
        let answer = |a: &applications::Application, t: &[applications::Event]| {
            Some(Answer { principal: "merchant:m".into(), key: "k-1".into(), status: 201, body: format!("{} {:?}", a.id, t[0].to).into_bytes() })
        };
        let written = applications::insert_submitted(&mut tx, &vault(), &submission(&id, &new, &first, &notice), answer, 7).await.unwrap();
        let (inserted, event, notification_id) = (written.application, written.timeline[0].clone(), written.notification_ids[0].clone());
        assert_eq!((written.timeline.len(), written.notification_ids.len()), (1, 1));
        tx.commit().await.unwrap();
        let mut tx = db.begin_write().await.unwrap();
        let replayed = idempotency::claim(&mut tx, "merchant:m", "k-1", "h", 8).await.unwrap();
        assert_eq!(replayed, Claim::Replay { status: 201, body: format!("{id} Submitted").into_bytes() });
        tx.rollback().await.unwrap();

        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(applications::by_id(&mut conn, &id).await.unwrap(), Some(inserted.clone()));
        assert_eq!((inserted.note.as_str(), inserted.created_at), ("", Timestamp::from_millis(7)), "the application's own note");
        assert_eq!(applications::events(&mut conn, &id).await.unwrap(), vec![event.clone()]);
        assert_eq!((event.note.as_str(), event.to, event.at), ("不用了", Status::Submitted, Timestamp::from_millis(7)));
        let (owner, stored) = notifications::by_id(&mut conn, &notification_id).await.unwrap().expect("stored");
        assert_eq!(owner, f.merchant_id);
        assert_eq!(stored.notice, Some(notice.clone()));
        assert_eq!((stored.application_id.as_deref(), stored.created_at), (Some(id.as_str()), Timestamp::from_millis(7)));
        drop(conn);

        // A second open application for the terminal writes none of the three.
        let again = applications::new_application_id();
        let first = applications::NewEvent { application_id: &again, ..first };
        let notice = match notice {
            Notice::ApplicationSubmitted { sn, amount, fee, deducted, net, .. } => {
                Notice::ApplicationSubmitted { application_id: again.clone(), sn, amount, fee, deducted, net }
            }
            other => other,
        };
        let mut tx = db.begin_write().await.unwrap();
        let err = applications::insert_submitted(&mut tx, &vault(), &submission(&again, &new, &first, &notice), |_, _| None, 8).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        tx.rollback().await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(applications::events(&mut conn, &again).await.unwrap(), vec![]);
        let listed = notifications::page(&mut conn, &f.merchant_id, None, 10).await.unwrap();
        assert_eq!(listed.len(), 1, "only the first application's notification: {listed:?}");

        // An event or a notice for another application is refused before anything is written.
        let other = applications::new_application_id();
        let mut tx = db.begin_write().await.unwrap();
        let err = applications::insert_submitted(&mut tx, &vault(), &submission(&other, &new, &first, &notice), |_, _| None, 9).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        // So is a first event by a staff member, whose name the event would be read with.
        let by_staff = applications::NewEvent { actor_role: Role::Reviewer, ..first };
        let err = applications::insert_submitted(&mut tx, &vault(), &submission(&again, &new, &by_staff, &notice), |_, _| None, 9).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    }

    async fn an_application_the_system_approves_at_once_is_written_approved_with_both_steps_as_they_read(db) {
        // The system's approval is written with the application: the row stands approved, the
        // two steps and two notifications are stored in their order, the answer renders from
        // all of it, and what is given back is what a read finds.
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let card = BankCardNo::parse("6222021234567890128").unwrap();
        let new = new_application(&f, &card);
        let id = applications::new_application_id();
        let first = merchants_first_event(&id, &f.merchant_id);
        let notice = submitted_of_sn_1(&id);
        let note = Note::AutoApproved;
        let approve = systems_approval(&id, &note);
        let approved_notice = Notice::ApplicationAutoApproved { application_id: id.clone(), sn: "SN-1".into(), net: Fen::new(29_900) };
        let both = applications::Submission { then: Some((&approve, &approved_notice)), ..submission(&id, &new, &first, &notice) };
        let mut tx = db.begin_write().await.unwrap();
        assert_eq!(idempotency::claim(&mut tx, "merchant:m", "k-1", "h", 7).await.unwrap(), Claim::New);
        let answer = |a: &applications::Application, t: &[applications::Event]| {
            let steps: Vec<Status> = t.iter().map(|e| e.to).collect();
            Some(Answer { principal: "merchant:m".into(), key: "k-1".into(), status: 201, body: format!("{:?} {steps:?}", a.status).into_bytes() })
        };
        let written = applications::insert_submitted(&mut tx, &vault(), &both, answer, 7).await.unwrap();
        tx.commit().await.unwrap();

        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(applications::by_id(&mut conn, &id).await.unwrap(), Some(written.application.clone()));
        assert_eq!(written.application.status, Status::Approved);
        assert_eq!(applications::events(&mut conn, &id).await.unwrap(), written.timeline, "both steps, in order, as given back");
        let steps: Vec<(Option<Status>, Status)> = written.timeline.iter().map(|e| (e.from, e.to)).collect();
        assert_eq!(steps, [(None, Status::Submitted), (Some(Status::Submitted), Status::Approved)]);
        assert_eq!(written.timeline[1].system_note, Some(note.clone()));
        let mut told = Vec::new();
        for n in &written.notification_ids {
            told.push(notifications::by_id(&mut conn, n).await.unwrap().expect("stored").1.notice);
        }
        assert_eq!(told, [Some(notice.clone()), Some(approved_notice.clone())]);
        let listed = notifications::page(&mut conn, &f.merchant_id, None, 10).await.unwrap();
        assert_eq!(listed.len(), 2, "each step's notification once: {listed:?}");
        drop(conn);
        let mut tx = db.begin_write().await.unwrap();
        let replayed = idempotency::claim(&mut tx, "merchant:m", "k-1", "h", 8).await.unwrap();
        assert_eq!(replayed, Claim::Replay { status: 201, body: b"Approved [Submitted, Approved]".to_vec() });

        // A second step that names a staff member, is another application's, or does not start
        // where the first leaves the application, is refused before anything is written.
        let again = applications::new_application_id();
        let first_again = applications::NewEvent { application_id: &again, ..first };
        let notice_again = submitted_of_sn_1(&again);
        let approved_again = Notice::ApplicationAutoApproved { application_id: again.clone(), sn: "SN-1".into(), net: Fen::new(29_900) };
        let by_staff = applications::NewEvent { application_id: &again, actor_role: Role::Approver, ..approve };
        let elsewhere = applications::NewEvent { application_id: &id, ..approve };
        let out_of_order = applications::NewEvent { application_id: &again, from: Some(Status::InReview), ..approve };
        for step in [&by_staff, &elsewhere, &out_of_order] {
            let bad = applications::Submission { then: Some((step, &approved_again)), ..submission(&again, &new, &first_again, &notice_again) };
            let err = applications::insert_submitted(&mut tx, &vault(), &bad, |_, _| None, 9).await.unwrap_err();
            assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        }
        tx.rollback().await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(applications::by_id(&mut conn, &again).await.unwrap(), None);
    }

    async fn the_systems_step_is_given_back_as_stored_and_moves_only_from_where_the_row_stands(db) {
        // The system's steps of a payout (sent to the bank, paid) take the row and the step as
        // given back, not as read: they must be what a read finds, and a row moved on
        // meanwhile moves no further.
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let card = BankCardNo::parse("6222021234567890128").unwrap();
        let new = new_application(&f, &card);
        let id = applications::new_application_id();
        let first = merchants_first_event(&id, &f.merchant_id);
        let notice = submitted_of_sn_1(&id);
        let mut tx = db.begin_write().await.unwrap();
        let written = applications::insert_submitted(&mut tx, &vault(), &submission(&id, &new, &first, &notice), |_, _| None, 7).await;
        let submitted = written.unwrap().application;
        let note = Note::AutoApproved;
        let approve = systems_approval(&id, &note);
        let (approved, step) =
            applications::step_naming_no_staff(&mut tx, &submitted, &approve, None, 9).await.unwrap().expect("moved");
        // From a status the row has left: nothing moves, no step is appended.
        assert_eq!(applications::step_naming_no_staff(&mut tx, &submitted, &approve, None, 10).await.unwrap(), None);
        // A step naming a staff member, or another application's, is refused before it is written.
        let by_staff = applications::NewEvent { actor_role: Role::Reviewer, from: Some(Status::Approved), ..approve };
        let err = applications::step_naming_no_staff(&mut tx, &approved, &by_staff, None, 11).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        let elsewhere = applications::NewEvent { application_id: "another", from: Some(Status::Approved), ..approve };
        let err = applications::step_naming_no_staff(&mut tx, &approved, &elsewhere, None, 11).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        tx.commit().await.unwrap();

        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(applications::by_id(&mut conn, &id).await.unwrap(), Some(approved.clone()));
        assert_eq!((approved.status, approved.updated_at, approved.created_at), (Status::Approved, Timestamp::from_millis(9), Timestamp::from_millis(7)));
        let events = applications::events(&mut conn, &id).await.unwrap();
        assert_eq!(events.len(), 2, "the first step and the system's, once: {events:?}");
        assert_eq!(events[1], step);
        assert_eq!((step.from, step.to, step.system_note.clone(), step.at), (Some(Status::Submitted), Status::Approved, Some(note.clone()), Timestamp::from_millis(9)));
        drop(conn);

        // Paid: the step to refunded gives the receipt number in the same update.
        let (sent, paid) = (Note::SentToBank, Note::BankPaid { bank_reference: "B1".into() });
        let to_paying = applications::NewEvent { from: Some(Status::Approved), to: Status::Paying, system_note: Some(&sent), ..approve };
        let to_refunded = applications::NewEvent { from: Some(Status::Paying), to: Status::Refunded, system_note: Some(&paid), ..approve };
        let mut tx = db.begin_write().await.unwrap();
        let (paying, _) = applications::step_naming_no_staff(&mut tx, &approved, &to_paying, None, 12).await.unwrap().expect("moved");
        assert_eq!(paying.receipt_number, None);
        let (refunded, _) =
            applications::step_naming_no_staff(&mut tx, &paying, &to_refunded, Some("RF202612070000000001"), 13).await.unwrap().expect("moved");
        tx.commit().await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(refunded.receipt_number.as_deref(), Some("RF202612070000000001"));
        assert_eq!(applications::by_id(&mut conn, &id).await.unwrap(), Some(refunded.clone()), "as a read finds it");
        let by_receipt = applications::by_receipt_number(&mut conn, "RF202612070000000001").await.unwrap();
        assert_eq!(by_receipt.map(|a| a.id), Some(id.clone()));
    }


    async fn a_batch_of_applications_is_read_claimed_and_written_as_one_by_one(db) {
        // Refund submits from many requests are written a batch at a time: every batch form
        // must read, claim and write what the single forms do, each row for its own merchant.
        let f1 = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let f2 = merchant_with_terminal(&db, "13800000002", "SN-2").await;
        let f3 = merchant_with_terminal(&db, "13800000003", "SN-3").await;
        let mut conn = db.pool().acquire().await.unwrap();
        // Another merchant's SN is not found, as it is not one by one.
        let wanted = [(f1.merchant_id.as_str(), "SN-1"), (f2.merchant_id.as_str(), "SN-1"), (f2.merchant_id.as_str(), "SN-2")];
        let many = devices::for_applications(&mut conn, &wanted, 0).await.unwrap();
        assert_eq!(many.len(), 3);
        for ((merchant, sn), read) in wanted.iter().zip(&many) {
            let one = devices::for_application(&mut conn, merchant, sn, 0).await.unwrap();
            assert_eq!(format!("{read:?}"), format!("{one:?}"), "{sn} of {merchant}");
        }
        assert!(many[0].is_some() && many[1].is_none() && many[2].is_some());
        assert_eq!(many[2].as_ref().unwrap().0.terminal.id, f2.terminal_id);
        drop(conn);

        // Keys: one answered before, one taken by another request, one new, and a key of the
        // same name that is another caller's.
        let mut tx = db.begin_write().await.unwrap();
        for (key, hash) in [("k-old", "h"), ("k-other", "h-other")] {
            assert_eq!(idempotency::claim(&mut tx, "merchant:a", key, hash, 1).await.unwrap(), Claim::New);
            idempotency::complete(&mut tx, "merchant:a", key, 201, key.as_bytes()).await.unwrap();
        }
        tx.commit().await.unwrap();
        let claim = |principal: &str, key: &str| KeyClaim { principal: principal.into(), key: key.into(), request_hash: "h".into() };
        let claims = [claim("merchant:a", "k-new"), claim("merchant:a", "k-old"), claim("merchant:a", "k-other"), claim("merchant:b", "k-old")];
        let mut tx = db.begin_write().await.unwrap();
        let claimed = idempotency::claim_many(&mut tx, &claims, 2).await.unwrap();
        let replay = Claim::Replay { status: 201, body: b"k-old".to_vec() };
        assert_eq!(claimed, vec![Claim::New, replay, Claim::Mismatch, Claim::New]);
        let twice = [claim("merchant:c", "k"), claim("merchant:c", "k")];
        assert!(matches!(idempotency::claim_many(&mut tx, &twice, 2).await, Err(StoreError::Corrupt(_))));

        // Two applications: the merchant's with an answer to store, the system's without, which
        // the system approves at once (its row written approved, with two steps).
        let card = BankCardNo::parse("6222021234567890128").unwrap();
        let (new1, new2) = (new_application(&f1, &card), new_application(&f2, &card));
        let (id1, id2) = (applications::new_application_id(), applications::new_application_id());
        let on_behalf = Note::AppliedForMerchant;
        let first1 = merchants_first_event(&id1, &f1.merchant_id);
        let first2 = applications::NewEvent {
            actor_role: Role::System,
            actor_id: "system",
            system_note: Some(&on_behalf),
            ..merchants_first_event(&id2, &f2.merchant_id)
        };
        let notice = |id: &str, sn: &str| Notice::ApplicationSubmitted {
            application_id: id.to_owned(),
            sn: sn.into(),
            amount: Fen::yuan(299),
            fee: Fen::ZERO,
            deducted: Fen::ZERO,
            net: Fen::yuan(299),
        };
        let (notice1, notice2) = (notice(&id1, "SN-1"), notice(&id2, "SN-2"));
        let auto_approved = Note::AutoApproved;
        let approve2 = applications::NewEvent {
            from: Some(Status::Submitted),
            to: Status::Approved,
            system_note: Some(&auto_approved),
            detail: r#"{"rule":"activation"}"#,
            ..first2
        };
        let approved2 = Notice::ApplicationAutoApproved { application_id: id2.clone(), sn: "SN-2".into(), net: Fen::yuan(299) };
        let batch = [
            submission(&id1, &new1, &first1, &notice1),
            applications::Submission { then: Some((&approve2, &approved2)), ..submission(&id2, &new2, &first2, &notice2) },
        ];
        let answer = |i: usize, a: &applications::Application, t: &[applications::Event]| {
            (i == 0).then(|| Answer { principal: "merchant:a".into(), key: "k-new".into(), status: 201, body: format!("{} {:?}", a.id, t[0].to).into_bytes() })
        };
        let written = applications::insert_submitted_many(&mut tx, &vault(), &batch, answer, 7).await.unwrap();
        // The other caller's request was refused: its claim is given up.
        idempotency::release_many(&mut tx, &[("merchant:b".into(), "k-old".into())]).await.unwrap();
        tx.commit().await.unwrap();

        let mut conn = db.pool().acquire().await.unwrap();
        let told = [vec![notice1.clone()], vec![notice2.clone(), approved2.clone()]];
        for ((w, (f, status)), told) in written.iter().zip([(&f1, Status::Submitted), (&f2, Status::Approved)]).zip(told) {
            let application = &w.application;
            assert_eq!(applications::by_id(&mut conn, &application.id).await.unwrap().as_ref(), Some(application));
            assert_eq!((application.terminal_id.as_str(), application.status), (f.terminal_id.as_str(), status));
            assert_eq!(application.bank_card_masked, "6222 **** **** 0128");
            assert_eq!(applications::events(&mut conn, &application.id).await.unwrap(), w.timeline);
            assert_eq!(w.timeline.last().map(|e| e.to), Some(status));
            let mut stored_notices = Vec::new();
            for n in &w.notification_ids {
                let (owner, stored) = notifications::by_id(&mut conn, n).await.unwrap().expect("stored");
                assert_eq!(owner, f.merchant_id);
                stored_notices.push(stored.notice.expect("a notice"));
            }
            assert_eq!(stored_notices, told);
        }
        assert_eq!(written[1].timeline[0].system_note, Some(Note::AppliedForMerchant), "the system's note, stored as JSON");
        drop(conn);
        for id in [&id1, &id2] {
            use sqlx::Row;
            let sql = "SELECT bank_card_sealed, bank_card_key_id FROM refund_applications WHERE id = $1";
            let row = sqlx::query(sql).bind(id).fetch_one(db.pool()).await.unwrap();
            let sealed = yajin_store::pii::Sealed { bytes: row.get(0), key_id: row.get(1) };
            let card = vault().open(&sealed, &format!("refund_applications.bank_card:{id}")).unwrap();
            assert_eq!(card, "6222021234567890128", "the card sealed for its own row");
        }
        let mut tx = db.begin_write().await.unwrap();
        let again = idempotency::claim_many(&mut tx, &[claim("merchant:a", "k-new"), claim("merchant:b", "k-old")], 8).await.unwrap();
        assert_eq!(again, vec![Claim::Replay { status: 201, body: format!("{id1} Submitted").into_bytes() }, Claim::New]);
        tx.rollback().await.unwrap();

        // A batch with a terminal that has an open application writes none of its rows.
        let (id3, id4) = (applications::new_application_id(), applications::new_application_id());
        let card = BankCardNo::parse("6222021234567890128").unwrap();
        let (new3, new4) = (new_application(&f3, &card), new_application(&f1, &card));
        let (first3, first4) = (merchants_first_event(&id3, &f3.merchant_id), merchants_first_event(&id4, &f1.merchant_id));
        let (notice3, notice4) = (notice(&id3, "SN-3"), notice(&id4, "SN-1"));
        let batch = [
            submission(&id3, &new3, &first3, &notice3),
            submission(&id4, &new4, &first4, &notice4),
        ];
        let mut tx = db.begin_write().await.unwrap();
        let err = applications::insert_submitted_many(&mut tx, &vault(), &batch, |_, _, _| None, 9).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        tx.rollback().await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(applications::by_id(&mut conn, &id3).await.unwrap(), None);
        assert_eq!(notifications::page(&mut conn, &f3.merchant_id, None, 10).await.unwrap(), vec![]);
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

    async fn a_reservation_posted_with_the_payment_at_once_moves_what_posting_then_creating_moves(db) {
        // A payout's success posts the reservation and records what the bank paid in one ledger
        // call: the counters end as the two calls leave them, and a transfer no longer pending,
        // or a payment past the deposit, fails the whole call.
        use yajin_core::ledger::AccountKind;
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let reserve = postings::approve_refund("ra_1", &f.terminal_id, &f.merchant_id, Fen::yuan(289), Fen::yuan(10), &[]);
        let mut tx = db.begin_write().await.unwrap();
        ledger::create_many(&mut tx, &reserve, 1).await.unwrap();
        tx.commit().await.unwrap();
        let pending: Vec<&yajin_core::ledger::Transfer> = reserve.iter().collect();
        let paid = postings::payout_sent("ra_1", Fen::yuan(289));
        let mut tx = db.begin_write().await.unwrap();
        ledger::post_and_create(&mut tx, &pending, std::slice::from_ref(&paid), 2).await.unwrap();
        // Again: the reservation is posted already, so nothing of the second call stays.
        let again = postings::payout_sent("ra_2", Fen::yuan(1));
        let err = ledger::post_and_create(&mut tx, &pending, std::slice::from_ref(&again), 3).await.unwrap_err();
        assert!(matches!(err, StoreError::Ledger(LedgerError::NotPending { .. })), "{err}");
        tx.rollback().await.unwrap();
        let mut tx = db.begin_write().await.unwrap();
        ledger::post_and_create(&mut tx, &pending, std::slice::from_ref(&paid), 2).await.unwrap();
        tx.commit().await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), [], "counters are the transfers' sums");
        let held = ledger::balance(&mut conn, &AccountKey::deposit_held(&f.terminal_id)).await.unwrap();
        assert_eq!((held.debits_posted, held.debits_pending, held.credits_posted), (Fen::yuan(299), Fen::ZERO, Fen::yuan(299)));
        let in_flight = ledger::balance(&mut conn, &AccountKey::company(AccountKind::RefundsInFlight)).await.unwrap();
        assert_eq!((in_flight.credits_posted, in_flight.debits_posted, in_flight.credits_pending), (Fen::yuan(289), Fen::yuan(289), Fen::ZERO));
        let revenue = ledger::balance(&mut conn, &AccountKey::company(AccountKind::FeeRevenue)).await.unwrap();
        assert_eq!(revenue.credits_posted, Fen::yuan(10));
        let clearing = ledger::balance(&mut conn, &AccountKey::company(AccountKind::ChannelClearing)).await.unwrap();
        assert_eq!(clearing.credits_posted, Fen::yuan(289), "what the bank paid");
        drop(conn);

        // A second deposit's reservation posted with a payment out of that deposit past it:
        // refused, nothing posted.
        let g = merchant_with_terminal(&db, "13800000002", "SN-2").await;
        let reserve = postings::approve_refund("ra_3", &g.terminal_id, &g.merchant_id, Fen::yuan(299), Fen::ZERO, &[]);
        let mut tx = db.begin_write().await.unwrap();
        ledger::create_many(&mut tx, &reserve, 4).await.unwrap();
        tx.commit().await.unwrap();
        let over = yajin_core::ledger::Transfer {
            id: "ra_3:over".into(),
            debit: AccountKey::deposit_held(&g.terminal_id),
            credit: AccountKey::company(AccountKind::ChannelClearing),
            amount: Fen::new(1),
            code: yajin_core::ledger::TransferCode::PayoutSent,
            pending: false,
            reference: "ra_3".into(),
        };
        let pending: Vec<&yajin_core::ledger::Transfer> = reserve.iter().collect();
        let mut tx = db.begin_write().await.unwrap();
        let err = ledger::post_and_create(&mut tx, &pending, std::slice::from_ref(&over), 5).await.unwrap_err();
        assert!(matches!(err, StoreError::Ledger(LedgerError::ExceedsCredits(_))), "{err}");
        tx.rollback().await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        let held = ledger::balance(&mut conn, &AccountKey::deposit_held(&g.terminal_id)).await.unwrap();
        assert_eq!((held.debits_pending, held.debits_posted), (Fen::yuan(299), Fen::ZERO), "still reserved, nothing posted");
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

    async fn many_transfers_at_once_move_the_counters_as_one_at_a_time_would(db) {
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let mut tx = db.begin_write().await.unwrap();
        let a = postings::collect_deposit("tm_a", Fen::yuan(100));
        let b = postings::collect_deposit("tm_b", Fen::yuan(250));
        let again = postings::collect_deposit(&f.terminal_id, Fen::yuan(299));
        // A new transfer, another, one already there, and the first once more in the same batch.
        let created = ledger::create_many(&mut tx, &[a.clone(), b, again, a.clone()], 5).await.unwrap();
        assert_eq!(created, [Created::New, Created::New, Created::AlreadyExists, Created::AlreadyExists]);
        tx.commit().await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        let held = |id: &str| AccountKey::deposit_held(id);
        assert_eq!(ledger::balance(&mut conn, &held("tm_a")).await.unwrap().credits_posted, Fen::yuan(100), "counted once");
        assert_eq!(ledger::balance(&mut conn, &held("tm_b")).await.unwrap().credits_posted, Fen::yuan(250));
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), [], "counters are the transfers' sums");
        drop(conn);

        // A refund beyond what a terminal's deposit holds is refused, and the whole batch with it.
        let mut tx = db.begin_write().await.unwrap();
        let mut batch = vec![postings::collect_deposit("tm_c", Fen::yuan(50))];
        batch.extend(postings::approve_refund("ra_1", &f.terminal_id, &f.merchant_id, Fen::yuan(300), Fen::ZERO, &[]));
        let err = ledger::create_many(&mut tx, &batch, 6).await.unwrap_err();
        assert!(matches!(&err, StoreError::Ledger(LedgerError::ExceedsCredits(a)) if *a == held(&f.terminal_id).id()), "{err}");
        tx.rollback().await.unwrap();
        // A changed transfer under a used id is refused as `create` refuses it.
        let mut tx = db.begin_write().await.unwrap();
        let changed = yajin_core::ledger::Transfer { amount: Fen::yuan(1), ..a };
        let err = ledger::create_many(&mut tx, &[changed], 7).await.unwrap_err();
        assert!(matches!(err, StoreError::Ledger(LedgerError::ExistsWithDifferentFields(_))), "{err}");
        tx.rollback().await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(ledger::balance(&mut conn, &held("tm_c")).await.unwrap().credits_posted, Fen::ZERO, "rolled back whole");
        let terminal = ledger::balance(&mut conn, &held(&f.terminal_id)).await.unwrap();
        assert_eq!((terminal.credits_posted, terminal.debits_pending), (Fen::yuan(299), Fen::ZERO));
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), []);

        // Within what it holds, the refund goes through with the batch, pending as from `create`.
        let mut tx = db.begin_write().await.unwrap();
        let refund = postings::approve_refund("ra_2", &f.terminal_id, &f.merchant_id, Fen::yuan(200), Fen::yuan(9), &[]);
        assert_eq!(ledger::create_many(&mut tx, &refund, 8).await.unwrap(), [Created::New, Created::New]);
        tx.commit().await.unwrap();
        let terminal = ledger::balance(&mut conn, &held(&f.terminal_id)).await.unwrap();
        assert_eq!((terminal.debits_pending, terminal.debits_posted), (Fen::yuan(209), Fen::ZERO));
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), []);
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

    async fn pending_transfers_post_together_as_one_by_one_or_not_at_all(db) {
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let held = AccountKey::deposit_held(&f.terminal_id);
        let reserve = |id: &str| postings::approve_refund(id, &f.terminal_id, &f.merchant_id, Fen::yuan(100), Fen::yuan(5), &[]);
        let mut conn = db.pool().acquire().await.unwrap();
        ledger::create(&mut conn, &reserve("ra_1"), 1).await.unwrap();
        ledger::create(&mut conn, &reserve("ra_2"), 1).await.unwrap();
        // One of them no longer pending, one unknown: each refused, nothing posted.
        ledger::void(&mut conn, "ra_2:fee", 2).await.unwrap();
        for (ids, not_pending) in [(["ra_1:refund", "ra_2:fee"], true), (["ra_1:refund", "ra_9:refund"], false)] {
            let mut tx = db.begin_write().await.unwrap();
            let err = ledger::post_many(&mut tx, &ids, 3).await.unwrap_err();
            match err {
                StoreError::Ledger(LedgerError::NotPending { ref id, .. }) if not_pending => assert_eq!(id, "ra_2:fee"),
                StoreError::Ledger(LedgerError::NotFound(ref id)) if !not_pending => assert_eq!(id, "ra_9:refund"),
                other => panic!("{other}"),
            }
            tx.rollback().await.unwrap();
        }
        let balance = ledger::balance(&mut conn, &held).await.unwrap();
        assert_eq!((balance.debits_pending, balance.debits_posted), (Fen::yuan(205), Fen::ZERO));
        // Three at once (a repeat named once), then the fourth alone: as four posted one by one.
        let mut tx = db.begin_write().await.unwrap();
        ledger::post_many(&mut tx, &["ra_1:refund", "ra_1:fee", "ra_2:refund", "ra_1:fee"], 4).await.unwrap();
        ledger::post_many(&mut tx, &[], 4).await.unwrap();
        tx.commit().await.unwrap();
        let balance = ledger::balance(&mut conn, &held).await.unwrap();
        assert_eq!((balance.debits_pending, balance.debits_posted), (Fen::ZERO, Fen::yuan(205)));
        let in_flight = ledger::balance(&mut conn, &AccountKey::company(yajin_core::ledger::AccountKind::RefundsInFlight)).await.unwrap();
        assert_eq!((in_flight.credits_pending, in_flight.credits_posted), (Fen::ZERO, Fen::yuan(200)));
        let fees = ledger::balance(&mut conn, &AccountKey::company(yajin_core::ledger::AccountKind::FeeRevenue)).await.unwrap();
        assert_eq!((fees.credits_pending, fees.credits_posted), (Fen::ZERO, Fen::yuan(5)));
        assert!(matches!(ledger::load(&mut conn, "ra_1:fee").await.unwrap(), Some((_, yajin_core::ledger::TransferState::Posted))));
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), [], "counters are the transfers' sums");
    }

    async fn a_rate_limit_holds_over_any_window_wherever_it_starts(db) {
        use yajin_store::records::throttle::{self, Hit};
        let mut tx = db.begin_write().await.unwrap();
        // Three a second. A fixed window would start afresh at 2,000 and let three more through.
        for at in [1_990, 1_995, 1_999] {
            assert_eq!(throttle::hit(&mut tx, "b", 1_000, 3, at).await.unwrap(), Hit::Allowed, "at {at}");
        }
        assert_eq!(throttle::hit(&mut tx, "b", 1_000, 3, 2_001).await.unwrap(), Hit::Limited { retry_after_ms: 989 });
        assert_eq!(throttle::hit(&mut tx, "other", 1_000, 3, 2_001).await.unwrap(), Hit::Allowed, "buckets are apart");
        // A refusal is not counted: the first request leaves the window at 2,990, and a place opens.
        assert_eq!(throttle::hit(&mut tx, "b", 1_000, 3, 2_989).await.unwrap(), Hit::Limited { retry_after_ms: 1 });
        assert_eq!(throttle::hit(&mut tx, "b", 1_000, 3, 2_990).await.unwrap(), Hit::Allowed);
        assert_eq!(throttle::hit(&mut tx, "b", 1_000, 3, 2_991).await.unwrap(), Hit::Limited { retry_after_ms: 4 });
        tx.commit().await.unwrap();
    }

    async fn racing_requests_in_one_bucket_never_pass_its_limit(db) {
        // Servers counting one bucket at once: each takes the bucket's row first, so they take
        // turns; counted without it, each would see room and all would pass.
        use yajin_store::records::throttle::{self, Hit};
        let start = Arc::new(tokio::sync::Barrier::new(8));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (db, start) = (db.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let mut tx = db.begin_write().await?;
                let hit = throttle::hit(&mut tx, "sms-ip:1.2.3.4", 60_000, 3, 5_000).await?;
                tx.commit().await?;
                Ok::<_, StoreError>(hit)
            }));
        }
        let mut allowed = 0;
        for task in tasks {
            if task.await.unwrap().unwrap() == Hit::Allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 3);
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
            audit::append(&mut conn, &vault(), &e, i).await.unwrap();
        }
        let report = audit::verify(&mut conn, &vault()).await.unwrap();
        assert!(report.ok && report.checked == 5 && report.first_broken_id.is_none(), "{report:?}");
        // The application cannot edit it ...
        assert!(sqlx::query("UPDATE audit_log SET actor_id = 'st_2' WHERE seq = 3").execute(&mut *conn).await.is_err());
        assert!(sqlx::query("DELETE FROM audit_log WHERE seq = 5").execute(&mut *conn).await.is_err());
        // ... and an edit by someone who removed the guard is found.
        drop_audit_guards(&db, &mut conn).await;
        sqlx::query("UPDATE audit_log SET actor_id = 'st_2' WHERE seq = 3").execute(&mut *conn).await.unwrap();
        let report = audit::verify(&mut conn, &vault()).await.unwrap();
        assert_eq!((report.ok, report.checked, report.first_broken_id), (false, 2, Some(3)));
    }

    async fn entries_appended_at_once_chain_as_appended_one_by_one(db) {
        let entry = |i: i64| AuditEntry { actor_role: "system".into(), actor_id: "system".into(), action: "create_terminal".into(),
            entity: "terminal".into(), entity_id: format!("tm_{i}"), detail: format!("{{\"sn\":\"SN-{i}\"}}") };
        let mut conn = db.pool().acquire().await.unwrap();
        audit::append(&mut conn, &vault(), &entry(0), 10).await.unwrap();
        let mut tx = db.begin_write().await.unwrap();
        audit::append_many(&mut tx, &vault(), &(1..5).map(entry).collect::<Vec<_>>(), 11).await.unwrap();
        tx.commit().await.unwrap();
        audit::append_many(&mut conn, &vault(), &[], 12).await.unwrap();
        audit::append(&mut conn, &vault(), &entry(5), 13).await.unwrap();
        let report = audit::verify(&mut conn, &vault()).await.unwrap();
        assert!(report.ok && report.checked == 6, "{report:?}");
        let rows = audit::list(&mut conn, None, 0, 100).await.unwrap();
        assert_eq!(rows.iter().map(|r| (r.seq, r.entry.entity_id.as_str())).collect::<Vec<_>>(),
            (0..6).map(|i| (i + 1, format!("tm_{i}"))).collect::<Vec<_>>().iter().map(|(s, e)| (*s, e.as_str())).collect::<Vec<_>>());
        // Each batch row is what `append` would have written in its place.
        for pair in rows.windows(2) {
            assert_eq!(pair[1].prev_hash, pair[0].hash);
            assert_eq!(pair[1].hash, audit::keyed_row_hash(&vault(), &pair[0].hash, pair[1].seq, pair[1].at, &pair[1].entry));
        }
        assert_eq!(audit::head(&mut conn).await.unwrap(), (6, rows[5].hash.clone()));
    }

    async fn a_transactions_audit_entries_are_appended_as_it_commits_and_forgotten_if_it_does_not(db) {
        let entry = |id: &str| AuditEntry { actor_role: "reviewer".into(), actor_id: "st_1".into(), action: "approve".into(),
            entity: "refund_application".into(), entity_id: id.into(), detail: "{}".into() };
        let mut tx = db.begin_write().await.unwrap();
        audit::at_commit(&mut tx, &vault(), entry("ra_1"), 100);
        audit::at_commit(&mut tx, &vault(), entry("ra_2"), 105);
        // Recorded, not yet appended: the transaction has not taken the chain's head.
        assert_eq!(audit::head(&mut tx).await.unwrap().0, 0);
        tx.commit().await.unwrap();
        let mut rolled_back = db.begin_write().await.unwrap();
        audit::at_commit(&mut rolled_back, &vault(), entry("ra_3"), 110);
        rolled_back.rollback().await.unwrap();
        let mut dropped = db.begin_write().await.unwrap();
        audit::at_commit(&mut dropped, &vault(), entry("ra_4"), 120);
        drop(dropped);
        let mut conn = db.pool().acquire().await.unwrap();
        let rows = audit::list(&mut conn, None, 0, 10).await.unwrap();
        // In the order recorded, each at its own time.
        assert_eq!(rows.iter().map(|r| (r.seq, r.at, r.entry.entity_id.as_str())).collect::<Vec<_>>(),
            [(1, 100, "ra_1"), (2, 105, "ra_2")]);
        let report = audit::verify(&mut conn, &vault()).await.unwrap();
        assert!(report.ok && report.checked == 2, "{report:?}");
    }

    async fn deleting_the_last_audit_row_is_detected(db) {
        let mut conn = db.pool().acquire().await.unwrap();
        for i in 0..3 {
            let e = AuditEntry { actor_role: "system".into(), actor_id: "system".into(), action: "payout".into(),
                entity: "payout".into(), entity_id: format!("po_{i}"), detail: "{}".into() };
            audit::append(&mut conn, &vault(), &e, i).await.unwrap();
        }
        drop_audit_guards(&db, &mut conn).await;
        sqlx::query("DELETE FROM audit_log WHERE seq = 3").execute(&mut *conn).await.unwrap();
        let report = audit::verify(&mut conn, &vault()).await.unwrap();
        assert_eq!((report.ok, report.first_broken_id), (false, Some(3)));
    }

    async fn concurrent_audit_appends_never_fork_the_chain(db) {
        let tasks: Vec<_> = (0..20).map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tx = db.begin_write().await.unwrap();
                let e = AuditEntry { actor_role: "system".into(), actor_id: "system".into(), action: "t".into(),
                    entity: "x".into(), entity_id: i.to_string(), detail: "{}".into() };
                audit::append(&mut tx, &vault(), &e, i).await.unwrap();
                tx.commit().await.unwrap();
            })
        }).collect();
        for t in tasks { t.await.unwrap(); }
        let mut conn = db.pool().acquire().await.unwrap();
        let report = audit::verify(&mut conn, &vault()).await.unwrap();
        assert!(report.ok && report.checked == 20, "{report:?}");
    }

    async fn a_chain_from_before_keying_verifies_once_its_end_is_keyed(db) {
        // Rows as an earlier Yajin wrote them: plain SHA-256.
        let mut conn = db.pool().acquire().await.unwrap();
        let mut prev = "genesis".to_owned();
        for seq in 1..=3 {
            let e = AuditEntry { actor_role: "system".into(), actor_id: "system".into(), action: "old".into(),
                entity: "x".into(), entity_id: seq.to_string(), detail: "{}".into() };
            let hash = audit::row_hash(&prev, seq, seq, &e);
            sqlx::query("INSERT INTO audit_log (seq, at, actor_role, actor_id, action, entity, entity_id, detail, prev_hash, hash)
                         VALUES ($1, $1, 'system', 'system', 'old', 'x', $2, '{}', $3, $4)")
                .bind(seq).bind(seq.to_string()).bind(&prev).bind(&hash).execute(&mut *conn).await.unwrap();
            sqlx::query("UPDATE audit_head SET last_seq = $1, last_hash = $2 WHERE id = 1").bind(seq).bind(&hash)
                .execute(&mut *conn).await.unwrap();
            prev = hash;
        }
        assert!(audit::ends_unkeyed(&mut conn).await.unwrap());
        let report = audit::verify(&mut conn, &vault()).await.unwrap();
        assert!(!report.ok, "an unkeyed end could be a rewrite: {report:?}");
        // The keyed checkpoint (what `serve` appends at start) closes it.
        let e = AuditEntry { actor_role: "system".into(), actor_id: "system".into(), action: "audit_chain_keyed".into(),
            entity: "audit_log".into(), entity_id: "head".into(), detail: "{}".into() };
        audit::append(&mut conn, &vault(), &e, 4).await.unwrap();
        assert!(!audit::ends_unkeyed(&mut conn).await.unwrap());
        let report = audit::verify(&mut conn, &vault()).await.unwrap();
        assert!(report.ok && report.checked == 4, "{report:?}");
        // Another key cannot vouch for the keyed row.
        let stranger = Vault::new(&MasterKey::from_hex(&"99".repeat(32)).unwrap(), &[]);
        assert_eq!(audit::verify(&mut conn, &stranger).await.unwrap().first_broken_id, Some(4));
        // After a rotation the old key still verifies what it keyed.
        let rotated = Vault::new(&MasterKey::from_hex(&"99".repeat(32)).unwrap(), &[MasterKey::from_hex(&"11".repeat(32)).unwrap()]);
        assert!(audit::verify(&mut conn, &rotated).await.unwrap().ok);
    }

    async fn verifying_while_others_append_never_reports_a_false_break(db) {
        let writers: Vec<_> = (0..4).map(|w| {
            let db = db.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    let mut tx = db.begin_write().await.unwrap();
                    let e = AuditEntry { actor_role: "system".into(), actor_id: "system".into(), action: "t".into(),
                        entity: "x".into(), entity_id: format!("{w}-{i}"), detail: "{}".into() };
                    audit::append(&mut tx, &vault(), &e, i).await.unwrap();
                    tx.commit().await.unwrap();
                }
            })
        }).collect();
        let mut verified = 0;
        while !writers.iter().all(|w| w.is_finished()) {
            let mut conn = db.pool().acquire().await.unwrap();
            let report = audit::verify(&mut conn, &vault()).await.unwrap();
            assert!(report.ok, "a walk during appends: {report:?}");
            verified += 1;
        }
        for w in writers { w.await.unwrap(); }
        let mut conn = db.pool().acquire().await.unwrap();
        let report = audit::verify(&mut conn, &vault()).await.unwrap();
        assert!(report.ok && report.checked == 100, "{report:?}");
        assert!(verified > 0);
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
            actor_id: &f.merchant_id, note: "", system_note: None, detail: "{}" };
        applications::append_event(&mut conn, &e, 1).await.unwrap();
        assert_eq!(applications::events(&mut conn, &id).await.unwrap().len(), 1);
        assert!(sqlx::query("DELETE FROM application_events").execute(&mut *conn).await.is_err());
    }

    async fn counted_volume_is_kept_current_by_every_path_that_writes_usage(db) {
        // The counted volume My Devices shows is kept by the database (terminal_volumes, kept by
        // triggers): it must equal a count from the records whichever way they were written —
        // one by one, in bulk with references already seen, before the window opened.
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let (id, plan_id, activation) = inactive_on_activation_plan(&db, &f).await;
        let mut tx = db.begin_write().await.unwrap();
        let usage = |fen: i64, kind: TxnKind, at: i64| terminals::NewUsage {
            terminal_id: id.clone(), amount: Fen::new(fen), fee: Fen::ZERO, kind, occurred_at: Timestamp::from_millis(at) };
        // Before activation there is no window: nothing counts, and this record never will.
        terminals::insert_usage(&mut tx, &usage(100, TxnKind::CreditCard, 5)).await.unwrap();
        let activated = Timestamp::from_millis(10);
        assert!(terminals::activate(&mut tx, &id, &plan_id, &activation, activated).await.unwrap());
        let until = activation.counting_window(activated).unwrap().1.millis();
        for (fen, kind, at) in [(200, TxnKind::CreditCard, 10), (300, TxnKind::DebitCard, 20), (50, TxnKind::CreditCard, until), (400, TxnKind::QrCode, until + 1)] {
            terminals::insert_usage(&mut tx, &usage(fen, kind, at)).await.unwrap();
        }
        tx.commit().await.unwrap();
        let mut loader = yajin_store::bulk::UsageLoader::new(&db);
        let batch = vec![("R1".to_owned(), usage(1_000, TxnKind::CreditCard, 30)), ("R2".to_owned(), usage(7, TxnKind::Nfc, 40))];
        assert_eq!(loader.load(batch).await.unwrap(), 2);
        let again = vec![("R1".to_owned(), usage(1_000, TxnKind::CreditCard, 30)), ("R3".to_owned(), usage(9, TxnKind::Nfc, until + 5))];
        assert_eq!(loader.load(again).await.unwrap(), 1, "R1 was loaded before");

        let mut conn = db.pool().acquire().await.unwrap();
        let (facts, _) = yajin_store::records::devices::of_terminals(&mut conn, &f.merchant_id, std::slice::from_ref(&id)).await.unwrap();
        let mut volumes = facts[0].volumes.clone();
        volumes.sort();
        let expected = vec![("credit_card".to_owned(), Fen::new(1_250)), ("debit_card".to_owned(), Fen::new(300)), ("nfc".to_owned(), Fen::new(7))];
        assert_eq!(volumes, expected);
        // The terminal the fixture made has no window (a termination plan): nothing of it counts.
        terminals::insert_usage(&mut conn, &terminals::NewUsage { terminal_id: f.terminal_id.clone(), amount: Fen::new(1), fee: Fen::ZERO,
            kind: TxnKind::CreditCard, occurred_at: Timestamp::from_millis(20) }).await.unwrap();
        let (facts, _) = yajin_store::records::devices::of_terminals(&mut conn, &f.merchant_id, std::slice::from_ref(&f.terminal_id)).await.unwrap();
        assert_eq!(facts[0].volumes, []);
        // What was counted stays as it was counted: a record is never changed or deleted.
        assert!(sqlx::query("UPDATE usage_transactions SET amount_fen = 1").execute(&mut *conn).await.is_err());
        assert!(sqlx::query("DELETE FROM usage_transactions").execute(&mut *conn).await.is_err());
        let (facts, _) = yajin_store::records::devices::of_terminals(&mut conn, &f.merchant_id, &[id]).await.unwrap();
        let mut volumes = facts[0].volumes.clone();
        volumes.sort();
        assert_eq!(volumes, expected);
    }

    async fn a_bulk_batch_larger_than_a_statement_loads_each_new_record_once(db) {
        // The SQLite loader inserts many rows a statement: a batch that ends mid-statement, with
        // references already recorded scattered through it, must still load each new record
        // once, count only those, and count them all in the terminal's volume.
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let (id, plan_id, activation) = inactive_on_activation_plan(&db, &f).await;
        let mut tx = db.begin_write().await.unwrap();
        assert!(terminals::activate(&mut tx, &id, &plan_id, &activation, Timestamp::from_millis(10)).await.unwrap());
        tx.commit().await.unwrap();
        let record = |i: i64| (format!("R{i}"), terminals::NewUsage { terminal_id: id.clone(), amount: Fen::new(i),
            fee: Fen::ZERO, kind: TxnKind::CreditCard, occurred_at: Timestamp::from_millis(20 + i) });
        let mut loader = yajin_store::bulk::UsageLoader::new(&db);
        let earlier: Vec<_> = (1..=300).filter(|i| i % 7 == 0).map(record).collect();
        assert_eq!(loader.load(earlier).await.unwrap(), 42);
        let batch: Vec<_> = (1..=300).map(record).collect();
        assert_eq!(loader.load(batch.clone()).await.unwrap(), 258, "the 42 recorded before are skipped");
        assert_eq!(loader.load(batch).await.unwrap(), 0);

        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_transactions").fetch_one(db.pool()).await.unwrap();
        assert_eq!(count, 300);
        let mut conn = db.pool().acquire().await.unwrap();
        let (facts, _) = yajin_store::records::devices::of_terminals(&mut conn, &f.merchant_id, &[id]).await.unwrap();
        assert_eq!(facts[0].volumes, [("credit_card".to_owned(), Fen::new(300 * 301 / 2))]);
    }

    async fn a_usage_record_names_a_terminal_that_exists_and_keeps_it(db) {
        // A foreign key on SQLite, a check once a statement on PostgreSQL (migration 14): a
        // record for no terminal is refused on every path that writes one, a bulk batch holding
        // one is refused whole, and a terminal that records name is neither deleted nor renamed.
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let (id, _, _) = inactive_on_activation_plan(&db, &f).await;
        let usage = |terminal_id: &str, at: i64| terminals::NewUsage { terminal_id: terminal_id.to_owned(),
            amount: Fen::new(100), fee: Fen::ZERO, kind: TxnKind::CreditCard, occurred_at: Timestamp::from_millis(at) };
        let mut tx = db.begin_write().await.unwrap();
        assert!(terminals::insert_usage(&mut tx, &usage("tm_nowhere", 1)).await.is_err());
        tx.rollback().await.unwrap();
        let mut loader = yajin_store::bulk::UsageLoader::new(&db);
        let batch = vec![("R1".to_owned(), usage(&id, 1)), ("R2".to_owned(), usage("tm_nowhere", 2)), ("R3".to_owned(), usage(&id, 3))];
        assert!(loader.load(batch.clone()).await.is_err());
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_transactions").fetch_one(db.pool()).await.unwrap();
        assert_eq!(count, 0, "nothing of the refused batch stays");
        assert_eq!(loader.load(vec![batch[0].clone(), batch[2].clone()]).await.unwrap(), 2, "the loader goes on after a refusal");

        // The terminal is inactive (no window, so no counted volume) and holds no deposit: only
        // its usage records name it.
        let delete = sqlx::query("DELETE FROM terminals WHERE id = $1").bind(&id).execute(db.pool()).await;
        assert!(delete.is_err(), "{delete:?}");
        let rename = sqlx::query("UPDATE terminals SET id = 'tm_renamed' WHERE id = $1").bind(&id).execute(db.pool()).await;
        assert!(rename.is_err(), "{rename:?}");
        let still: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM terminals WHERE id = $1").bind(&id).fetch_one(db.pool()).await.unwrap();
        assert_eq!(still, 1);
        // A terminal no record names changes as before.
        let renamed = sqlx::query("UPDATE terminals SET model = 'P3' WHERE id = $1").bind(&id).execute(db.pool()).await.unwrap();
        assert_eq!(renamed.rows_affected(), 1);
    }

    async fn a_record_written_while_its_terminal_activates_is_counted(db) {
        // Activation is set off by a terminal's first record, and recounts what it can see; a
        // second first record, written meanwhile by another transaction, must still count once
        // both commit (on PostgreSQL the usage trigger waits for the activating transaction).
        let f = merchant_with_terminal(&db, "13800000001", "SN-1").await;
        let (id, plan_id, activation) = inactive_on_activation_plan(&db, &f).await;
        let usage = |fen: i64, at: i64| terminals::NewUsage {
            terminal_id: id.clone(), amount: Fen::new(fen), fee: Fen::ZERO, kind: TxnKind::CreditCard, occurred_at: Timestamp::from_millis(at) };

        let mut first = db.begin_write().await.unwrap();
        terminals::insert_usage(&mut first, &usage(100, 20)).await.unwrap();
        assert!(terminals::activate(&mut first, &id, &plan_id, &activation, Timestamp::from_millis(10)).await.unwrap());
        let second = {
            let (db, record) = (db.clone(), usage(200, 30));
            tokio::spawn(async move {
                let mut tx = db.begin_write().await.unwrap();
                terminals::insert_usage(&mut tx, &record).await.unwrap();
                tx.commit().await.unwrap();
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        first.commit().await.unwrap();
        second.await.unwrap();

        let mut conn = db.pool().acquire().await.unwrap();
        let (facts, _) = yajin_store::records::devices::of_terminals(&mut conn, &f.merchant_id, &[id]).await.unwrap();
        assert_eq!(facts[0].volumes, [("credit_card".to_owned(), Fen::new(300))]);
    }
}

/// A second, inactive terminal (SN-2) of the fixture's merchant, on an activation plan (¥10,000
/// of card payments within 90 days): its id, the plan row it points at, and that plan.
async fn inactive_on_activation_plan(db: &Db, f: &Fixture) -> (String, String, DepositPlan) {
    let activation = DepositPlan {
        code: "ACT-99".into(),
        rule: RefundRule::Activation {
            volume_target_fen: Fen::yuan(10_000),
            counted_kinds: vec![TxnKind::CreditCard],
            window_days: 90,
        },
        ..plan()
    };
    let mut tx = db.begin_write().await.unwrap();
    let plan_id = plans::latest(&mut tx, "TERM-299").await.unwrap().unwrap().0;
    let terminal = terminals::NewTerminal {
        merchant_id: f.merchant_id.clone(),
        sn: TerminalSn::parse("SN-2").unwrap(),
        terminal_id: TerminalId::parse("T0000002").unwrap(),
        model: "P2".into(),
        status: TerminalStatus::Inactive,
        plan_id: plan_id.clone(),
        plan_snapshot: activation.clone(),
        bound_at: Timestamp::from_millis(0),
        activated_at: None,
        terminated_at: None,
        device_returned_at: None,
    };
    let id = terminals::insert(&mut tx, &terminal, 0).await.unwrap();
    tx.commit().await.unwrap();
    (id, plan_id, activation)
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

/// Tables, columns, nullability, unique and partial indexes, and CHECKs of a migrated database,
/// in a form both databases can be compared in.
async fn schema_of(db: &Db) -> std::collections::BTreeMap<String, String> {
    use sqlx::Row;
    let pool = db.pool();
    let mut out = std::collections::BTreeMap::new();
    let sqlite = db.backend() == yajin_store::Backend::Sqlite;
    let tables: Vec<String> = if sqlite {
        sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'yajin_schema'")
    } else {
        sqlx::query("SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'yajin_schema'")
    }
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get::<String, _>("name").unwrap())
    .collect();
    for table in tables {
        let (columns, uniques, checks): (Vec<String>, Vec<String>, i64) = if sqlite {
            let columns = sqlx::query("SELECT name, \"notnull\" AS nn, pk FROM pragma_table_info($1)")
                .bind(&table)
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    // SQLite lets a non-INTEGER primary key hold NULL unless told; PostgreSQL
                    // never does: a key column counts as NOT NULL on both.
                    let not_null = r.try_get::<i64, _>("nn").unwrap() == 1 || r.try_get::<i64, _>("pk").unwrap() > 0;
                    format!("{}{}", r.try_get::<String, _>("name").unwrap(), if not_null { " not null" } else { "" })
                })
                .collect();
            let mut uniques = Vec::new();
            // An INTEGER PRIMARY KEY is the rowid itself, with no index of its own to list.
            let origins: Vec<String> = sqlx::query("SELECT origin FROM pragma_index_list($1)")
                .bind(&table)
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<String, _>("origin").unwrap())
                .collect();
            let key: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk")
                .bind(&table)
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<String, _>("name").unwrap())
                .collect();
            if !key.is_empty() && !origins.iter().any(|o| o == "pk") {
                uniques.push(format!("unique({})", key.join(",")));
            }
            for index in sqlx::query("SELECT name, \"unique\" AS u, partial FROM pragma_index_list($1)")
                .bind(&table)
                .fetch_all(pool)
                .await
                .unwrap()
            {
                let name: String = index.try_get("name").unwrap();
                let cols: Vec<String> = sqlx::query("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&name)
                    .fetch_all(pool)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.try_get::<String, _>("name").unwrap())
                    .collect();
                let unique = index.try_get::<i64, _>("u").unwrap() == 1;
                let partial = index.try_get::<i64, _>("partial").unwrap() == 1;
                uniques.push(format!(
                    "{}({}){}",
                    if unique { "unique" } else { "index" },
                    cols.join(","),
                    if partial { " partial" } else { "" }
                ));
            }
            let sql: String = sqlx::query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1")
                .bind(&table)
                .fetch_one(pool)
                .await
                .unwrap()
                .try_get("sql")
                .unwrap();
            (columns, uniques, sql.to_uppercase().matches("CHECK (").count() as i64)
        } else {
            let columns = sqlx::query(
                "SELECT column_name::text AS name, is_nullable::text AS n FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1",
            )
            .bind(&table)
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                let nullable: String = r.try_get("n").unwrap();
                format!(
                    "{}{}",
                    r.try_get::<String, _>("name").unwrap(),
                    if nullable == "NO" { " not null" } else { "" }
                )
            })
            .collect();
            let uniques = sqlx::query(
                "SELECT i.indisunique AS u, i.indpred IS NOT NULL AS partial,
                        (SELECT string_agg(a.attname::text, ',' ORDER BY k.n) FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS cols
                 FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
                 WHERE t.relname = $1 AND t.relnamespace = current_schema()::regnamespace",
            )
            .bind(&table)
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                let unique: bool = r.try_get("u").unwrap();
                let partial: bool = r.try_get("partial").unwrap();
                let cols: String = r.try_get("cols").unwrap();
                format!("{}({cols}){}", if unique { "unique" } else { "index" }, if partial { " partial" } else { "" })
            })
            .collect();
            let checks: i64 = sqlx::query(
                "SELECT count(*) AS n FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
                 WHERE t.relname = $1 AND t.relnamespace = current_schema()::regnamespace AND c.contype = 'c'",
            )
            .bind(&table)
            .fetch_one(pool)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
            (columns, uniques, checks)
        };
        let (mut columns, mut uniques) = (columns, uniques);
        columns.sort();
        uniques.sort();
        out.insert(format!("{table} columns"), columns.join("; "));
        out.insert(format!("{table} indexes"), uniques.join("; "));
        out.insert(format!("{table} checks"), checks.to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_databases_migrate_to_the_same_schema() {
    let sqlite = yajin_testdb::TestDb::sqlite().await;
    let Some(postgres) = yajin_testdb::TestDb::postgres().await else { return };
    let (a, b) = (schema_of(&sqlite.db).await, schema_of(&postgres.db).await);
    assert!(a.len() > 60, "the introspection found too little: {a:?}");
    let differences: Vec<String> = a
        .keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}:\n  sqlite:   {:?}\n  postgres: {:?}", a.get(k), b.get(k)))
        .collect();
    assert!(differences.is_empty(), "the schemas differ:\n{}", differences.join("\n"));
}

on_both_databases! {
    async fn a_database_of_the_previous_release_migrates_with_its_money(db) {
        // A fresh database of the same backend, at 0001 only, holding ledger money.
        let old = match db.backend() {
            yajin_store::Backend::Sqlite => yajin_testdb::TestDb::sqlite_unmigrated().await,
            yajin_store::Backend::Postgres => yajin_testdb::TestDb::postgres_unmigrated().await.unwrap(),
        };
        let first: Vec<&Migration> = migrate::migrations(old.db.backend()).iter().filter(|m| m.version == 1).collect();
        migrate::apply(&old.db, &first, 0).await.unwrap();
        let mut tx = old.db.begin_write().await.unwrap();
        for sql in [
            "INSERT INTO ledger_accounts (id, kind, owner, credits_posted) VALUES ('deposit_held:tm_1', 'deposit_held', 'tm_1', 29900)",
            "INSERT INTO ledger_accounts (id, kind, owner) VALUES ('refunds_in_flight', 'refunds_in_flight', 'company')",
            "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount_fen, code, created_pending, state, reference, created_at)
             VALUES ('ra_1:refund', 'deposit_held:tm_1', 'refunds_in_flight', 20000, 'refund', 1, 'pending', 'ra_1', 1)",
            "UPDATE ledger_accounts SET debits_pending = 20000 WHERE id = 'deposit_held:tm_1'",
            "UPDATE ledger_accounts SET credits_pending = 20000 WHERE id = 'refunds_in_flight'",
        ] {
            yajin_store::sql::query(sql).execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();

        let report = migrate::migrate(&old.db, 0).await.unwrap();
        let after_first: Vec<i64> = (2..=migrate::latest_version(old.db.backend())).collect();
        assert_eq!(report.applied, after_first);
        assert_eq!(migrate::migrate(&old.db, 0).await.unwrap().applied, Vec::<i64>::new(), "once only");
        let held = AccountKey::deposit_held("tm_1");
        let balance = {
            let mut conn = old.db.pool().acquire().await.unwrap();
            ledger::balance(&mut conn, &held).await.unwrap()
        };
        assert_eq!((balance.debits_pending.get(), balance.credits_posted.get()), (20000, 29900), "money kept");
        // The limit came with the account: a second reservation beyond the rest is refused...
        let mut tx = old.db.begin_write().await.unwrap();
        let too_much = postings::approve_refund("ra_2", "tm_1", "mc_1", Fen::new(10000), Fen::ZERO, &[]);
        let refused = ledger::create(&mut tx, &too_much, 2).await;
        assert!(matches!(refused, Err(StoreError::Ledger(LedgerError::ExceedsCredits(_)))), "{refused:?}");
        drop(tx);
        // ... while the company's accounts stay unlimited, and foreign keys still hold.
        let mut tx = old.db.begin_write().await.unwrap();
        let fits = postings::approve_refund("ra_3", "tm_1", "mc_1", Fen::new(9900), Fen::ZERO, &[]);
        ledger::create(&mut tx, &fits, 3).await.unwrap();
        let orphan = yajin_store::sql::query(
            "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount_fen, code, created_pending, state, reference, created_at)
             VALUES ('x', 'no_such_account', 'refunds_in_flight', 1, 'refund', 1, 'pending', 'x', 1)",
        )
        .execute(&mut *tx)
        .await;
        assert!(orphan.is_err(), "a transfer to a missing account is refused after the rebuild");
    }
}

on_both_databases! {
    async fn a_written_transfer_is_never_changed_or_deleted_by_anyone(db) {
        let mut tx = db.begin_write().await.unwrap();
        for sql in [
            "INSERT INTO ledger_accounts (id, kind, owner, credits_posted, debits_must_not_exceed_credits)
             VALUES ('deposit_held:tm_1', 'deposit_held', 'tm_1', 29900, 1)",
            "INSERT INTO ledger_accounts (id, kind, owner, debits_must_not_exceed_credits)
             VALUES ('refunds_in_flight', 'refunds_in_flight', 'company', 0)",
            "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount_fen, code, created_pending, state, reference, created_at)
             VALUES ('posted', 'deposit_held:tm_1', 'refunds_in_flight', 100, 'refund', 0, 'posted', 'ra_1', 1)",
            "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount_fen, code, created_pending, state, reference, created_at)
             VALUES ('pending', 'deposit_held:tm_1', 'refunds_in_flight', 200, 'refund', 1, 'pending', 'ra_2', 1)",
        ] {
            yajin_store::sql::query(sql).execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
        // What someone with the application's database role might try, statement by statement.
        let refused = [
            "UPDATE ledger_transfers SET amount_fen = 1 WHERE id = 'posted'",
            "UPDATE ledger_transfers SET state = 'voided' WHERE id = 'posted'",
            "UPDATE ledger_transfers SET credit_account_id = 'deposit_held:tm_1', debit_account_id = 'refunds_in_flight' WHERE id = 'posted'",
            "UPDATE ledger_transfers SET amount_fen = 1 WHERE id = 'pending'",
            "UPDATE ledger_transfers SET state = 'pending', reference = 'ra_9' WHERE id = 'pending'",
            "DELETE FROM ledger_transfers WHERE id = 'posted'",
            "DELETE FROM ledger_transfers",
        ];
        for sql in refused {
            let mut conn = db.pool().acquire().await.unwrap();
            let e = sqlx::query(sql).execute(&mut *conn).await.expect_err(sql);
            assert!(e.to_string().contains("ledger_transfers"), "{sql}: {e}");
        }
        if db.backend() == yajin_store::Backend::Postgres {
            for table in ["ledger_transfers", "audit_log", "application_events"] {
                let mut conn = db.pool().acquire().await.unwrap();
                let e = sqlx::query(&format!("TRUNCATE {table} CASCADE")).execute(&mut *conn).await.expect_err(table);
                assert!(e.to_string().contains("never truncated"), "{table}: {e}");
            }
        }
        // The one step the ledger takes: a pending transfer is posted.
        let mut conn = db.pool().acquire().await.unwrap();
        sqlx::query("UPDATE ledger_transfers SET state = 'posted', resolved_at = 2 WHERE id = 'pending' AND state = 'pending'")
            .execute(&mut *conn)
            .await
            .unwrap();
        let amounts: Vec<(String, i64, String)> =
            sqlx::query_as("SELECT id, amount_fen, state FROM ledger_transfers ORDER BY id").fetch_all(&mut *conn).await.unwrap();
        assert_eq!(amounts, vec![("pending".into(), 200, "posted".into()), ("posted".into(), 100, "posted".into())]);
    }
}

/// Pages follow byte order on every database: a cursor compares ids as bytes, so a database
/// whose default collation sorts otherwise (ICU `en-US`: `a_c` < `a-b` < `a~` < `A0` < `ab`)
/// must neither skip nor repeat a row.
#[tokio::test]
async fn a_new_sqlite_database_has_pages_of_eight_kib() {
    // What made bulk loads 13 % faster (docs/benchmarks.md, session 21). The setting is
    // SQLite's; PostgreSQL's pages are fixed when it is built.
    let test_db = yajin_testdb::TestDb::sqlite().await;
    let size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(test_db.db.pool()).await.unwrap();
    assert_eq!(size, 8192);
    let conn = rusqlite::Connection::open(test_db.db.sqlite_reader().unwrap().path()).unwrap();
    let on_disk: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    assert_eq!(on_disk, 8192, "the file itself, as another process opens it");
}

#[tokio::test]
async fn pages_are_whole_under_a_non_c_collation() {
    let Some(test) = yajin_testdb::TestDb::postgres_icu().await else { return };
    let db = &test.db;
    let collation: (Option<String>,) =
        sqlx::query_as("SELECT daticulocale FROM pg_database WHERE datname = current_database()")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(collation.0.as_deref(), Some("en-US"), "the test needs an ICU database");
    let f = merchant_with_terminal(db, "13800000001", "SN-ICU-01").await;
    let ids = ["tk_a-b", "tk_a_c", "tk_aB", "tk_ab", "tk_a~", "tk_A0", "tk_B", "tk_a", "tk_~", "tk_-"];
    let mut tx = db.begin_write().await.unwrap();
    for id in ids {
        yajin_store::sql::query(
            "INSERT INTO tickets (id, merchant_id, subject, status, first_response_due_at, created_at, updated_at)
             VALUES ($1, $2, 's', 'open', 0, 0, 0)",
        )
        .bind(id)
        .bind(&f.merchant_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut bytewise: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    bytewise.sort();

    // Newest first (descending ids), two at a time, each page after the last id of the one before.
    let mut conn = db.pool().acquire().await.unwrap();
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let page = tickets::page_of_merchant(&mut conn, &f.merchant_id, cursor.as_deref(), 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        cursor = page.last().map(|t| t.id.clone());
        seen.extend(page.into_iter().map(|t| t.id));
    }
    assert_eq!(seen, bytewise.iter().rev().cloned().collect::<Vec<_>>());

    // Oldest first (the support inbox), ascending.
    let (mut seen, mut after) = (Vec::new(), String::new());
    loop {
        let page = tickets::inbox(&mut conn, None, &after, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().unwrap().id.clone();
        seen.extend(page.into_iter().map(|t| t.id));
    }
    assert_eq!(seen, bytewise);
}

/// PostgreSQL traffic carries password hashes, sealed PII and reset codes: `sslmode` is
/// honoured. `require` encrypts (the local server has SSL on with a self-signed certificate);
/// `verify-full` checks the certificate against the web's roots and refuses that one, saying why.
#[tokio::test]
async fn postgres_connections_are_encrypted_when_the_url_asks() {
    let Some(test) = yajin_testdb::TestDb::postgres_unmigrated().await else { return };
    let with = |mode: &str| {
        let separator = if test.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}sslmode={mode}", test.url)
    };
    let options = yajin_store::DbOptions { max_connections: 1, ..yajin_store::DbOptions::default() };
    let db = Db::connect(&with("require"), &options).await.expect("sslmode=require connects over TLS");
    let mut conn = db.pool().acquire().await.unwrap();
    let (encrypted,): (i64,) = sqlx::query_as(
        "SELECT CAST(CASE WHEN ssl THEN 1 ELSE 0 END AS BIGINT) FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(encrypted, 1, "the connection is encrypted");
    drop(conn);
    db.close().await;

    let Err(refused) = Db::connect(&with("verify-full"), &options).await else {
        panic!("verify-full accepted a self-signed certificate")
    };
    let message = refused.to_string().to_lowercase();
    assert!(message.contains("invalid peer certificate"), "{message}");
}

/// PostgreSQL compiles a statement whose estimated cost passes `jit_above_cost` before it
/// runs it: a merchant's page of 200 terminals spent 24–40 ms compiling to run for 2 ms. The
/// pool's connections turn that off, every one of them.
#[tokio::test]
async fn postgres_connections_never_compile_statements() {
    let Some(test) = yajin_testdb::TestDb::postgres().await else { return };
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = test.db.pool().acquire().await.unwrap();
        let jit: (String,) = sqlx::query_as("SELECT current_setting('jit')").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(jit.0, "off");
        held.push(conn);
    }
}

/// A use case's audit entry does not hold the chain's head while the use case waits for an
/// account: one transaction records its entry, then waits for an account that a second holds;
/// the second then audits and commits. Had the first appended its entry where it recorded it,
/// it would hold the head the second waits for while waiting for the second's account: a
/// deadlock, one of the two refused (so it went with `audit::append` in place of `at_commit`).
#[tokio::test]
async fn a_transaction_waiting_for_an_account_does_not_hold_the_audit_chain() {
    let Some(test) = yajin_testdb::TestDb::postgres().await else { return };
    let entry = |id: &str| AuditEntry {
        actor_role: "system".into(),
        actor_id: "system".into(),
        action: "t".into(),
        entity: "x".into(),
        entity_id: id.into(),
        detail: "{}".into(),
    };
    let account = AccountKey::company(yajin_core::ledger::AccountKind::RefundsInFlight);
    let mut second = test.db.begin_write().await.unwrap();
    ledger::hold_account(&mut second, &account).await.unwrap();
    let first = {
        let (db, account, entry) = (test.db.clone(), account.clone(), entry("first"));
        tokio::spawn(async move {
            let mut tx = db.begin_write().await?;
            audit::at_commit(&mut tx, &vault(), entry, 1);
            ledger::hold_account(&mut tx, &account).await?;
            tx.commit().await
        })
    };
    // The first waits for the account.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let waiting: (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(test.db.pool())
        .await
        .unwrap();
        if waiting.0 == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the first transaction never waited for the account");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    audit::at_commit(&mut second, &vault(), entry("second"), 2);
    second.commit().await.expect("the second commits while the first waits");
    first.await.unwrap().expect("the first commits once the account is free");
    let mut conn = test.db.pool().acquire().await.unwrap();
    let rows = audit::list(&mut conn, None, 0, 10).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.entry.entity_id.as_str()).collect::<Vec<_>>(), ["second", "first"]);
    assert!(audit::verify(&mut conn, &vault()).await.unwrap().ok);
}

/// My Devices on PostgreSQL is one plan for every merchant (the hot read connections keep
/// generic plans), made from the statistics of a ledger and a terminal table that a young
/// install skews: nearly every transfer debits one account (channel_clearing: each deposit
/// collected) and one merchant may hold nearly every terminal. Planned from those statistics
/// as they are, a page read the whole ledger for each terminal's deposit and walked the SN
/// index past the big merchant's terminals to find a small merchant's one (1M terminals:
/// 0.9 s for that merchant's page). Both pages are planned as lookups by key.
#[tokio::test]
async fn my_devices_is_planned_by_key_beside_a_merchant_with_nearly_every_terminal() {
    let Some(test) = yajin_testdb::TestDb::postgres().await else { return };
    let db = &test.db;
    let big = merchant_with_terminal(db, "13800000001", "BIG-000000").await;
    let small = merchant_with_terminal(db, "13800000002", "SMALL-0").await;
    let mut conn = db.pool().acquire().await.unwrap();
    // 20,000 more of the big merchant's terminals, each with its deposit collected.
    let clone = format!(
        "CREATE TEMP TABLE seq AS SELECT n, 'tm_big' || lpad(n::text, 6, '0') AS id FROM generate_series(1, 20000) n;
         INSERT INTO terminals (id, merchant_id, sn, terminal_id, model, status, plan_id, plan_snapshot, bound_at,
             activated_at, count_until, created_at)
           SELECT seq.id, t.merchant_id, 'BIG-' || lpad(n::text, 6, '0'), 'B' || lpad(n::text, 7, '0'), t.model,
                  t.status, t.plan_id, t.plan_snapshot, t.bound_at, t.activated_at, t.count_until, t.created_at
           FROM seq, terminals t WHERE t.id = '{big}';
         INSERT INTO ledger_accounts (id, kind, owner, credits_posted, debits_must_not_exceed_credits)
           SELECT 'deposit_held:' || seq.id, 'deposit_held', seq.id, 29900, 1 FROM seq;
         INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount_fen, code, created_pending,
             state, reference, created_at)
           SELECT seq.id || ':deposit', 'channel_clearing', 'deposit_held:' || seq.id, 29900, 'deposit_collected', 0,
                  'posted', seq.id, 0 FROM seq;
         ANALYZE",
        big = big.terminal_id
    );
    sqlx::raw_sql(&clone).execute(&mut *conn).await.unwrap();

    let [by_merchant, by_session] = devices::page_statements(yajin_store::Backend::Postgres);
    let setup = format!(
        "SET plan_cache_mode = force_generic_plan;
         PREPARE by_merchant(text, text, bigint) AS {by_merchant};
         PREPARE by_session(text, bigint, text, bigint) AS {by_session}"
    );
    sqlx::raw_sql(&setup).execute(&mut *conn).await.unwrap();
    let small_id = &small.merchant_id;
    for execute in [
        format!("EXECUTE by_merchant('{small_id}', '', 6)"),
        "EXECUTE by_session('no such token', 0, '', 6)".to_owned(),
    ] {
        let plan: Vec<(String,)> = sqlx::query_as(&format!("EXPLAIN {execute}")).fetch_all(&mut *conn).await.unwrap();
        let plan: Vec<&str> = plan.iter().map(|(line,)| line.trim()).collect();
        assert!(!plan.iter().any(|line| line.contains("Seq Scan on ledger_transfers")), "{execute}: {plan:#?}");
        let terminals: Vec<_> = plan.iter().filter(|line| line.contains(" on terminals ")).collect();
        assert!(
            !terminals.is_empty() && terminals.iter().all(|line| line.contains(" using terminals_by_merchant ")),
            "{execute}: {plan:#?}"
        );
    }
    // And the page itself: the small merchant's one terminal.
    let (page, _) = devices::page(db, &small.merchant_id, "", 6).await.unwrap();
    assert_eq!(page.iter().map(|t| t.terminal.id.as_str()).collect::<Vec<_>>(), [small.terminal_id.as_str()]);
}

/// A merchant's applications and notifications are listed newest first a page at a time, and
/// a page reads its own rows, the first page and one deep in the list alike: not every row the
/// merchant has, sorted for each page (a chain merchant has tens of thousands of notices).
/// PostgreSQL counts the rows a transaction's statements fetched. (SQLite's plan, by hand:
/// `SEARCH notifications USING INDEX notifications_by_merchant (merchant_id=? AND id<?)`, no
/// sort.)
#[tokio::test]
async fn a_page_of_a_merchants_list_reads_its_own_rows_not_all_the_merchants() {
    let Some(test) = yajin_testdb::TestDb::postgres().await else { return };
    let db = &test.db;
    let f = merchant_with_terminal(db, "13800000001", "SN-LIST-1").await;
    let application = submit(db, &f).await.unwrap();
    // Its 3,000 of each, and 8,000 of another merchant's, all newer.
    let other = merchant_with_terminal(db, "13800000002", "SN-LIST-2").await;
    let made = format!(
        "INSERT INTO notifications (id, merchant_id, kind, title, body, created_at)
           SELECT 'nt_' || lpad(n::text, 26, '0'), CASE WHEN n <= 3000 THEN '{merchant}' ELSE '{other}' END,
                  'notice', 't', 'b', n
           FROM generate_series(1, 11000) n;
         INSERT INTO refund_applications
           SELECT (jsonb_populate_record(NULL::refund_applications, to_jsonb(a)
             || jsonb_build_object('id', 'ra_' || lpad(n::text, 26, '0'), 'status', 'cancelled',
                  'merchant_id', CASE WHEN n <= 3000 THEN '{merchant}' ELSE '{other}' END))).*
           FROM refund_applications a, generate_series(1, 11000) n WHERE a.id = '{application}';
         ANALYZE",
        merchant = f.merchant_id,
        other = other.merchant_id
    );
    sqlx::raw_sql(&made).execute(db.pool()).await.unwrap();

    let fetched = |table: &'static str| {
        yajin_store::sql::query(
            "SELECT (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::bigint AS n
             FROM pg_stat_xact_user_tables WHERE relname = $1",
        )
        .bind(table)
    };
    let mut tx = db.begin_read().await.unwrap();
    // One plan for every cursor, as PostgreSQL comes to keep for a statement run often.
    yajin_store::sql::query("SET LOCAL plan_cache_mode = force_generic_plan").execute(&mut *tx).await.unwrap();
    let first = notifications::page(&mut tx, &f.merchant_id, None, 21).await.unwrap();
    let deep = notifications::page(&mut tx, &f.merchant_id, Some("nt_00000000000000000000001500"), 21).await.unwrap();
    let n: i64 = fetched("notifications").fetch_one(&mut *tx).await.unwrap().try_get("n").unwrap();
    assert_eq!((first.len(), deep.len()), (21, 21));
    assert!(first.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(deep[0].id, "nt_00000000000000000000001499");
    assert!(n <= 2 * 21 + 2, "two pages of notifications fetched {n} rows");

    let first = applications::page_of_merchant(&mut tx, &f.merchant_id, None, 21).await.unwrap();
    let deep = applications::page_of_merchant(&mut tx, &f.merchant_id, Some("ra_00000000000000000000001500"), 21)
        .await
        .unwrap();
    let n: i64 = fetched("refund_applications").fetch_one(&mut *tx).await.unwrap().try_get("n").unwrap();
    assert_eq!((first.len(), deep.len()), (21, 21));
    assert_eq!(first[0].id, application, "the newest first");
    assert_eq!(deep[0].id, "ra_00000000000000000000001499");
    assert!(n <= 2 * 21 + 2, "two pages of applications fetched {n} rows");
}

/// The pool hands out a connection used moments ago without pinging it (a round trip per
/// request), and checks one idle longer: connections the database dropped while idle (a
/// restart, an administrator's `pg_terminate_backend`) are replaced, and no caller sees an error.
#[tokio::test]
async fn connections_postgres_dropped_while_idle_are_replaced_unseen() {
    let Some(test) = yajin_testdb::TestDb::postgres().await else { return };
    let options = yajin_store::DbOptions { max_connections: 4, ..yajin_store::DbOptions::default() };
    let db = Db::connect(&test.url, &options).await.unwrap();
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut conn = db.pool().acquire().await.unwrap();
        sqlx::query("SELECT 1").execute(&mut *conn).await.unwrap();
        held.push(conn);
    }
    drop(held);
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&test.url).await.unwrap();
    let (killed,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(killed >= 4, "the pool's connections were dropped: {killed}");
    tokio::time::sleep(yajin_store::CHECK_CONNECTIONS_IDLE_FOR + std::time::Duration::from_millis(200)).await;
    for i in 0..8 {
        let mut conn = db.pool().acquire().await.unwrap();
        let (one,): (i64,) =
            sqlx::query_as("SELECT CAST(1 AS BIGINT)").fetch_one(&mut *conn).await.unwrap_or_else(|e| {
                panic!("use {i} after the database dropped the pool's connections: {e}");
            });
        assert_eq!(one, 1);
    }
}

/// SQLite is built as `.cargo/config.toml` says: no global memory accounting (a mutex every
/// allocation takes) and a page cache per connection (not one shared behind a global mutex).
#[tokio::test]
async fn sqlite_is_built_without_its_global_mutexes() {
    let test = yajin_testdb::TestDb::sqlite().await;
    let options: Vec<(String,)> =
        sqlx::query_as("SELECT compile_options FROM pragma_compile_options").fetch_all(test.db.pool()).await.unwrap();
    let options: Vec<String> = options.into_iter().map(|(o,)| o).collect();
    assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "{options:?}");
    assert!(!options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"), "{options:?}");
}

on_both_databases! {
    async fn a_hot_read_sees_each_commit_at_once_and_keeps_one_plan_on_postgres(db) {
        use yajin_store::records::sessions::{self, Session};
        let f = merchant_with_terminal(&db, "13800000071", "HOT-00001").await;
        let session = Session {
            token_hash: "hot-read".into(),
            principal_kind: "merchant".into(),
            principal_id: f.merchant_id.clone(),
            role: "merchant".into(),
            csrf_hash: "csrf".into(),
            expires_at: 10_000,
        };
        // Each read on its own connection (PostgreSQL's reads have a pool of their own), each
        // right after a commit on a use case's connection.
        assert!(sessions::live(&db, "hot-read", 1_000).await.unwrap().is_none());
        let mut tx = db.begin_write().await.unwrap();
        sessions::insert(&mut tx, &session, 1_000).await.unwrap();
        tx.commit().await.unwrap();
        let live = sessions::live(&db, "hot-read", 1_000).await.unwrap().expect("live once committed");
        assert_eq!((live.principal_id.as_str(), live.expires_at), (f.merchant_id.as_str(), 10_000));
        assert!(sessions::live(&db, "hot-read", 10_000).await.unwrap().is_none(), "expired");
        let mut tx = db.begin_write().await.unwrap();
        sessions::revoke(&mut tx, "hot-read", 2_000).await.unwrap();
        tx.commit().await.unwrap();
        assert!(sessions::live(&db, "hot-read", 2_000).await.unwrap().is_none(), "revoked");

        let (page, merchant) = devices::page(&db, &f.merchant_id, "", 10).await.unwrap();
        assert_eq!(page.iter().map(|t| t.terminal.sn.as_str()).collect::<Vec<_>>(), ["HOT-00001"]);
        assert!(!merchant.risk_frozen);

        // PostgreSQL plans the hot reads once a connection (My Devices' page was planned
        // afresh at every run, at more cost than running it); the use cases' statements keep
        // PostgreSQL's own choice.
        if db.backend() == yajin_store::Backend::Postgres {
            let mode = |mut conn: Box<yajin_store::sql::Conn>| async move {
                let row = yajin_store::sql::query("SELECT current_setting('plan_cache_mode') AS mode")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                row.try_get::<String, _>("mode").unwrap()
            };
            assert_eq!(mode(db.read_connection().await.unwrap()).await, "force_generic_plan");
            assert_eq!(mode(Box::new(db.pool().acquire().await.unwrap())).await, "auto");
        }
    }
}

/// PostgreSQL's hot reads keep connections of their own (sqlx's pool sent each one handed back
/// a round trip): a connection whose read was cut short or failed is not lent while what is
/// left of its answer is read off, then it is lent again, and every read answers its own
/// statement; a read that ran to its end gives its connection back at once; none of this
/// keeps more than the few places (the test database allows four such connections).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_read_cut_short_or_failed_leaves_nothing_for_the_next() {
    use yajin_store::sql::{query, Conn};
    let Some(test) = yajin_testdb::TestDb::postgres().await else { return };
    let db = &test.db;
    async fn backend(conn: &mut Conn) -> i64 {
        let row = query("SELECT pg_backend_pid()::bigint AS pid").fetch_one(conn).await.unwrap();
        row.try_get::<i64, _>("pid").unwrap()
    }
    for i in 0..6_i64 {
        let mut conn = db.read_connection().await.unwrap();
        let cut_short = backend(&mut *conn).await;
        let slow = query("SELECT pg_sleep(0.2)::text AS slept, 'late' AS n");
        let cut = tokio::time::timeout(std::time::Duration::from_millis(20), slow.fetch_all(&mut *conn)).await;
        assert!(cut.is_err(), "the read was cut short");
        drop(conn);

        let mut conn = db.read_connection().await.unwrap();
        let failed = backend(&mut *conn).await;
        assert_ne!(failed, cut_short, "a connection whose answer is still coming is not lent");
        assert!(query("SELECT no_such_column FROM terminals").fetch_all(&mut *conn).await.is_err());
        drop(conn);

        // Four reads at once, all the places there are: two of them wait for the places the
        // drains keep, which are given up only once their connections are idle again, so
        // both come back (no timing in this), and each read on any connection answers its
        // own statement (the 'late' row of the read cut short is gone).
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut conn = db.read_connection().await.unwrap();
            let pid = backend(&mut *conn).await;
            held.push((pid, conn));
        }
        let pids: Vec<i64> = held.iter().map(|(pid, _)| *pid).collect();
        assert!(pids.contains(&cut_short) && pids.contains(&failed), "{pids:?} lends {cut_short} and {failed} again");
        for (k, (_, conn)) in held.iter_mut().enumerate() {
            let n = i * 10 + i64::try_from(k).unwrap();
            let row = query("SELECT $1::bigint AS n").bind(n).fetch_one(&mut **conn).await.unwrap();
            assert_eq!(row.try_get::<i64, _>("n").unwrap(), n, "each read answers its own statement");
        }
        let last = held[3].0;
        drop(held);
        assert_eq!(backend(&mut *db.read_connection().await.unwrap()).await, last, "a clean one is lent again at once");
    }
}

/// A hot read's idle connection that PostgreSQL dropped (a restart, `pg_terminate_backend`)
/// is replaced before a request meets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_read_replaces_a_connection_the_server_dropped() {
    use yajin_store::sql::query;
    let Some(test) = yajin_testdb::TestDb::postgres().await else { return };
    let db = &test.db;
    let backend = |mut conn: Box<yajin_store::sql::Conn>| async move {
        let row = query("SELECT pg_backend_pid()::bigint AS pid").fetch_one(&mut *conn).await.unwrap();
        row.try_get::<i64, _>("pid").unwrap()
    };
    let first = backend(db.read_connection().await.unwrap()).await;
    assert_eq!(backend(db.read_connection().await.unwrap()).await, first, "an idle connection is used again");
    let mut admin = db.pool().acquire().await.unwrap();
    sqlx::query("SELECT pg_terminate_backend($1::int)").bind(first).execute(&mut *admin).await.unwrap();
    drop(admin);
    tokio::time::sleep(yajin_store::db::CHECK_CONNECTIONS_IDLE_FOR + std::time::Duration::from_millis(100)).await;
    let next = backend(db.read_connection().await.unwrap()).await;
    assert_ne!(next, first);
}

/// Transfers among shared accounts (the company's, two merchants' receivables), many
/// transactions at once, each naming its accounts in an order of its own: in one `create`, as a
/// use case that makes several ledger calls (reserve, then post each) after holding every
/// account it will touch, or reserved in one transaction and posted one transaction a transfer. On PostgreSQL, two transactions that take the same rows in opposite
/// orders wait on each other until one is killed as a deadlock; the ledger takes accounts in
/// one order (by id), so none may fail, and the counters are the transfers' sums.
fn shared_accounts() -> Vec<AccountKey> {
    use yajin_core::ledger::AccountKind;
    vec![
        AccountKey::company(AccountKind::ChannelClearing),
        AccountKey::company(AccountKind::FeeRevenue),
        AccountKey::company(AccountKind::RefundsInFlight),
        AccountKey::receivable("mc_one"),
        AccountKey::receivable("mc_two"),
    ]
}

on_both_databases! {
    async fn postings_at_once_naming_shared_accounts_in_any_order_never_deadlock(db) {
        use yajin_core::ledger::{Transfer, TransferCode};
        const TASKS: u64 = 8;
        const ROUNDS: u64 = 12;
        let accounts = shared_accounts();
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..TASKS {
            let (db, accounts) = (db.clone(), accounts.clone());
            tasks.spawn(async move {
                // A fixed walk through the accounts per task: each pair in both directions.
                let mut seed = task.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                let mut next = |n: usize| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    usize::try_from(seed % n as u64).unwrap()
                };
                let mut moved = Vec::new();
                for round in 0..ROUNDS {
                    let transfers: Vec<Transfer> = (0..3)
                        .map(|i| {
                            let debit = next(accounts.len());
                            let credit = (debit + 1 + next(accounts.len() - 1)) % accounts.len();
                            Transfer {
                                id: format!("tr_{task}_{round}_{i}"),
                                debit: accounts[debit].clone(),
                                credit: accounts[credit].clone(),
                                amount: Fen::new(i64::try_from(1 + next(100)).unwrap()),
                                code: TransferCode::ChargeAccrued,
                                pending: round % 3 != 0,
                                reference: format!("ref_{task}_{round}"),
                            }
                        })
                        .collect();
                    let mut tx = db.begin_write().await.unwrap();
                    match round % 3 {
                        0 => ledger::create(&mut tx, &transfers, 1).await?,
                        1 => {
                            // As a payout's success does: hold, reserve, post one by one.
                            ledger::hold_accounts_of(&mut tx, transfers.iter()).await?;
                            for t in &transfers {
                                ledger::create(&mut tx, std::slice::from_ref(t), 1).await?;
                            }
                            if task % 2 == 0 {
                                for t in transfers.iter().rev() {
                                    ledger::post(&mut tx, &t.id, 2).await?;
                                }
                            } else {
                                let ids: Vec<&str> = transfers.iter().map(|t| t.id.as_str()).collect();
                                ledger::post_many(&mut tx, &ids, 2).await?;
                            }
                            Vec::new()
                        }
                        _ => ledger::create(&mut tx, &transfers, 1).await?,
                    };
                    tx.commit().await?;
                    if round % 3 == 2 && task % 2 == 0 {
                        // Reserved at once above, now each posted alone, with nothing held first.
                        for t in &transfers {
                            let mut tx = db.begin_write().await.unwrap();
                            ledger::post(&mut tx, &t.id, 2).await?;
                            tx.commit().await?;
                        }
                    } else if round % 3 == 2 {
                        // Or all posted at once with a new transfer naming two of the accounts
                        // the other way round, as a payout's success does.
                        let paid = Transfer {
                            id: format!("tr_{task}_{round}_paid"),
                            debit: transfers[0].credit.clone(),
                            credit: transfers[0].debit.clone(),
                            amount: Fen::new(7),
                            code: TransferCode::ChargeAccrued,
                            pending: false,
                            reference: format!("ref_{task}_{round}"),
                        };
                        let mut tx = db.begin_write().await.unwrap();
                        let posting: Vec<&Transfer> = transfers.iter().rev().collect();
                        ledger::post_and_create(&mut tx, &posting, std::slice::from_ref(&paid), 2).await?;
                        tx.commit().await?;
                        moved.push(paid);
                    }
                    moved.extend(transfers);
                }
                Ok::<_, StoreError>(moved)
            });
        }
        let mut moved = Vec::new();
        while let Some(done) = tasks.join_next().await {
            moved.extend(done.unwrap().unwrap_or_else(|e| panic!("a transaction failed: {e}")));
        }
        // Three transfers a round, and a paid one in each third round of half the tasks.
        assert_eq!(moved.len(), usize::try_from(TASKS * ROUNDS * 3 + TASKS / 2 * ROUNDS / 3).unwrap());
        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(ledger::verify(&mut conn).await.unwrap(), [], "counters are the transfers' sums");
        for key in &accounts {
            let sum = |side: fn(&Transfer) -> &AccountKey| {
                Fen::new(moved.iter().filter(|t| side(t) == key).map(|t| t.amount.get()).sum())
            };
            let balance = ledger::balance(&mut conn, key).await.unwrap();
            assert_eq!((balance.debits_posted, balance.credits_posted), (sum(|t| &t.debit), sum(|t| &t.credit)), "{key}");
            assert_eq!((balance.debits_pending, balance.credits_pending), (Fen::ZERO, Fen::ZERO), "{key}");
        }
    }
}

/// Two transactions that take two rows in opposite orders (written by hand here: the ledger
/// never does it): PostgreSQL stops one of them as a deadlock, which reaches the caller as
/// contention, to answer "nothing was written, try again" rather than as an unexpected failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_stopped_as_a_deadlock_is_contention_to_retry() {
    use yajin_store::sql::query;
    let Some(test_db) = yajin_testdb::TestDb::postgres().await else { return };
    let db = test_db.db.clone();
    let (a, b) = ("fee_revenue", "refunds_in_flight");
    let mut setup = db.begin_write().await.unwrap();
    let company = |kind| AccountKey::company(kind);
    use yajin_core::ledger::AccountKind::{FeeRevenue, RefundsInFlight};
    ledger::hold_accounts(&mut setup, &[company(FeeRevenue), company(RefundsInFlight)]).await.unwrap();
    setup.commit().await.unwrap();
    let touch = "UPDATE ledger_accounts SET debits_posted = debits_posted WHERE id = $1";
    let (mut first, mut second) = (db.begin_write().await.unwrap(), db.begin_write().await.unwrap());
    query(touch).bind(a).execute(&mut first).await.unwrap();
    query(touch).bind(b).execute(&mut second).await.unwrap();
    let (one, two) = tokio::join!(
        async {
            let done = query(touch).bind(b).execute(&mut first).await;
            (done, first)
        },
        async {
            let done = query(touch).bind(a).execute(&mut second).await;
            (done, second)
        }
    );
    let errors: Vec<StoreError> = [one.0, two.0].into_iter().filter_map(Result::err).collect();
    assert_eq!(errors.len(), 1, "one of the two stopped, the other went on");
    assert!(matches!(&errors[0], StoreError::Contention(m) if m.contains("deadlock")), "{}", errors[0]);
}

/// Queues `n` payout jobs due at 1, 2, … `n` (ms), their ids in that order.
async fn queue_jobs(db: &Db, n: i64) -> Vec<String> {
    let mut tx = db.begin_write().await.unwrap();
    for at in 1..=n {
        jobs::enqueue(&mut tx, "payout", &format!("job-{at:05}"), "{}", at, 0).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut conn = db.begin_read().await.unwrap();
    let rows = yajin_store::sql::query("SELECT id FROM jobs ORDER BY run_at").fetch_all(&mut *conn).await.unwrap();
    rows.iter().map(|r| r.try_get::<String, _>("id").unwrap()).collect()
}

async fn claim_jobs(db: &Db, worker: &str, now: i64, limit: usize) -> Vec<jobs::Job> {
    let mut tx = db.begin_write().await.unwrap();
    let claimed = jobs::claim(&mut tx, db.backend(), worker, now, 1_000, limit).await.unwrap();
    tx.commit().await.unwrap();
    claimed
}

on_both_databases! {
    async fn a_claim_takes_the_oldest_due_jobs_up_to_its_limit_and_a_lapsed_claim_changes_nothing(db) {
        let ids = queue_jobs(&db, 30).await;
        // At 20 ms, jobs 1–20 are due and 21–30 are not yet.
        let first = claim_jobs(&db, "w1", 20, 8).await;
        let mut taken: Vec<&str> = first.iter().map(|j| j.id.as_str()).collect();
        taken.sort();
        assert_eq!(taken, ids[..8].iter().map(String::as_str).collect::<Vec<_>>(), "the oldest due first");
        assert!(first.iter().all(|j| j.attempts == 1 && j.kind == "payout"));
        let rest = claim_jobs(&db, "w2", 20, 100).await;
        assert_eq!(rest.len(), 12, "only what is due, and nothing claimed twice");
        assert!(rest.iter().all(|j| !taken.contains(&j.id.as_str())));
        assert!(claim_jobs(&db, "w2", 20, 100).await.is_empty(), "nothing left due");

        // w1's lease (1 s) runs out: its jobs are due again, before 21–30, and w3 takes them.
        let late = claim_jobs(&db, "w3", 1_021, 8).await;
        let mut retaken: Vec<&str> = late.iter().map(|j| j.id.as_str()).collect();
        retaken.sort();
        assert_eq!(retaken, taken, "abandoned jobs are claimed again, oldest first");
        assert!(late.iter().all(|j| j.attempts == 2));
        // w1 finishes late: its claim lapsed, so nothing changes; w3's counts.
        let mut tx = db.begin_write().await.unwrap();
        assert!(!jobs::complete(&mut tx, &first[0], "w1", 1_030).await.unwrap());
        assert!(!jobs::reschedule(&mut tx, &first[1], "w1", 5_000, Some("late"), 1_030).await.unwrap());
        let again = late.iter().find(|j| j.id == first[0].id).unwrap();
        assert!(jobs::complete(&mut tx, again, "w3", 1_030).await.unwrap());
        // The same worker's earlier claim of a job it claimed again is a lapsed claim too.
        let stale = jobs::Job { attempts: 1, ..late.iter().find(|j| j.id == first[1].id).unwrap().clone() };
        assert!(!jobs::complete(&mut tx, &stale, "w3", 1_030).await.unwrap());
        tx.commit().await.unwrap();
    }

    async fn jobs_enqueued_many_at_once_are_each_queued_once_as_one_by_one(db) {
        // A batch of approvals queues its payouts in one statement: a key queued before, or
        // twice in the batch, is queued once, with what it was first queued with.
        let mut tx = db.begin_write().await.unwrap();
        assert!(jobs::enqueue(&mut tx, "payout", "payout:ra_1", "first", 5, 0).await.unwrap());
        let job = |dedupe_key, payload, run_at| jobs::NewJob { kind: "payout", dedupe_key, payload, run_at };
        let many = [job("payout:ra_3", "three", 3), job("payout:ra_1", "again", 1), job("payout:ra_2", "two", 2), job("payout:ra_3", "three", 3)];
        jobs::enqueue_many(&mut tx, &many, 1).await.unwrap();
        jobs::enqueue_many(&mut tx, &[], 1).await.unwrap();
        tx.commit().await.unwrap();
        let mut conn = db.begin_read().await.unwrap();
        let rows = yajin_store::sql::query("SELECT dedupe_key, payload, status, run_at, created_at FROM jobs ORDER BY dedupe_key")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let read: Vec<(String, String, String, i64, i64)> = rows
            .iter()
            .map(|r| (r.try_get("dedupe_key").unwrap(), r.try_get("payload").unwrap(), r.try_get("status").unwrap(), r.try_get("run_at").unwrap(), r.try_get("created_at").unwrap()))
            .collect();
        let row = |key: &str, payload: &str, run_at, created_at| (key.to_owned(), payload.to_owned(), "queued".to_owned(), run_at, created_at);
        assert_eq!(read, [row("payout:ra_1", "first", 5, 0), row("payout:ra_2", "two", 2, 1), row("payout:ra_3", "three", 3, 1)]);
        drop(conn);
        let claimed = claim_jobs(&db, "w1", 10, 10).await;
        assert_eq!(claimed.len(), 3, "each queued job is claimed: {claimed:?}");
    }

    async fn workers_claiming_at_once_share_a_backlog_without_overlap(db) {
        let ids = queue_jobs(&db, 400).await;
        let mut tasks = Vec::new();
        for w in 0..6 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = claim_jobs(&db, &format!("w{w}"), 500, 7).await;
                    if got.is_empty() {
                        return mine;
                    }
                    assert!(got.len() <= 7);
                    mine.extend(got.into_iter().map(|j| j.id));
                }
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(all, expected, "every job claimed exactly once");
    }
}

/// A claim reads the few jobs it takes, not the backlog: with thousands due (a surge of
/// approvals, a text to every merchant), a worker claimed by gathering and sorting every due
/// row, a claim at a time (docs/benchmarks.md, session 26). PostgreSQL counts the rows a
/// transaction's statements fetched. (SQLite's plan, by hand: `SEARCH jobs USING INDEX
/// jobs_ready (status=? AND run_at<?)` for the queued, with no sort of them.)
#[tokio::test]
async fn a_claim_reads_no_more_of_a_backlog_than_it_takes() {
    let Some(test) = yajin_testdb::TestDb::postgres().await else { return };
    let db = &test.db;
    sqlx::raw_sql(
        "INSERT INTO jobs (id, kind, dedupe_key, payload, status, run_at, created_at, updated_at)
           SELECT 'jb_' || lpad(n::text, 26, '0'), 'payout', 'backlog-' || n, '{}',
                  CASE WHEN n % 4 = 0 THEN 'queued' ELSE 'done' END, n, 0, 0
           FROM generate_series(1, 20000) n;
         ANALYZE jobs",
    )
    .execute(db.pool())
    .await
    .unwrap();
    let fetched = || {
        yajin_store::sql::query(
            "SELECT (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::bigint AS n
             FROM pg_stat_xact_user_tables WHERE relname = 'jobs'",
        )
    };
    // An idle worker's look: nothing due yet (the first is due at 4 ms), then plenty.
    let mut conn = db.begin_read().await.unwrap();
    yajin_store::sql::query("SET LOCAL plan_cache_mode = force_generic_plan").execute(&mut *conn).await.unwrap();
    assert!(!jobs::any_due(&mut conn, 3).await.unwrap());
    assert!(jobs::any_due(&mut conn, 30_000).await.unwrap());
    let n: i64 = fetched().fetch_one(&mut *conn).await.unwrap().try_get("n").unwrap();
    assert!(n <= 4, "two looks for a due job among 20,000 fetched {n} rows");
    drop(conn);

    let mut tx = db.begin_write().await.unwrap();
    yajin_store::sql::query("SET LOCAL plan_cache_mode = force_generic_plan").execute(&mut *tx).await.unwrap();
    let claimed = jobs::claim(&mut tx, db.backend(), "w", 30_000, 1_000, 16).await.unwrap();
    let n: i64 = fetched().fetch_one(&mut *tx).await.unwrap().try_get("n").unwrap();
    tx.commit().await.unwrap();
    let mut at: Vec<String> = claimed.iter().map(|j| j.id.clone()).collect();
    at.sort();
    assert_eq!(at.first().map(String::as_str), Some("jb_00000000000000000000000004"), "the oldest due first");
    assert_eq!(at.len(), 16);
    assert!(n <= 4 * 16, "a claim of 16 of 5,000 due jobs fetched {n} rows");
}
