//! Embedded schema migrations, one folder per database. All pending migrations apply in one
//! transaction (both databases have transactional DDL): a failure leaves the schema as it was.
//! A database that a newer Yajin migrated is refused, never half-understood.
//!
//! Written here rather than with `sqlx::migrate!` because that macro compiles the SQLite and
//! PostgreSQL drivers a second time for the host, doubling the cold build on two cores.

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{Backend, Db};
use crate::StoreError;

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every schema change is a new migration, for both databases, with the same number: an applied
/// migration is never edited (the checksum check refuses a database whose history differs).
const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "initial", sql: include_str!("../migrations/sqlite/0001_initial.sql") },
    Migration {
        version: 2,
        name: "limits_and_byte_order",
        sql: include_str!("../migrations/sqlite/0002_limits_and_byte_order.sql"),
    },
    Migration {
        version: 3,
        name: "payouts_and_collections",
        sql: include_str!("../migrations/sqlite/0003_payouts_and_collections.sql"),
    },
    Migration {
        version: 4,
        name: "ledger_immutable",
        sql: include_str!("../migrations/sqlite/0004_ledger_immutable.sql"),
    },
    Migration {
        version: 5,
        name: "sealed_evidence",
        sql: include_str!("../migrations/sqlite/0005_sealed_evidence.sql"),
    },
    Migration { version: 6, name: "identity_guard", sql: include_str!("../migrations/sqlite/0006_identity_guard.sql") },
    Migration { version: 7, name: "login_failures", sql: include_str!("../migrations/sqlite/0007_login_failures.sql") },
    Migration { version: 8, name: "vault_secrets", sql: include_str!("../migrations/sqlite/0008_vault_secrets.sql") },
    Migration {
        version: 9,
        name: "worded_when_read",
        sql: include_str!("../migrations/sqlite/0009_worded_when_read.sql"),
    },
    Migration { version: 10, name: "agents", sql: include_str!("../migrations/sqlite/0010_agents.sql") },
    Migration {
        version: 11,
        name: "terminal_orders",
        sql: include_str!("../migrations/sqlite/0011_terminal_orders.sql"),
    },
    Migration {
        version: 12,
        name: "counted_volumes",
        sql: include_str!("../migrations/sqlite/0012_counted_volumes.sql"),
    },
    Migration {
        version: 13,
        name: "sliding_rate_limits",
        sql: include_str!("../migrations/sqlite/0013_sliding_rate_limits.sql"),
    },
    Migration {
        version: 14,
        name: "usage_terminal_checked_per_statement",
        sql: include_str!("../migrations/sqlite/0014_usage_terminal_checked_per_statement.sql"),
    },
    Migration {
        version: 15,
        name: "lookups_planned_per_key",
        sql: include_str!("../migrations/sqlite/0015_lookups_planned_per_key.sql"),
    },
    Migration {
        version: 16,
        name: "merchant_lists_by_id",
        sql: include_str!("../migrations/sqlite/0016_merchant_lists_by_id.sql"),
    },
];

const POSTGRES: &[Migration] = &[
    Migration { version: 1, name: "initial", sql: include_str!("../migrations/postgres/0001_initial.sql") },
    Migration {
        version: 2,
        name: "limits_and_byte_order",
        sql: include_str!("../migrations/postgres/0002_limits_and_byte_order.sql"),
    },
    Migration {
        version: 3,
        name: "payouts_and_collections",
        sql: include_str!("../migrations/postgres/0003_payouts_and_collections.sql"),
    },
    Migration {
        version: 4,
        name: "ledger_immutable",
        sql: include_str!("../migrations/postgres/0004_ledger_immutable.sql"),
    },
    Migration {
        version: 5,
        name: "sealed_evidence",
        sql: include_str!("../migrations/postgres/0005_sealed_evidence.sql"),
    },
    Migration {
        version: 6,
        name: "identity_guard",
        sql: include_str!("../migrations/postgres/0006_identity_guard.sql"),
    },
    Migration {
        version: 7,
        name: "login_failures",
        sql: include_str!("../migrations/postgres/0007_login_failures.sql"),
    },
    Migration { version: 8, name: "vault_secrets", sql: include_str!("../migrations/postgres/0008_vault_secrets.sql") },
    Migration {
        version: 9,
        name: "worded_when_read",
        sql: include_str!("../migrations/postgres/0009_worded_when_read.sql"),
    },
    Migration { version: 10, name: "agents", sql: include_str!("../migrations/postgres/0010_agents.sql") },
    Migration {
        version: 11,
        name: "terminal_orders",
        sql: include_str!("../migrations/postgres/0011_terminal_orders.sql"),
    },
    Migration {
        version: 12,
        name: "counted_volumes",
        sql: include_str!("../migrations/postgres/0012_counted_volumes.sql"),
    },
    Migration {
        version: 13,
        name: "sliding_rate_limits",
        sql: include_str!("../migrations/postgres/0013_sliding_rate_limits.sql"),
    },
    Migration {
        version: 14,
        name: "usage_terminal_checked_per_statement",
        sql: include_str!("../migrations/postgres/0014_usage_terminal_checked_per_statement.sql"),
    },
    Migration {
        version: 15,
        name: "lookups_planned_per_key",
        sql: include_str!("../migrations/postgres/0015_lookups_planned_per_key.sql"),
    },
    Migration {
        version: 16,
        name: "merchant_lists_by_id",
        sql: include_str!("../migrations/postgres/0016_merchant_lists_by_id.sql"),
    },
];

/// Serialises concurrent migrators on PostgreSQL (SQLite has `BEGIN IMMEDIATE`).
const PG_MIGRATION_LOCK: i64 = 0x5941_4A49_4E00_0001;

pub fn migrations(backend: Backend) -> &'static [Migration] {
    match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }
}

/// The newest schema version this binary knows.
pub fn latest_version(backend: Backend) -> i64 {
    migrations(backend).iter().map(|m| m.version).max().unwrap_or(0)
}

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

#[derive(Debug, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<i64>,
    pub version: i64,
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS yajin_schema (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// Applies every pending migration of this binary, or none.
pub async fn migrate(db: &Db, now_ms: i64) -> Result<MigrationReport, StoreError> {
    let known: Vec<&Migration> = migrations(db.backend()).iter().collect();
    apply(db, &known, now_ms).await
}

/// Applies every pending migration of `known` (in order), or none.
pub async fn apply(db: &Db, known: &[&Migration], now_ms: i64) -> Result<MigrationReport, StoreError> {
    let mut conn = db.pool().acquire().await?;
    if db.backend() == Backend::Postgres {
        return apply_in(&mut conn, db.backend(), known, now_ms).await;
    }
    // SQLite rebuilds a table to change a CHECK; dropping the old copy of a parent table would
    // fail the children's foreign keys, and the pragma that allows it cannot change inside a
    // transaction. So, as SQLite's ALTER TABLE documentation prescribes: foreign keys off
    // around the transaction, `PRAGMA foreign_key_check` before the commit, and on again.
    sqlx::query("PRAGMA foreign_keys = OFF").execute(&mut *conn).await?;
    let result = apply_in(&mut conn, db.backend(), known, now_ms).await;
    let restored = sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await;
    if restored.is_err() {
        // Never hand a connection without foreign keys back to the pool.
        conn.detach();
    }
    let report = result?;
    restored?;
    Ok(report)
}

async fn apply_in(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    known: &[&Migration],
    now_ms: i64,
) -> Result<MigrationReport, StoreError> {
    use sqlx::Connection;
    let latest = known.iter().map(|m| m.version).max().unwrap_or(0);
    let mut tx = match backend {
        Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => conn.begin().await?,
    };
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_MIGRATION_LOCK).execute(&mut *tx).await?;
    }
    sqlx::query(CREATE_TABLE).execute(&mut *tx).await?;
    let rows = sqlx::query("SELECT version, checksum FROM yajin_schema ORDER BY version").fetch_all(&mut *tx).await?;
    let mut applied_versions = Vec::with_capacity(rows.len());
    for row in rows {
        let version: i64 = row.try_get("version")?;
        let sum: String = row.try_get("checksum")?;
        let Some(migration) = known.iter().find(|m| m.version == version) else {
            return Err(StoreError::SchemaTooNew { found: version, known: latest });
        };
        if checksum(migration.sql) != sum {
            return Err(StoreError::SchemaChanged { version });
        }
        applied_versions.push(version);
    }
    let mut applied = Vec::new();
    for migration in known.iter().filter(|m| !applied_versions.contains(&m.version)) {
        sqlx::raw_sql(migration.sql).execute(&mut *tx).await.map_err(|e| StoreError::MigrationFailed {
            version: migration.version,
            message: e.to_string().lines().next().unwrap_or_default().to_owned(),
        })?;
        sqlx::query("INSERT INTO yajin_schema (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)")
            .bind(migration.version)
            .bind(migration.name)
            .bind(checksum(migration.sql))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        applied.push(migration.version);
    }
    // Only after a change: the check reads every row of every table holding a foreign key
    // (6 s on 20M usage records), under the write lock, at every start.
    if backend == Backend::Sqlite && !applied.is_empty() {
        let broken = sqlx::query("PRAGMA foreign_key_check").fetch_all(&mut *tx).await?;
        if let Some(row) = broken.first() {
            let table: String = row.try_get(0).unwrap_or_default();
            return Err(StoreError::MigrationFailed {
                version: latest,
                message: format!("a foreign key of {table} no longer holds"),
            });
        }
    }
    tx.commit().await?;
    Ok(MigrationReport { applied, version: latest })
}

/// The schema version the database is at (0 when never migrated).
pub async fn current_version(db: &Db) -> Result<i64, StoreError> {
    let exists = match db.backend() {
        Backend::Sqlite => "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'yajin_schema'",
        Backend::Postgres => "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'yajin_schema'",
    };
    let n: i64 = sqlx::query(exists).fetch_one(db.pool()).await?.try_get("n")?;
    if n == 0 {
        return Ok(0);
    }
    let row = sqlx::query("SELECT coalesce(max(version), 0) AS v FROM yajin_schema").fetch_one(db.pool()).await?;
    Ok(row.try_get("v")?)
}
