use crate::sql::{query, Conn};
use yajin_core::application::Role;

use crate::{new_id, StoreError};

pub struct NewStaff {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staff {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
}

pub async fn insert(conn: &mut Conn, s: &NewStaff, now_ms: i64) -> Result<String, StoreError> {
    if !s.role.is_staff() {
        return Err(StoreError::Conflict(format!("{} is not a staff role", s.role.as_str())));
    }
    let id = new_id("st");
    query(
        "INSERT INTO staff (id, username, display_name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&s.username)
    .bind(&s.display_name)
    .bind(s.role.as_str())
    .bind(&s.password_hash)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn by_username(conn: &mut Conn, username: &str) -> Result<Option<Staff>, StoreError> {
    let row = query("SELECT id, username, display_name, role, active FROM staff WHERE username = $1")
        .bind(username)
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let role: String = row.try_get("role")?;
    Ok(Some(Staff {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("staff role {role}")))?,
        active: row.try_get::<i64, _>("active")? == 1,
    }))
}

/// Login state of a staff account.
#[derive(Clone, Debug)]
pub struct LoginRecord {
    pub id: String,
    pub role: Role,
    pub active: bool,
    pub password_hash: String,
}

pub async fn login_record(conn: &mut Conn, username: &str) -> Result<Option<LoginRecord>, StoreError> {
    let row = query("SELECT id, role, active, password_hash FROM staff WHERE username = $1")
        .bind(username)
        .fetch_optional(conn)
        .await?;
    let Some(r) = row else { return Ok(None) };
    let role: String = r.try_get("role")?;
    Ok(Some(LoginRecord {
        id: r.try_get("id")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("staff role {role}")))?,
        active: r.try_get::<i64, _>("active")? == 1,
        password_hash: r.try_get("password_hash")?,
    }))
}

pub async fn by_id(conn: &mut Conn, id: &str) -> Result<Option<Staff>, StoreError> {
    let row = query("SELECT username FROM staff WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?;
    match row {
        Some(r) => by_username(conn, &r.try_get::<String, _>("username")?).await,
        None => Ok(None),
    }
}
