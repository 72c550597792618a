//! Reading an inserted row back on SQLite: with `RETURNING`, or by rowid in a second statement
//! (what `records::applications` does on SQLite), against the bare insert.
//!
//!     cargo bench -p yajin-store --bench read_back
//!     cargo bench -p yajin-store --bench read_back -- --rows 20000
//!
//! Through the SQLite that Yajin links (rusqlite's bundled one), on a database in a temporary
//! folder migrated like a real one, each way in turn, three rounds: 5,000 applications inserted
//! in one transaction (rolled back after), the statements prepared once. Foreign keys are off
//! (no merchant or terminal rows are made): they cost each way the same. Prints microseconds
//! per row.

use std::time::Instant;

use yajin_store::migrate::migrations;
use yajin_store::Backend;

const INSERT: &str = "INSERT INTO refund_applications (id, merchant_id, terminal_id, status, reason, note,
    amount_fen, fee_fen, deducted_fen, net_refund_fen, deduct_outstanding, bank_card_sealed, bank_card_key_id,
    bank_card_first4, bank_card_last4, four_eyes_required, created_at, updated_at)
    VALUES (?1, 'mc_bench', ?2, 'submitted', 'stop_using', '', 29900, 0, 0, 29900, 0,
    x'000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'k1', '6222', '0128', 0, 1764900000000,
    1764900000000)";
const COLUMNS: &str = "id, merchant_id, terminal_id, status, reason, note, amount_fen, fee_fen, deducted_fen, \
    net_refund_fen, deduct_outstanding, bank_card_first4, bank_card_last4, four_eyes_required, created_at, updated_at";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows = match args.iter().position(|a| a == "--rows") {
        Some(i) => args.get(i + 1).and_then(|n| n.parse().ok()).expect("--rows N"),
        None => 5_000usize,
    };
    let folder = std::env::temp_dir().join(format!("yajin-read-back-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("a temporary folder");
    let conn = rusqlite::Connection::open(folder.join("bench.db")).expect("the database");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = OFF;",
    )
    .expect("pragmas");
    for migration in migrations(Backend::Sqlite) {
        conn.execute_batch(migration.sql).expect("a migration");
    }
    println!("SQLite {}, {rows} rows a run", rusqlite::version());
    let returning = format!("{INSERT} RETURNING {COLUMNS}");
    let by_rowid = format!("SELECT {COLUMNS} FROM refund_applications WHERE rowid = last_insert_rowid()");
    for round in 1..=3 {
        for way in ["insert", "insert … RETURNING", "insert, then by rowid"] {
            conn.execute_batch("BEGIN").expect("begin");
            let started = Instant::now();
            for i in 0..rows {
                // A terminal each: one open application per terminal.
                let (id, terminal) = (format!("ap_{i}"), format!("tm_{i}"));
                let read = match way {
                    "insert" => conn.prepare_cached(INSERT).and_then(|mut s| s.execute((&id, &terminal))).map(|_| ()),
                    "insert … RETURNING" => conn
                        .prepare_cached(&returning)
                        .and_then(|mut s| s.query_row((&id, &terminal), |row| row.get::<_, String>(0)))
                        .map(|_| ()),
                    _ => conn
                        .prepare_cached(INSERT)
                        .and_then(|mut s| s.execute((&id, &terminal)))
                        .and_then(|_| conn.prepare_cached(&by_rowid))
                        .and_then(|mut s| s.query_row([], |row| row.get::<_, String>(0)))
                        .map(|_| ()),
                };
                read.expect("an insert");
            }
            let micros = started.elapsed().as_secs_f64() * 1e6 / rows as f64;
            conn.execute_batch("ROLLBACK").expect("rollback");
            println!("round {round}: {way:<22} {micros:5.1} µs a row");
        }
    }
    drop(conn);
    drop(std::fs::remove_dir_all(&folder));
}
