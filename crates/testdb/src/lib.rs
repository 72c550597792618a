//! A fresh, migrated database per test, on SQLite or PostgreSQL.
//!
//! PostgreSQL is found at `YAJIN_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! When it cannot be reached, PostgreSQL tests fail if `YAJIN_REQUIRE_PG=1` (as in CI), and
//! otherwise pass without running after printing, once and loudly, that they did not run.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::Duration;

use yajin_store::{migrate, Db, DbOptions};

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn pg_admin_url() -> String {
    std::env::var("YAJIN_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

pub fn pg_required() -> bool {
    std::env::var("YAJIN_REQUIRE_PG").is_ok_and(|v| v == "1" || v == "true")
}

/// A test database that is removed when dropped.
pub struct TestDb {
    pub db: Db,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteDir(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

fn options() -> DbOptions {
    DbOptions { max_connections: 8, ..DbOptions::default() }
}

impl TestDb {
    /// A new, empty SQLite file in a temporary folder.
    pub async fn sqlite_unmigrated() -> TestDb {
        let dir = std::env::temp_dir().join(format!("yajin-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        let url = format!("sqlite://{}?mode=rwc", dir.join("yajin.db").display());
        let db = Db::connect(&url, &options()).await.expect("open the SQLite test database");
        TestDb { db, url, cleanup: Cleanup::SqliteDir(dir) }
    }

    /// A new SQLite file in a temporary folder, migrated.
    pub async fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("yajin-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        let url = format!("sqlite://{}?mode=rwc", dir.join("yajin.db").display());
        let db = Db::connect(&url, &options()).await.expect("open the SQLite test database");
        migrate::migrate(&db, 0).await.expect("migrate the SQLite test database");
        TestDb { db, url, cleanup: Cleanup::SqliteDir(dir) }
    }

    /// A new PostgreSQL database, migrated; `None` when PostgreSQL cannot be reached and is not
    /// required (after saying so on the terminal).
    pub async fn postgres() -> Option<TestDb> {
        Self::postgres_unmigrated().await.map(|t| t.migrated())?.await
    }

    /// A new, empty PostgreSQL database.
    pub async fn postgres_unmigrated() -> Option<TestDb> {
        Self::postgres_created("").await
    }

    /// A new PostgreSQL database, migrated, whose default collation is ICU's `en-US` (where
    /// `-`, `_` and `~` sort apart from their bytes and case is ignored at first): the
    /// production default of many installs, which no query may depend on.
    pub async fn postgres_icu() -> Option<TestDb> {
        let options = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'";
        Self::postgres_created(options).await.map(|t| t.migrated())?.await
    }

    /// A new, empty PostgreSQL database made with `CREATE DATABASE name {options}`.
    async fn postgres_created(create_options: &str) -> Option<TestDb> {
        // Once unreachable, the rest of this test binary's PostgreSQL tests need not wait too.
        static UNREACHABLE: AtomicBool = AtomicBool::new(false);
        if UNREACHABLE.load(Ordering::Relaxed) && !pg_required() {
            return None;
        }
        let admin_url = pg_admin_url();
        let admin_options = DbOptions { max_connections: 1, acquire_timeout: Duration::from_secs(3), ..options() };
        let admin = match Db::connect(&admin_url, &admin_options).await {
            Ok(db) => db,
            Err(e) if pg_required() => {
                panic!("PostgreSQL is required (YAJIN_REQUIRE_PG=1) but unreachable: {e}")
            }
            Err(e) => {
                UNREACHABLE.store(true, Ordering::Relaxed);
                say_postgres_skipped(&e.to_string());
                return None;
            }
        };
        let name = format!("yajin_test_{}", uuid::Uuid::new_v4().simple());
        yajin_store::db::execute_admin(&admin, &format!("CREATE DATABASE {name} {create_options}"))
            .await
            .expect("create test database");
        admin.close().await;
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("YAJIN_TEST_PG_URL must end in /DATABASE"),
        };
        let db = Db::connect(&url, &options()).await.expect("connect to the new test database");
        Some(TestDb { db, url, cleanup: Cleanup::PostgresDatabase { admin_url, name } })
    }

    async fn migrated(self) -> Option<TestDb> {
        migrate::migrate(&self.db, 0).await.expect("migrate the PostgreSQL test database");
        Some(self)
    }
}

fn say_postgres_skipped(why: &str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Straight to the terminal: the test harness captures print!, not this.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** The PostgreSQL half of the tests did NOT run: {why}.\n\
             *** Start PostgreSQL on 127.0.0.1:5432 or set YAJIN_TEST_PG_URL; YAJIN_REQUIRE_PG=1 makes this a failure.\n"
        );
    });
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteDir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; a separate thread with its own runtime
                // can block on the cleanup.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                    rt.block_on(async {
                        if let Ok(admin) = Db::connect(&admin_url, &DbOptions { max_connections: 1, ..options() }).await
                        {
                            let _ = yajin_store::db::execute_admin(
                                &admin,
                                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                            )
                            .await;
                            admin.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Runs each test body once on SQLite and once on PostgreSQL, as `NAME::sqlite` and
/// `NAME::postgres`. The body sees `db: Db`.
#[macro_export]
macro_rules! on_both_databases {
    ($(async fn $name:ident($db:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let test_db = $crate::TestDb::sqlite().await;
                let $db = test_db.db.clone();
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(test_db) = $crate::TestDb::postgres().await else { return };
                let $db = test_db.db.clone();
                $body
            }
        }
    )*};
}
