//! Failed-login counting and lockout, the same for merchants and staff.

use sqlx::{AnyConnection, Row};

use crate::StoreError;

/// The table whose accounts are counted: a closed set, so the name is never user input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accounts {
    Merchants,
    Staff,
}

impl Accounts {
    fn table(self) -> &'static str {
        match self {
            Accounts::Merchants => "merchants",
            Accounts::Staff => "staff",
        }
    }
}

/// Counts a failed login; at `max_failures` in a row the account locks until `lock_until`.
/// Returns the lock's end if this failure locked it.
pub async fn record_failure(
    conn: &mut AnyConnection,
    accounts: Accounts,
    id: &str,
    max_failures: i64,
    lock_until: i64,
) -> Result<Option<i64>, StoreError> {
    let sql = format!(
        "UPDATE {} SET failed_login_count = failed_login_count + 1,
            locked_until = CASE WHEN failed_login_count + 1 >= $1 THEN $2 ELSE locked_until END
         WHERE id = $3 RETURNING failed_login_count, locked_until",
        accounts.table()
    );
    let row = sqlx::query(&sql).bind(max_failures).bind(lock_until).bind(id).fetch_one(conn).await?;
    let count: i64 = row.try_get("failed_login_count")?;
    Ok(if count >= max_failures { row.try_get("locked_until")? } else { None })
}

/// A successful login or reset: the failure count and any lock are cleared.
pub async fn clear_failures(conn: &mut AnyConnection, accounts: Accounts, id: &str) -> Result<(), StoreError> {
    let sql = format!("UPDATE {} SET failed_login_count = 0, locked_until = NULL WHERE id = $1", accounts.table());
    sqlx::query(&sql).bind(id).execute(conn).await?;
    Ok(())
}
