//! Write transactions as their callers see them, whatever SQLite's group commit does
//! underneath: work that commits is there for every reader the moment `commit` returns; work
//! that fails, is rolled back or is cancelled leaves nothing, and does not take anyone else's
//! work with it. On SQLite, a group whose one commit fails answers none of its members as done.

use std::sync::Arc;
use std::time::Duration;

use yajin_store::migrate;
use yajin_store::{Backend, Db, StoreError};
use yajin_testdb::{on_both_databases, TestDb};

async fn probe_table(db: &Db) {
    let mut tx = db.begin_write().await.unwrap();
    sqlx::query("CREATE TABLE gc_probe (n BIGINT PRIMARY KEY)").execute(&mut *tx).await.unwrap();
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
    sqlx::query("INSERT INTO gc_probe (n) VALUES ($1)").bind(n).execute(&mut *tx).await?;
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
    sqlx::query(
        "CREATE TABLE gc_parent (id BIGINT PRIMARY KEY);
         CREATE TABLE gc_child (id BIGINT PRIMARY KEY,
            parent BIGINT REFERENCES gc_parent (id) DEFERRABLE INITIALLY DEFERRED)",
    )
    .execute(&mut *tx)
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
    sqlx::query("INSERT INTO gc_probe (n) VALUES (0)").execute(&mut *first).await.unwrap();
    sqlx::query("INSERT INTO gc_child (id, parent) VALUES (1, 42)").execute(&mut *first).await.unwrap();
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
