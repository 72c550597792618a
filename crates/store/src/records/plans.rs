use crate::sql::{query, Conn};
use yajin_core::plan::DepositPlan;

use crate::{new_id, StoreError};

/// Stores a new version of a plan. Versions are never edited: a change is a new version.
pub async fn insert(conn: &mut Conn, plan: &DepositPlan, created_by: &str, now_ms: i64) -> Result<String, StoreError> {
    let id = new_id("pl");
    let body = serde_json::to_string(plan).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    query(
        "INSERT INTO deposit_plans (id, code, version, name, body, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&plan.code)
    .bind(plan.version)
    .bind(&plan.name)
    .bind(body)
    .bind(created_by)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(id)
}

/// The newest version of the plan `code`, with its id.
pub async fn latest(conn: &mut Conn, code: &str) -> Result<Option<(String, DepositPlan)>, StoreError> {
    let row = query("SELECT id, body FROM deposit_plans WHERE code = $1 ORDER BY version DESC LIMIT 1")
        .bind(code)
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let body: String = row.try_get("body")?;
    Ok(Some((row.try_get("id")?, parse(&body)?)))
}

/// A stored plan body (a version, or a terminal's snapshot of one). Bodies never change once
/// written and there are few of them (a plan's versions), while every My Devices row holds
/// one: each distinct body is parsed once per process and cloned after.
pub fn parse(body: &str) -> Result<DepositPlan, StoreError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    /// Bodies remembered; past this many, others are parsed each time.
    const KEPT: usize = 256;
    static PARSED: OnceLock<Mutex<HashMap<String, DepositPlan>>> = OnceLock::new();
    let parsed = PARSED.get_or_init(Default::default);
    if let Some(plan) = parsed.lock().ok().and_then(|p| p.get(body).cloned()) {
        return Ok(plan);
    }
    let plan: DepositPlan = serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("plan: {e}")))?;
    if let Ok(mut parsed) = parsed.lock() {
        if parsed.len() < KEPT {
            parsed.insert(body.to_owned(), plan.clone());
        }
    }
    Ok(plan)
}

/// Every version of every plan, newest first.
pub async fn all(conn: &mut Conn) -> Result<Vec<(String, DepositPlan, i64)>, StoreError> {
    let rows =
        query("SELECT id, body, created_at FROM deposit_plans ORDER BY code, version DESC").fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            let body: String = r.try_get("body")?;
            Ok((r.try_get("id")?, parse(&body)?, r.try_get("created_at")?))
        })
        .collect()
}
