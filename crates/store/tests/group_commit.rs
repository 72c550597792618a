//! Write transactions as their callers see them, whatever SQLite's group commit does
//! underneath: work that commits is there for every reader the moment `commit` returns; work
//! that fails, is rolled back or is cancelled leaves nothing, and does not take anyone else's
//! work with it. On SQLite, a group whose one commit fails answers none of its members as done.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;

use yajin_store::migrate;
use yajin_store::{Backend, Db, StoreError};
use yajin_testdb::{on_both_databases, TestDb};

async fn probe_table(db: &Db) {
    let mut tx = db.begin_write().await.unwrap();
    yajin_store::sql::query("CREATE TABLE gc_probe (n BIGINT PRIMARY KEY)").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

async fn rows(db: &Db) -> Vec<i64> {
    let mut conn = db.pool().acquire().await.unwrap();
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT n FROM gc_probe ORDER BY n").fetch_all(&mut *conn).await.unwrap();
    rows.into_iter().map(|(n,)| n).collect()
}

/// How one writer ends.
#[derive(Clone, Copy, Debug)]
enum Ending {
    Commit,
    /// Returns early with an error: the transaction is dropped.
    Fail,
    Rollback,
    /// The request is cancelled while its transaction is open (a client hung up).
    Cancelled,
}

fn ending(n: i64) -> Ending {
    [Ending::Commit, Ending::Fail, Ending::Rollback, Ending::Cancelled][(n % 4) as usize]
}

async fn write(db: &Db, n: i64) -> Result<bool, StoreError> {
    let mut tx = db.begin_write().await?;
    yajin_store::sql::query("INSERT INTO gc_probe (n) VALUES ($1)").bind(n).execute(&mut *tx).await?;
    match ending(n) {
        Ending::Commit => {
            tx.commit().await?;
            // Committed means committed: another connection sees it now.
            let mut conn = db.pool().acquire().await?;
            let seen: Option<(i64,)> =
                sqlx::query_as("SELECT n FROM gc_probe WHERE n = $1").bind(n).fetch_optional(&mut *conn).await?;
            Ok(seen.is_some())
        }
        Ending::Fail => Err(StoreError::Conflict(format!("writer {n} gives up"))),
        Ending::Rollback => {
            tx.rollback().await?;
            Ok(false)
        }
        Ending::Cancelled => {
            // The future that holds the transaction is dropped where it waits, as a request's
            // is when its client hangs up.
            let held = async move {
                let _tx = tx;
                std::future::pending::<()>().await
            };
            assert!(tokio::time::timeout(Duration::from_millis(5), held).await.is_err());
            Ok(false)
        }
    }
}

on_both_databases! {
    async fn committed_work_is_read_back_at_once_and_the_rest_leaves_nothing(db) {
        probe_table(&db).await;
        let db = Arc::new(db);
        let tasks: Vec<_> = (0..80i64)
            .map(|n| {
                let db = db.clone();
                tokio::spawn(async move { write(&db, n).await })
            })
            .collect();
        for (n, task) in (0..80i64).zip(tasks) {
            let answer = task.await.unwrap();
            match ending(n) {
                // Every commit was read back by another connection when it returned.
                Ending::Commit => assert!(matches!(answer, Ok(true)), "writer {n}: {answer:?}"),
                Ending::Fail => assert!(matches!(answer, Err(StoreError::Conflict(_))), "writer {n}: {answer:?}"),
                Ending::Rollback | Ending::Cancelled => assert!(matches!(answer, Ok(false)), "writer {n}: {answer:?}"),
            }
        }
        let commits: Vec<i64> = (0..80).filter(|n| matches!(ending(*n), Ending::Commit)).collect();
        assert_eq!(rows(&db).await, commits, "exactly the commits are kept");
        // And the writer is fine afterwards.
        assert!(write(&db, 1000).await.unwrap());
        assert_eq!(rows(&db).await.last(), Some(&1000));
    }

    async fn requests_cut_short_anywhere_leave_the_writer_sound(db) {
        probe_table(&db).await;
        let db = Arc::new(db);
        // Each request is cut short after its own budget of 0–3 ms: some while they wait for
        // the turn, some between statements, some while their commit is awaited.
        // Three rounds, each starting from an idle writer (so that some are cut short while
        // they begin a group).
        let mut answered = Vec::new();
        for round in 0..3i64 {
            let ns: Vec<i64> = (round * 300..round * 300 + 300).collect();
            let tasks: Vec<_> = ns
                .iter()
                .map(|&n| {
                    let db = db.clone();
                    tokio::spawn(async move {
                        let budget = Duration::from_micros((n * 7919 % 3000) as u64);
                        tokio::time::timeout(budget, write(&db, n)).await.ok()
                    })
                })
                .collect();
            for (n, task) in ns.into_iter().zip(tasks) {
                if let Some(Ok(true)) = task.await.unwrap() {
                    answered.push(n);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Nothing is left holding the write lock: another connection writes within a moment.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut other = db.pool().acquire().await.unwrap();
        let begin = if db.backend() == Backend::Sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
        let started = std::time::Instant::now();
        sqlx::raw_sql(begin).execute(&mut *other).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "the write lock was held for {:?}", started.elapsed());
        sqlx::query("INSERT INTO gc_probe (n) VALUES (200000)").execute(&mut *other).await.unwrap();
        sqlx::raw_sql("COMMIT").execute(&mut *other).await.unwrap();
        drop(other);
        // The writer still answers.
        let last = tokio::time::timeout(Duration::from_secs(10), write(&db, 100_000)).await.expect("the writer answers");
        assert!(last.unwrap());
        let kept = rows(&db).await;
        for n in &answered {
            assert!(kept.contains(n), "writer {n} was told its commit was done: {kept:?}");
        }
        for n in &kept {
            assert!(*n >= 100_000 || matches!(ending(*n), Ending::Commit), "writer {n} did not commit: {kept:?}");
        }
    }

    async fn a_request_cut_short_as_it_begins_leaves_no_transaction_open(db) {
        probe_table(&db).await;
        for round in 0..10 {
            // Polled once: the turn is taken and `BEGIN` sent; then the request is gone.
            let mut begin = Box::pin(db.begin_write());
            let polled = begin.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            drop(polled);
            drop(begin);
            let mut other = db.pool().acquire().await.unwrap();
            let started = std::time::Instant::now();
            let lock = if db.backend() == Backend::Sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
            sqlx::raw_sql(lock).execute(&mut *other).await.unwrap();
            assert!(started.elapsed() < Duration::from_secs(2), "round {round}: the write lock was held");
            sqlx::raw_sql("ROLLBACK").execute(&mut *other).await.unwrap();
            drop(other);
            assert!(write(&db, round * 4).await.unwrap(), "round {round}: the next writer commits");
        }
        assert_eq!(rows(&db).await, (0..10).map(|r| r * 4).collect::<Vec<_>>());
    }

    async fn many_writers_at_once_lose_nothing(db) {
        probe_table(&db).await;
        let db = Arc::new(db);
        let tasks: Vec<_> = (0..400i64)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move { write(&db, i * 4).await })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().unwrap(), "each commit is read back at once");
        }
        assert_eq!(rows(&db).await, (0..400).map(|i| i * 4).collect::<Vec<_>>());
    }
}

/// One member's work that fails at commit time (a deferred constraint) fails its whole group:
/// the group is one transaction. So every member is told its work was not done, and none of it
/// is kept — never "done" for work that is not on disk. (Yajin's schema has no deferred
/// constraints, so this takes a table made for the purpose; see the test below.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_commit_fails_answers_no_member_as_done() {
    let test_db = TestDb::sqlite().await;
    let db = Arc::new(test_db.db.clone());
    probe_table(&db).await;
    let mut tx = db.begin_write().await.unwrap();
    tx.batch(
        "CREATE TABLE gc_parent (id BIGINT PRIMARY KEY);
         CREATE TABLE gc_child (id BIGINT PRIMARY KEY,
            parent BIGINT REFERENCES gc_parent (id) DEFERRABLE INITIALLY DEFERRED)",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // The first writer holds the turn while two more queue behind it: the three share a group.
    let mut first = db.begin_write().await.unwrap();
    let others: Vec<_> = [4i64, 8]
        .into_iter()
        .map(|n| {
            let db = db.clone();
            tokio::spawn(async move { write(&db, n).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    yajin_store::sql::query("INSERT INTO gc_probe (n) VALUES (0)").execute(&mut *first).await.unwrap();
    yajin_store::sql::query("INSERT INTO gc_child (id, parent) VALUES (1, 42)").execute(&mut *first).await.unwrap();
    let first = first.commit().await;
    assert!(matches!(first, Err(StoreError::CommitFailed(_))), "{first:?}");
    for other in others {
        let answer = other.await.unwrap();
        assert!(matches!(answer, Err(StoreError::CommitFailed(_))), "{answer:?}");
    }
    assert_eq!(rows(&db).await, Vec::<i64>::new(), "nothing of the failed group is kept");
    // The next group commits as usual.
    assert!(write(&db, 12).await.unwrap());
    assert_eq!(rows(&db).await, [12]);
}

#[test]
fn the_schema_has_no_deferred_constraints() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for m in migrate::migrations(backend) {
            let sql = m.sql.to_ascii_uppercase();
            assert!(!sql.contains("DEFERRABLE") && !sql.contains("DEFERRED"), "migration {} defers a check", m.version);
        }
    }
}

/// While another process holds SQLite's write lock (an import, say), a writer waits for it —
/// on timers, not in SQLite's busy handler, so the thread it runs on goes on serving — and
/// writes once the lock is free; held past the busy timeout, the write is refused and nothing
/// is left half done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_waits_out_another_process_lock_up_to_the_busy_timeout() {
    let test_db = TestDb::sqlite().await;
    probe_table(&test_db.db).await;
    let options = yajin_store::DbOptions { busy_timeout: Duration::from_millis(400), ..Default::default() };
    let db = Db::connect(&test_db.url, &options).await.unwrap();
    let mut other = another_process(&test_db.url).await;
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
    let started = std::time::Instant::now();
    let waiting = tokio::spawn({
        let db = db.clone();
        async move { write(&db, 0).await }
    });
    // The runtime stays free while the writer waits: a timer here fires on time.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(started.elapsed() < Duration::from_millis(300), "the runtime was blocked");
    assert!(!waiting.is_finished(), "the writer waits for the lock");
    sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
    assert!(waiting.await.unwrap().unwrap(), "written once the lock was free");

    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
    let started = std::time::Instant::now();
    let refused = write(&db, 4).await;
    assert!(refused.is_err(), "held past the busy timeout, the write is refused: {refused:?}");
    assert!(started.elapsed() >= Duration::from_millis(400), "refused after {:?}", started.elapsed());
    sqlx::raw_sql("ROLLBACK").execute(&mut other).await.unwrap();
    assert!(write(&db, 8).await.unwrap(), "the writer goes on after a refusal");
    assert_eq!(rows(&db).await, [0, 8]);
    db.close().await;
}

/// "Another process": a connection of its own to the same file, outside the writer's turns.
async fn another_process(url: &str) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url).await.unwrap()
}

/// Each writer's savepoint journal stays in memory: in SQLite's default temporary file, its
/// writes were a fifth of the writer's time (docs/benchmarks.md, session 11).
#[tokio::test]
async fn the_writers_savepoints_are_journaled_in_memory() {
    let test_db = TestDb::sqlite().await;
    let mut tx = test_db.db.begin_write().await.unwrap();
    let row = yajin_store::sql::query("PRAGMA temp_store").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(row.try_get::<i64, _>(0).unwrap(), 2, "temp_store = MEMORY");
    tx.rollback().await.unwrap();
}
