//! Opening a deployment's database and keys, for the command line and the server: the
//! interfaces never reach the store themselves.

use yajin_store::migrate;
pub use yajin_store::migrate::MigrationReport;
pub use yajin_store::pii::{MasterKey, Vault};
pub use yajin_store::{Backend, Db, DbOptions, StoreError};

use crate::App;

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    yajin_store::db::redact(url)
}

/// Connects and applies every pending migration (all or none).
pub async fn open(url: &str, options: &DbOptions, now_ms: i64) -> Result<(Db, MigrationReport), StoreError> {
    let db = Db::connect(url, options).await?;
    let report = migrate::migrate(&db, now_ms).await?;
    Ok((db, report))
}

/// The schema version the database is at.
pub async fn schema_version(db: &Db) -> Result<i64, StoreError> {
    migrate::current_version(db).await
}

/// Whether this server can do its work: the database answers at the schema it expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready {
        database: &'static str,
        schema_version: i64,
    },
    /// Reachable, but migrated by another version of Yajin.
    WrongSchema {
        found: i64,
        expected: i64,
    },
    Unreachable,
}

pub async fn readiness(app: &App) -> Readiness {
    let expected = migrate::latest_version(app.db.backend());
    match migrate::current_version(&app.db).await {
        Ok(version) if version == expected => {
            Readiness::Ready { database: app.db.backend().name(), schema_version: version }
        }
        Ok(found) => Readiness::WrongSchema { found, expected },
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Readiness::Unreachable
        }
    }
}
