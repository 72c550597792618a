//! Provisioning over the API: what a deployment migrates from its old systems, idempotent on
//! natural keys, every bad field reported, nothing half-written — and a merchant created this
//! way can log in and get a deposit back.

use serde_json::{json, Value};
use yajin_testdb::on_both_databases;

use crate::harness::spawn_app;

fn merchant() -> Value {
    json!({"merchant_no": "822100058129999", "name": "新开小店", "phone": "13900000009", "password": "Shop@2026x",
           "id_card_no": "11010519491231002X", "bank_card_no": "6222021234567890128", "bank_name": "工商银行"})
}

fn terminal() -> Value {
    json!({"merchant_no": "822100058129999", "sn": "NEW-SN-0001", "model": "拉卡拉 P2", "plan_code": "ACT-99",
           "status": "active", "bound_at": "2026-09-01T00:00:00Z", "activated_at": "2026-09-02T00:00:00Z",
           "deposit": {"amount_fen": 9900, "route": "wechat", "route_ref": "WX-1", "collected_at": "2026-09-01T00:00:00Z"}})
}

/// The columns of a usage-records file: `ref,sn,amount_fen,kind,occurred_at`.
fn transaction_columns() -> yajin_app::import::Columns {
    let header: Vec<String> = ["ref", "sn", "amount_fen", "kind", "occurred_at"].map(String::from).to_vec();
    yajin_app::import::Columns::new(yajin_app::import::Kind::Transactions, &header).unwrap()
}

/// The columns of a terminals file, every one of them.
fn terminal_columns() -> yajin_app::import::Columns {
    let header: Vec<String> = [
        "merchant_no",
        "sn",
        "terminal_id",
        "model",
        "plan_code",
        "status",
        "bound_at",
        "activated_at",
        "terminated_at",
        "device_returned_at",
        "deposit_amount_fen",
        "deposit_route",
        "deposit_route_ref",
        "deposit_collected_at",
    ]
    .map(String::from)
    .to_vec();
    yajin_app::import::Columns::new(yajin_app::import::Kind::Terminals, &header).unwrap()
}

/// A terminals-file row: an active terminal on the termination plan, its ¥299 deposit collected.
fn terminal_row(line: u64, merchant_no: &str, sn: &str, terminal_id: &str) -> yajin_app::import::Row {
    let fields = [
        merchant_no,
        sn,
        terminal_id,
        "P2",
        "TERM-299",
        "active",
        "2026-09-01T00:00:00Z",
        "2026-09-02T00:00:00Z",
        "",
        "",
        "29900",
        "card",
        &format!("R-{sn}"),
        "2026-09-01T00:00:00Z",
    ];
    yajin_app::import::Row { line, fields: fields.map(String::from).to_vec() }
}

/// Who runs `yajin import`.
fn importer() -> yajin_app::Actor {
    yajin_app::Actor { role: yajin_core::application::Role::System, id: "import".into() }
}

on_both_databases! {
    async fn the_same_file_imported_twice_at_once_counts_each_record_once(db) {
        use yajin_app::import::{self, Row};
        let app = spawn_app(db).await;
        let m = app.merchant(yajin_app::demo::MERCHANT_A.phone).await;
        let reached = || async { app.get("/api/v1/terminals/DEMO-PROGRESS-01", &m).await.body["progress"]["reached_fen"].as_i64().unwrap() };
        let before = reached().await;
        let columns = transaction_columns();
        let at = yajin_core::Timestamp::from_millis(app.app.now_ms()).to_rfc3339();
        let rows: Vec<Row> = (0..300)
            .map(|i| Row { line: i + 2, fields: vec![format!("C-{i}"), "DEMO-PROGRESS-01".into(), "100".into(), "credit_card".into(), at.clone()] })
            .collect();
        let mut runs = tokio::task::JoinSet::new();
        for _ in 0..3 {
            let (a, columns, rows) = (app.app.clone(), columns.clone(), rows.clone());
            runs.spawn(async move {
                let actor = importer();
                import::load(&a, &actor, &columns, rows, false).await.unwrap().0
            });
        }
        let tallies = runs.join_all().await;
        assert_eq!(tallies.iter().map(|t| t.loaded).sum::<u64>(), 300, "{tallies:?}");
        assert_eq!(tallies.iter().map(|t| t.existing).sum::<u64>(), 600);
        assert_eq!(reached().await, before + 300 * 100, "each record counts once");
    }

    async fn files_sharing_references_in_opposite_orders_load_at_once_without_failing(db) {
        // Two imports at once whose files hold the same references, one in reverse: each waits
        // on the other's new keys; neither may fail (a deadlock), and each record counts once.
        use yajin_app::import::{self, Row};
        let app = spawn_app(db).await;
        let m = app.merchant(yajin_app::demo::MERCHANT_A.phone).await;
        let reached = || async { app.get("/api/v1/terminals/DEMO-PROGRESS-01", &m).await.body["progress"]["reached_fen"].as_i64().unwrap() };
        let before = reached().await;
        let columns = transaction_columns();
        let at = yajin_core::Timestamp::from_millis(app.app.now_ms()).to_rfc3339();
        let (rounds, per_round) = (5, 2_000);
        for round in 0..rounds {
            let rows: Vec<Row> = (0..per_round)
                .map(|i| Row { line: i + 2, fields: vec![format!("O-{round}-{i:05}"), "DEMO-PROGRESS-01".into(), "1".into(), "credit_card".into(), at.clone()] })
                .collect();
            let mut reversed = rows.clone();
            reversed.reverse();
            let mut runs = tokio::task::JoinSet::new();
            for rows in [rows, reversed] {
                let (a, columns) = (app.app.clone(), columns.clone());
                runs.spawn(async move {
                    let actor = importer();
                    import::load(&a, &actor, &columns, rows, false).await
                });
            }
            let tallies: Vec<_> = runs.join_all().await.into_iter().map(|r| r.expect("neither import fails").0).collect();
            assert_eq!(tallies.iter().map(|t| t.loaded).sum::<u64>(), per_round, "{tallies:?}");
        }
        assert_eq!(reached().await, before + (rounds * per_round) as i64, "each record counts once");
    }

    async fn bulk_loaded_references_are_stored_exactly_as_written(db) {
        // The bulk path (PostgreSQL COPY's text format gives `\`, `\N`, tabs and line breaks
        // meanings of their own) must store each reference as the file had it.
        use sqlx::Row as _;
        use yajin_app::import::{self, Row};
        let app = spawn_app(db).await;
        let actor = importer();
        let columns = transaction_columns();
        let at = yajin_core::Timestamp::from_millis(app.app.now_ms()).to_rfc3339();
        let refs = ["R\\N", "\\N", "R\\t1", "R\\\\2", "引用,\"3\"", "R 4", "R'5"];
        let rows: Vec<Row> = refs
            .iter()
            .enumerate()
            .map(|(i, r)| Row { line: i as u64 + 2, fields: vec![r.to_string(), "DEMO-AUTO-01".into(), "4321".into(), "credit_card".into(), at.clone()] })
            .collect();
        let (tally, errors) = import::load(&app.app, &actor, &columns, rows.clone(), false).await.unwrap();
        assert_eq!((tally.loaded, tally.refused), (refs.len() as u64, 0), "{errors:?}");
        let stored: Vec<String> = sqlx::query("SELECT ref FROM usage_transactions WHERE amount_fen = 4321")
            .fetch_all(app.db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get("ref").unwrap())
            .collect();
        let mut expected: Vec<String> = refs.iter().map(|r| r.to_string()).collect();
        let mut stored = stored;
        expected.sort();
        stored.sort();
        assert_eq!(stored, expected);
        let (again, _) = import::load(&app.app, &actor, &columns, rows, false).await.unwrap();
        assert_eq!((again.loaded, again.existing), (0, refs.len() as u64), "found again by the same key");
    }

    async fn merchants_hear_once_that_a_window_closes_soon_and_once_that_it_closed(db) {
        // DEMO-PROGRESS-01: activated 50 days ago on a 90-day window, target not met.
        let app = spawn_app(db).await;
        let notices = |kind: &'static str| {
            let app = &app;
            async move {
                let m = app.merchant(yajin_app::demo::MERCHANT_A.phone).await;
                let items = app.get("/api/v1/notifications", &m).await.body["items"].as_array().unwrap().clone();
                items.iter().filter(|n| n["kind"] == kind && n["body"].as_str().unwrap().contains("DEMO-PROGRESS-01")).cloned().collect::<Vec<_>>()
            }
        };
        yajin_app::evaluation::run(&app.app, |_| {}).await.unwrap();
        assert!(notices("window_closing").await.is_empty(), "40 days left: too early");
        app.clock.advance_ms(34 * 86_400_000);
        let run = yajin_app::evaluation::run(&app.app, |_| {}).await.unwrap();
        assert!(run.reminded >= 1, "{run:?}");
        let closing = notices("window_closing").await;
        assert_eq!(closing.len(), 1);
        let body = closing[0]["body"].as_str().unwrap();
        assert!(body.contains("3,500.00") && body.contains("10,000.00"), "how far they are: {body}");
        yajin_app::evaluation::run(&app.app, |_| {}).await.unwrap();
        assert_eq!(notices("window_closing").await.len(), 1, "once");
        app.clock.advance_ms(7 * 86_400_000);
        yajin_app::evaluation::run(&app.app, |_| {}).await.unwrap();
        yajin_app::evaluation::run(&app.app, |_| {}).await.unwrap();
        assert_eq!(notices("window_closed").await.len(), 1, "told once that it closed");
        assert_eq!(notices("window_closing").await.len(), 1);
    }

    async fn bulk_loaded_usage_is_evaluated_once_merchants_hear_their_target_is_met(db) {
        use yajin_app::import::{self, Row};
        let app = spawn_app(db).await;
        let m = app.merchant(yajin_app::demo::MERCHANT_A.phone).await;
        let notices = || async {
            let items = app.get("/api/v1/notifications", &m).await.body["items"].as_array().unwrap().clone();
            items.iter().filter(|n| n["kind"] == "target_reached").count()
        };
        let before = notices().await;
        let actor = importer();
        let columns = transaction_columns();
        let at = yajin_core::Timestamp::from_millis(app.app.now_ms()).to_rfc3339();
        let rows = vec![Row { line: 2, fields: vec!["E-1".into(), "DEMO-PROGRESS-01".into(), "700000".into(), "credit_card".into(), at] }];
        let (tally, _) = import::load(&app.app, &actor, &columns, rows, false).await.unwrap();
        assert_eq!(tally.loaded, 1);
        assert_eq!(notices().await, before, "a bulk load tells nobody by itself");

        let first = yajin_app::evaluation::run(&app.app, |_| {}).await.unwrap();
        assert!(first.records >= 1 && first.terminals >= 1, "{first:?}");
        assert_eq!(notices().await, before + 1, "the merchant hears their target is met");
        let again = yajin_app::evaluation::run(&app.app, |_| {}).await.unwrap();
        assert!(again.records <= first.records, "the cursor moved on: {again:?}");
        assert_eq!(notices().await, before + 1, "once");
    }

    async fn a_terminal_batch_keeps_its_good_rows_around_a_refused_one(db) {
        // A batch of terminals is one transaction, each row a step. Row 3 takes row 2's
        // terminal number: its insert fails in the database (on PostgreSQL that spoils the
        // transaction until the step is undone), and the rows after it still load.
        use yajin_app::import;
        let app = spawn_app(db).await;
        let (columns, row) = (terminal_columns(), terminal_row);
        let a = yajin_app::demo::MERCHANT_A.merchant_no;
        let rows = vec![
            row(2, a, "BATCH-0001", "Q9000001"),
            row(3, a, "BATCH-0002", "Q9000001"),
            row(4, a, "BATCH-0003", "Q9000003"),
            row(5, "822100058129999", "BATCH-0004", "Q9000004"),
            row(6, a, "BATCH-0001", "Q9000001"),
        ];
        let (tally, errors) = import::load(&app.app, &importer(), &columns, rows, false).await.unwrap();
        assert_eq!((tally.rows, tally.loaded, tally.existing, tally.refused), (5, 2, 1, 2), "{errors:?}");
        let found: Vec<(u64, &str, &str)> = errors.iter().map(|e| (e.line, e.field.as_str(), e.code)).collect();
        assert_eq!(found, vec![(3, "sn or terminal_id", "already_exists"), (5, "merchant_no", "not_found")]);

        let m = app.merchant(yajin_app::demo::MERCHANT_A.phone).await;
        for (sn, status) in [("BATCH-0001", 200), ("BATCH-0002", 404), ("BATCH-0003", 200), ("BATCH-0004", 404)] {
            let r = app.get(&format!("/api/v1/terminals/{sn}"), &m).await;
            assert_eq!(r.status, status, "{sn}: {}", r.body);
            if status == 200 {
                assert_eq!(r.body["deposit"]["refundable_fen"], 29900, "{sn}: its deposit is held: {}", r.body);
            }
        }
        let books = yajin_app::books::verify(&app.app).await.unwrap();
        assert!(books.mismatches.is_empty(), "the ledger balances: {:?}", books.mismatches);
    }

    async fn the_same_terminals_imported_twice_at_once_are_created_once(db) {
        // Two imports of one file at once: each terminal (and its deposit) is created by one
        // of them and found by the other; neither refuses a row because the other got there
        // first, and the books balance.
        use yajin_app::import;
        let app = spawn_app(db).await;
        let a = yajin_app::demo::MERCHANT_A.merchant_no;
        let rows: Vec<_> = (0..120u64).map(|i| terminal_row(i + 2, a, &format!("TWICE-{i:04}"), &format!("W{i:07}"))).collect();
        let mut runs = tokio::task::JoinSet::new();
        for _ in 0..2 {
            let (app, rows) = (app.app.clone(), rows.clone());
            runs.spawn(async move { import::load(&app, &importer(), &terminal_columns(), rows, false).await.unwrap() });
        }
        let done = runs.join_all().await;
        let errors: Vec<_> = done.iter().flat_map(|(_, errors)| errors).collect();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(done.iter().map(|(t, _)| t.loaded).sum::<u64>(), 120);
        assert_eq!(done.iter().map(|(t, _)| t.existing).sum::<u64>(), 120);
        let m = app.merchant(yajin_app::demo::MERCHANT_A.phone).await;
        let r = app.get("/api/v1/terminals/TWICE-0119", &m).await;
        assert_eq!(r.body["deposit"]["refundable_fen"], 29900, "one deposit: {}", r.body);
        let books = yajin_app::books::verify(&app.app).await.unwrap();
        assert!(books.mismatches.is_empty(), "the ledger balances: {:?}", books.mismatches);
    }

    async fn terminals_provisioned_one_by_one_during_an_import_all_land(db) {
        // An import batch holds the audit chain's head from its first row to its commit; a
        // terminal added through the API meanwhile posts its deposit against the channel's
        // clearing account, then appends to the chain. Both must finish (on PostgreSQL the
        // two orders of taking those rows were a deadlock, and one of them failed).
        use yajin_app::import;
        let app = spawn_app(db).await;
        let a = yajin_app::demo::MERCHANT_A.merchant_no;
        let admin = app.staff("admin").await;
        let rows: Vec<_> = (0..400u64).map(|i| terminal_row(i + 2, a, &format!("BATCH-{i:04}"), &format!("V{i:07}"))).collect();
        let batch = {
            let app = app.app.clone();
            tokio::spawn(async move { import::load(&app, &importer(), &terminal_columns(), rows, false).await })
        };
        for i in 0..15 {
            let mut t = terminal();
            t["merchant_no"] = json!(a);
            t["sn"] = json!(format!("SINGLE-{i:04}"));
            t["deposit"]["route_ref"] = json!(format!("WX-S{i}"));
            let r = app.post("/api/v1/admin/terminals", &admin, t).await;
            assert_eq!(r.status, 201, "terminal {i}: {:?}", r.body);
        }
        let (tally, errors) = batch.await.unwrap().expect("the import batch finishes");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(tally.loaded, 400);
        let books = yajin_app::books::verify(&app.app).await.unwrap();
        assert!(books.mismatches.is_empty(), "the ledger balances: {:?}", books.mismatches);
    }

    async fn bulk_loaded_transactions_count_once_and_bad_rows_are_reported(db) {
        use yajin_app::import::{self, Columns, Kind, Row};
        let app = spawn_app(db).await;
        let actor = importer();
        let header: Vec<String> = ["ref", "sn", "amount_fen", "kind", "occurred_at", "fee_fen"].map(String::from).to_vec();
        let columns = Columns::new(Kind::Transactions, &header).unwrap();
        let row = |line: u64, text: &str| Row { line, fields: text.split(',').map(String::from).collect() };
        let rows = || vec![
            row(2, "B-1,demo-progress-01,100000,credit_card,2026-11-20T00:00:00Z,0"),
            row(3, "B-2,DEMO-PROGRESS-01,200000,credit_card,2026-11-20T00:00:00Z,"),
            row(4, "B-2,DEMO-PROGRESS-01,200000,credit_card,2026-11-20T00:00:00Z,"),
            row(5, "B-3,NO-SUCH-SN,100,credit_card,2026-11-20T00:00:00Z,0"),
            row(6, "B-4,DEMO-PROGRESS-01,1.5,credit_card,2026-11-20T00:00:00Z,0"),
            row(7, "B-5,DEMO-PROGRESS-01,100,credit_card,2026-11-20T00:00:00Z,200"),
            row(8, "B-6,DEMO-PROGRESS-01,100,credit_card"),
        ];
        let m = app.merchant(yajin_app::demo::MERCHANT_A.phone).await;
        let reached = || async { app.get("/api/v1/terminals/DEMO-PROGRESS-01", &m).await.body["progress"]["reached_fen"].as_i64() };
        let before = reached().await.unwrap();

        let (dry, _) = import::load(&app.app, &actor, &columns, rows(), true).await.unwrap();
        assert_eq!((dry.rows, dry.loaded, dry.existing, dry.refused), (7, 2, 1, 4));
        assert_eq!(reached().await, Some(before), "a dry run writes nothing");

        let (tally, errors) = import::load(&app.app, &actor, &columns, rows(), false).await.unwrap();
        assert_eq!((tally.rows, tally.loaded, tally.existing, tally.refused), (7, 2, 1, 4));
        let mut found: Vec<(u64, &str, &str)> = errors.iter().map(|e| (e.line, e.field.as_str(), e.code)).collect();
        found.sort();
        assert_eq!(found, vec![(5, "sn", "not_found"), (6, "amount_fen", "invalid_amount"), (7, "fee_fen", "out_of_range"), (8, "", "wrong_column_count")]);
        assert_eq!(reached().await, Some(before + 300_000), "both new card payments count toward the target, the repeated one once");

        let (again, _) = import::load(&app.app, &actor, &columns, rows(), false).await.unwrap();
        assert_eq!((again.loaded, again.existing), (0, 3), "a second run adds nothing");
        assert_eq!(reached().await, Some(before + 300_000));
        assert!(Columns::new(Kind::Transactions, &["ref".to_owned()]).unwrap_err().contains("lacks sn"));
    }

    async fn typed_text_with_control_characters_is_refused_and_nothing_is_written(db) {
        // What the fuzzer once sent: a NUL that PostgreSQL cannot store and that SQLite's
        // length() stops at, and a C1 control. Each is a field error, never a 500.
        let app = spawn_app(db).await;
        let admin = app.staff("admin").await;
        let fields = |r: &crate::harness::Reply| -> Vec<(String, String)> {
            r.body["errors"].as_array().unwrap().iter()
                .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned())).collect()
        };
        let r = app.post("/api/v1/admin/announcements", &admin, json!({"title": "\u{0}u\u{92}", "body": "__main__"})).await;
        assert_eq!((r.status, fields(&r)), (422, vec![("title".into(), "invalid_characters".into())]));
        let r = app.post("/api/v1/admin/announcements", &admin, json!({"title": "两行\n标题", "body": "正文可以\n换行"})).await;
        assert_eq!(fields(&r), vec![("title".into(), "invalid_characters".into())], "a title is one line");

        let mut m = merchant();
        m["bank_name"] = json!("工商\u{0}银行");
        let r = app.post("/api/v1/admin/merchants", &admin, m).await;
        assert_eq!((r.status, fields(&r)), (422, vec![("bank_name".into(), "invalid_characters".into())]));
        let mut m = merchant();
        m["bank_name"] = json!("银".repeat(101));
        assert_eq!(fields(&app.post("/api/v1/admin/merchants", &admin, m).await), vec![("bank_name".into(), "invalid_length".into())]);
        assert_eq!(app.post("/api/v1/admin/merchants", &admin, merchant()).await.status, 201, "nothing of the refused ones was kept");

        let mut t = terminal();
        t["model"] = json!("P2\u{1b}[31m");
        t["deposit"]["route_ref"] = json!("WX\u{0}1");
        let r = app.post("/api/v1/admin/terminals", &admin, t).await;
        assert_eq!(fields(&r), vec![("model".into(), "invalid_characters".into()), ("deposit.route_ref".into(), "invalid_characters".into())]);
        assert_eq!(app.post("/api/v1/admin/terminals", &admin, terminal()).await.status, 201);

        let m = app.merchant(yajin_app::demo::MERCHANT_A.phone).await;
        let r = app.post("/api/v1/tickets", &m, json!({"subject": "进度", "body": "何时\u{0}到账"})).await;
        assert_eq!(fields(&r), vec![("body".into(), "invalid_characters".into())]);
        assert_eq!(app.get("/api/v1/tickets", &m).await.body["items"].as_array().unwrap().len(), 0);
        let applications = app.get("/api/v1/refund-applications", &m).await.body["items"].as_array().unwrap().len();
        let mut apply = crate::applications::body("DEMO-REVIEW-01");
        apply["note"] = json!("\u{0}");
        let r = app.post("/api/v1/refund-applications", &m, apply).await;
        assert_eq!(fields(&r), vec![("note".into(), "invalid_characters".into())]);
        assert_eq!(app.get("/api/v1/refund-applications", &m).await.body["items"].as_array().unwrap().len(), applications);
    }

    async fn a_migrated_merchant_gets_its_deposit_back(db) {
        let app = spawn_app(db).await;
        let admin = app.staff("admin").await;
        let reviewer = app.staff("reviewer").await;
        assert_eq!(app.post("/api/v1/admin/merchants", &reviewer, merchant()).await.status, 403);

        let created = app.post("/api/v1/admin/merchants", &admin, merchant()).await;
        assert_eq!((created.status, created.body["merchant_no"].as_str()), (201, Some("822100058129999")), "{:?}", created.body);
        let again = app.post("/api/v1/admin/merchants", &admin, merchant()).await;
        assert_eq!((again.status, &again.body["id"]), (200, &created.body["id"]), "the same body again is the same merchant");
        let mut other = merchant();
        other["name"] = json!("另一家店");
        assert_eq!(app.post("/api/v1/admin/merchants", &admin, other).await.code(), "already_exists");
        let mut agent = merchant();
        agent["merchant_no"] = json!("822100058128888");
        agent["agent_username"] = json!("nobody");
        assert_eq!(app.post("/api/v1/admin/merchants", &admin, agent).await.body["errors"][0]["field"], "agent_username");
        let bad = app.post("/api/v1/admin/merchants", &admin, json!({"merchant_no": "1", "name": "", "phone": "2", "password": "x",
            "id_card_no": "3", "bank_card_no": "4", "bank_name": "b"})).await;
        let fields: Vec<&str> = bad.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!((bad.status, fields), (422, vec!["merchant_no", "phone", "id_card_no", "bank_card_no", "name"]));

        let t = app.post("/api/v1/admin/terminals", &admin, terminal()).await;
        assert_eq!((t.status, t.body["sn"].as_str()), (201, Some("NEW-SN-0001")), "{:?}", t.body);
        assert_eq!(app.post("/api/v1/admin/terminals", &admin, terminal()).await.status, 200);
        let mut moved = terminal();
        moved["plan_code"] = json!("TERM-299");
        assert_eq!(app.post("/api/v1/admin/terminals", &admin, moved).await.code(), "already_exists");
        let mut bad = terminal();
        bad["sn"] = json!("NEW-SN-0002");
        bad["deposit"]["route"] = json!("cash");
        bad["bound_at"] = json!("yesterday");
        let r = app.post("/api/v1/admin/terminals", &admin, bad).await;
        let fields: Vec<&str> = r.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["bound_at", "deposit.route"]);

        let usage = |refs: [&str; 2], sn: &str| json!({"items": [
            {"ref": refs[0], "sn": "NEW-SN-0001", "amount_fen": 600_000, "kind": "credit_card", "occurred_at": "2026-10-01T00:00:00Z"},
            {"ref": refs[1], "sn": sn, "amount_fen": 500_000, "fee_fen": 3_000, "kind": "debit_card", "occurred_at": "2026-10-02T00:00:00Z"}]});
        let refused = app.post("/api/v1/admin/transactions", &admin, usage(["r1", "r2"], "NOPE")).await;
        assert_eq!((refused.status, refused.body["errors"][0]["field"].as_str()), (422, Some("items[1].sn")));
        assert_eq!(app.post("/api/v1/admin/transactions", &admin, usage(["r1", "r2"], "NEW-SN-0001")).await.body["inserted"], 2, "nothing of the refused batch was written");
        assert_eq!(app.post("/api/v1/admin/transactions", &admin, usage(["r1", "r2"], "NEW-SN-0001")).await.body["inserted"], 0, "a resent batch adds nothing");
        // A reference twice in a batch counts once, as its first item; one recorded before, not at all.
        let item = |r: &str, fen: i64| json!({"ref": r, "sn": "NEW-SN-0001", "amount_fen": fen, "kind": "nfc", "occurred_at": "2026-10-03T00:00:00Z"});
        let mut future = item("r4", 100);
        future["occurred_at"] = json!("2099-01-01T00:00:00Z");
        let refused = app.post("/api/v1/admin/transactions", &admin, json!({"items": [item("r5", 100), future]})).await;
        assert_eq!((refused.status, refused.body["errors"][0]["field"].as_str(), refused.code()), (422, Some("items[1].occurred_at"), "validation_failed"), "{:?}", refused.body);
        let mixed = json!({"items": [item("r3", 700), item("r1", 800), item("r3", 900)]});
        assert_eq!(app.post("/api/v1/admin/transactions", &admin, mixed).await.body["inserted"], 1);
        {
            use sqlx::Row;
            let stored = sqlx::query("SELECT ref, amount_fen FROM usage_transactions WHERE ref IN ('r1', 'r3') ORDER BY ref")
                .fetch_all(app.db.pool()).await.unwrap();
            let stored: Vec<(String, i64)> = stored.iter().map(|r| (r.get("ref"), r.get("amount_fen"))).collect();
            assert_eq!(stored, [("r1".to_owned(), 600_000), ("r3".to_owned(), 700)]);
        }

        let owed = json!({"sn": "NEW-SN-0001", "kind": "sim_fee", "amount_fen": 1_200, "due_at": "2026-11-01T00:00:00Z"});
        let item = app.send("POST", "/api/v1/admin/outstanding-items", Some(&admin), Some(owed.clone()), &[("idempotency-key", "o-1")]).await;
        assert_eq!((item.status, item.body["kind"].as_str(), item.body["amount_fen"].as_i64()), (201, Some("sim_fee"), Some(1_200)));
        assert_eq!((item.body["status"].as_str(), item.body["terminal_sn"].as_str()), (Some("open"), Some("NEW-SN-0001")));
        let replay = app.send("POST", "/api/v1/admin/outstanding-items", Some(&admin), Some(owed), &[("idempotency-key", "o-1")]).await;
        assert_eq!(replay.body, item.body);

        // The new merchant logs in, sees the terminal, owes 12.00, and gets the rest back.
        let login = app.login("13900000009", "Shop@2026x").await;
        let token = login.body["token"].as_str().unwrap().to_owned();
        let devices = app.get("/api/v1/terminals/NEW-SN-0001", &token).await;
        assert_eq!(devices.body["eligibility"]["reasons"][0]["code"], "outstanding_balance");
        let apply = json!({"terminal_sn": "NEW-SN-0001", "phone": "13900000009", "id_card_no": "11010519491231002X",
            "bank_card_no": "6222021234567890128", "reason": "target_reached", "attachment_ids": [], "deduct_outstanding": true});
        let applied = app.post("/api/v1/refund-applications", &token, apply).await;
        assert_eq!((applied.status, applied.body["net_refund_fen"].as_i64()), (201, Some(8_700)), "{:?}", applied.body);
        let mut conn = app.db.pool().acquire().await.unwrap();
        assert_eq!(yajin_store::ledger::verify(&mut conn).await.unwrap(), []);
    }
}
