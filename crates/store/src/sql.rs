//! Statements and rows on either database through one small interface, so that each query is
//! written once (`$1` placeholders work on both) and runs on whichever connection it is given:
//!
//! - a sqlx connection (PostgreSQL; SQLite's pool and in-memory databases), asynchronously;
//! - PostgreSQL's connections for the hot committed reads ([`crate::postgres_reads`]), whose
//!   rows are PostgreSQL's own (no conversion to sqlx's `Any` rows per value);
//! - SQLite's one writer ([`crate::group_commit`]), a rusqlite connection used synchronously:
//!   a statement there costs its few microseconds of SQLite, where a hand-off to sqlx's worker
//!   thread and back cost two context switches (a refund submit is a dozen statements; see
//!   docs/benchmarks.md, session 11).
//!
//! A store function takes `&mut Conn` and builds its statements with [`query`] (or
//! [`query_as`] for a tuple), binding values with `.bind(…)`, and reads [`Row`]s by column
//! name or position.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{AnyConnection, Executor};

use crate::StoreError;

/// A connection or a transaction on either database (`&mut *tx` for a [`crate::Tx`]).
pub type Conn = dyn Sql;

/// A statement's answer, to await.
pub type Pending<'c, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>>;

/// Which database a connection speaks to, for the few places where the dialects differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// What a connection does with a statement; see the module's documentation.
pub trait Sql: Send {
    fn backend(&self) -> Backend;
    /// Runs the statement; how many rows it changed.
    fn run<'c>(&'c mut self, query: &'c Query<'_>) -> Pending<'c, u64>;
    /// Runs the statement; the rows it returned.
    fn rows<'c>(&'c mut self, query: &'c Query<'_>) -> Pending<'c, Vec<Row>>;
    /// Runs several statements without parameters (`SAVEPOINT …; …`).
    fn batch<'c>(&'c mut self, sql: &'c str) -> Pending<'c, ()>;
}

/// A statement and the values bound to its `$1, $2, …`.
pub struct Query<'q> {
    sql: &'q str,
    args: Vec<Value<'q>>,
}

/// A statement to run on a [`Conn`].
pub fn query(sql: &str) -> Query<'_> {
    Query { sql, args: Vec::new() }
}

/// A statement whose rows are read as tuples.
pub fn query_as<T: FromRow>(sql: &str) -> QueryAs<'_, T> {
    QueryAs { query: query(sql), row: std::marker::PhantomData }
}

/// How many rows a statement changed.
#[derive(Clone, Copy, Debug)]
pub struct Done(u64);

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.0
    }
}

impl<'q> Query<'q> {
    pub fn bind(mut self, value: impl Bind<'q>) -> Self {
        self.args.push(value.value());
        self
    }

    pub fn sql(&self) -> &str {
        self.sql
    }

    pub async fn execute(self, conn: &mut Conn) -> Result<Done, StoreError> {
        Ok(Done(conn.run(&self).await?))
    }

    pub async fn fetch_all(self, conn: &mut Conn) -> Result<Vec<Row>, StoreError> {
        conn.rows(&self).await
    }

    pub async fn fetch_optional(self, conn: &mut Conn) -> Result<Option<Row>, StoreError> {
        Ok(conn.rows(&self).await?.into_iter().next())
    }

    pub async fn fetch_one(self, conn: &mut Conn) -> Result<Row, StoreError> {
        self.fetch_optional(conn).await?.ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }
}

/// [`query_as`]'s statement.
pub struct QueryAs<'q, T> {
    query: Query<'q>,
    row: std::marker::PhantomData<fn() -> T>,
}

impl<'q, T: FromRow> QueryAs<'q, T> {
    pub fn bind(mut self, value: impl Bind<'q>) -> Self {
        self.query = self.query.bind(value);
        self
    }

    pub async fn fetch_all(self, conn: &mut Conn) -> Result<Vec<T>, StoreError> {
        conn.rows(&self.query).await?.iter().map(T::from_row).collect()
    }

    pub async fn fetch_optional(self, conn: &mut Conn) -> Result<Option<T>, StoreError> {
        conn.rows(&self.query).await?.first().map(T::from_row).transpose()
    }

    pub async fn fetch_one(self, conn: &mut Conn) -> Result<T, StoreError> {
        self.fetch_optional(conn).await?.ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }
}

/// A value bound to a statement. A null knows its type: PostgreSQL is told each parameter's.
#[derive(Clone, Debug)]
pub enum Value<'q> {
    Null(Kind),
    Int(i64),
    Real(f64),
    Bool(bool),
    Text(Cow<'q, str>),
    Blob(Cow<'q, [u8]>),
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Int,
    Real,
    Bool,
    Text,
    Blob,
}

/// What can be bound to a statement.
pub trait Bind<'q> {
    const KIND: Kind;
    fn value(self) -> Value<'q>;
}

macro_rules! bind_as {
    ($kind:ident, $variant:ident, $($t:ty => $conv:expr),+ $(,)?) => {$(
        impl<'q> Bind<'q> for $t {
            const KIND: Kind = Kind::$kind;
            fn value(self) -> Value<'q> {
                #[allow(clippy::redundant_closure_call)]
                Value::$variant(($conv)(self))
            }
        }
    )+};
}

bind_as!(Int, Int, i64 => |v| v, i32 => i64::from, u32 => i64::from, i16 => i64::from, u16 => i64::from,
    &'q i64 => |v: &i64| *v, &'q i32 => |v: &i32| i64::from(*v));
bind_as!(Real, Real, f64 => |v| v);
bind_as!(Bool, Bool, bool => |v| v, &'q bool => |v: &bool| *v);
bind_as!(Text, Text, &'q str => Cow::Borrowed, String => Cow::Owned, &'q String => |v: &'q String| Cow::Borrowed(v.as_str()),
    &'q &'q str => |v: &&'q str| Cow::Borrowed(*v));
bind_as!(Blob, Blob, &'q [u8] => Cow::Borrowed, Vec<u8> => Cow::Owned, &'q Vec<u8> => |v: &'q Vec<u8>| Cow::Borrowed(v.as_slice()));

impl<'q, T: Bind<'q>> Bind<'q> for Option<T> {
    const KIND: Kind = T::KIND;
    fn value(self) -> Value<'q> {
        match self {
            Some(v) => v.value(),
            None => Value::Null(T::KIND),
        }
    }
}

impl<'q, T> Bind<'q> for &'q Option<T>
where
    &'q T: Bind<'q>,
{
    const KIND: Kind = <&'q T as Bind<'q>>::KIND;
    fn value(self) -> Value<'q> {
        self.as_ref().value()
    }
}

/// A row a statement returned.
pub enum Row {
    Any(AnyRow),
    Postgres(PgRow),
    Sqlite(SqliteRow),
}

/// A row read from the writer's rusqlite connection: its values, copied out.
pub struct SqliteRow {
    names: Arc<[String]>,
    values: Vec<rusqlite::types::Value>,
}

impl Row {
    /// The value of a column, by name or position.
    pub fn try_get<T: Column, I: ColumnIndex>(&self, index: I) -> Result<T, StoreError> {
        match self {
            Row::Any(row) => sqlx::Row::try_get::<T, I>(row, index).map_err(StoreError::from),
            Row::Postgres(row) => sqlx::Row::try_get::<T, I>(row, index).map_err(StoreError::from),
            Row::Sqlite(row) => {
                let at = index
                    .position(&row.names)
                    .ok_or_else(|| StoreError::Database(sqlx::Error::ColumnNotFound(index.describe())))?;
                T::from_sqlite(&row.values[at]).map_err(|why| {
                    StoreError::Database(sqlx::Error::ColumnDecode { index: index.describe(), source: why.into() })
                })
            }
        }
    }
}

/// A column by name (`&str`) or position (`usize`).
pub trait ColumnIndex: sqlx::ColumnIndex<AnyRow> + sqlx::ColumnIndex<PgRow> + Copy {
    fn position(self, names: &[String]) -> Option<usize>;
    fn describe(self) -> String;
}

impl ColumnIndex for &str {
    fn position(self, names: &[String]) -> Option<usize> {
        names.iter().position(|n| n == self)
    }
    fn describe(self) -> String {
        self.to_owned()
    }
}

impl ColumnIndex for usize {
    fn position(self, names: &[String]) -> Option<usize> {
        (self < names.len()).then_some(self)
    }
    fn describe(self) -> String {
        self.to_string()
    }
}

/// What a column can be read as (sqlx decodes it from its rows; this, from the writer's).
pub trait Column:
    Sized
    + for<'r> sqlx::Decode<'r, sqlx::Any>
    + sqlx::Type<sqlx::Any>
    + for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
{
    fn from_sqlite(value: &rusqlite::types::Value) -> Result<Self, String>;
}

use rusqlite::types::Value as Stored;

fn unexpected(value: &Stored, wanted: &str) -> String {
    format!("expected {wanted}, found {:?}", value.data_type())
}

macro_rules! column {
    ($t:ty, $wanted:literal, $($pat:pat => $conv:expr),+ $(,)?) => {
        impl Column for $t {
            fn from_sqlite(value: &Stored) -> Result<Self, String> {
                match value {
                    $($pat => $conv,)+
                    other => Err(unexpected(other, $wanted)),
                }
            }
        }
    };
}

column!(i64, "an integer", Stored::Integer(i) => Ok(*i));
column!(i32, "an integer", Stored::Integer(i) => i32::try_from(*i).map_err(|e| e.to_string()));
column!(f64, "a number", Stored::Real(f) => Ok(*f), Stored::Integer(i) => Ok(*i as f64));
column!(bool, "a boolean", Stored::Integer(i) => Ok(*i != 0));
column!(String, "text", Stored::Text(s) => Ok(s.clone()));
column!(Vec<u8>, "bytes", Stored::Blob(b) => Ok(b.clone()), Stored::Text(s) => Ok(s.clone().into_bytes()));

impl<T: Column> Column for Option<T> {
    fn from_sqlite(value: &Stored) -> Result<Self, String> {
        match value {
            Stored::Null => Ok(None),
            other => T::from_sqlite(other).map(Some),
        }
    }
}

/// A row read as a tuple of columns, in order.
pub trait FromRow: Sized {
    fn from_row(row: &Row) -> Result<Self, StoreError>;
}

macro_rules! tuple_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Column),+> FromRow for ($($t,)+) {
            fn from_row(row: &Row) -> Result<Self, StoreError> {
                Ok(($(row.try_get::<$t, usize>($i)?,)+))
            }
        }
    };
}

tuple_row!(A 0);
tuple_row!(A 0, B 1);
tuple_row!(A 0, B 1, C 2);
tuple_row!(A 0, B 1, C 2, D 3);
tuple_row!(A 0, B 1, C 2, D 3, E 4);
tuple_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

// ---- sqlx connections -------------------------------------------------------------------

/// Refuses a statement with a text value holding NUL, which PostgreSQL cannot store or even
/// compare (it fails the statement), before it runs, on both databases alike: whatever reaches
/// the store holding one is a caller's input no check above caught (`StoreError::Unstorable`).
fn storable(query: &Query<'_>) -> Result<(), StoreError> {
    if query.args.iter().any(|v| matches!(v, Value::Text(t) if t.contains('\0'))) {
        return Err(StoreError::Unstorable);
    }
    Ok(())
}

/// The statement with its values bound, for a sqlx connection of either driver.
fn bound<'q, DB>(
    query: &'q Query<'_>,
) -> Result<sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>, StoreError>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<f64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<bool>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    storable(query)?;
    Ok(query.args.iter().fold(sqlx::query(query.sql), |q, arg| match arg {
        Value::Null(Kind::Int) => q.bind(None::<i64>),
        Value::Null(Kind::Real) => q.bind(None::<f64>),
        Value::Null(Kind::Bool) => q.bind(None::<bool>),
        Value::Null(Kind::Text) => q.bind(None::<String>),
        Value::Null(Kind::Blob) => q.bind(None::<Vec<u8>>),
        Value::Int(v) => q.bind(*v),
        Value::Real(v) => q.bind(*v),
        Value::Bool(v) => q.bind(*v),
        Value::Text(v) => q.bind(v.as_ref()),
        Value::Blob(v) => q.bind(v.as_ref()),
    }))
}

impl Sql for PgConnection {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn run<'c>(&'c mut self, query: &'c Query<'_>) -> Pending<'c, u64> {
        Box::pin(async move { Ok(bound::<sqlx::Postgres>(query)?.execute(self).await?.rows_affected()) })
    }

    fn rows<'c>(&'c mut self, query: &'c Query<'_>) -> Pending<'c, Vec<Row>> {
        Box::pin(async move {
            Ok(bound::<sqlx::Postgres>(query)?.fetch_all(self).await?.into_iter().map(Row::Postgres).collect())
        })
    }

    fn batch<'c>(&'c mut self, sql: &'c str) -> Pending<'c, ()> {
        Box::pin(async move {
            self.execute(sqlx::raw_sql(sql)).await?;
            Ok(())
        })
    }
}

impl Sql for AnyConnection {
    fn backend(&self) -> Backend {
        if self.backend_name() == "PostgreSQL" {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    fn run<'c>(&'c mut self, query: &'c Query<'_>) -> Pending<'c, u64> {
        Box::pin(async move { Ok(bound::<sqlx::Any>(query)?.execute(self).await?.rows_affected()) })
    }

    fn rows<'c>(&'c mut self, query: &'c Query<'_>) -> Pending<'c, Vec<Row>> {
        Box::pin(
            async move { Ok(bound::<sqlx::Any>(query)?.fetch_all(self).await?.into_iter().map(Row::Any).collect()) },
        )
    }

    fn batch<'c>(&'c mut self, sql: &'c str) -> Pending<'c, ()> {
        Box::pin(async move {
            self.execute(sqlx::raw_sql(sql)).await?;
            Ok(())
        })
    }
}

/// A connection borrowed from the pool, or a transaction on one (also [`crate::Tx`]), is its
/// connection.
macro_rules! sql_through_deref {
    ($($t:ty),+) => {$(
        impl $crate::sql::Sql for $t {
            fn backend(&self) -> $crate::sql::Backend {
                $crate::sql::Sql::backend(&**self)
            }
            fn run<'c>(&'c mut self, query: &'c $crate::sql::Query<'_>) -> $crate::sql::Pending<'c, u64> {
                $crate::sql::Sql::run(&mut **self, query)
            }
            fn rows<'c>(
                &'c mut self,
                query: &'c $crate::sql::Query<'_>,
            ) -> $crate::sql::Pending<'c, Vec<$crate::sql::Row>> {
                $crate::sql::Sql::rows(&mut **self, query)
            }
            fn batch<'c>(&'c mut self, sql: &'c str) -> $crate::sql::Pending<'c, ()> {
                $crate::sql::Sql::batch(&mut **self, sql)
            }
        }
    )+};
}
pub(crate) use sql_through_deref;

sql_through_deref!(sqlx::pool::PoolConnection<sqlx::Any>, sqlx::Transaction<'static, sqlx::Any>);

// ---- SQLite's writer --------------------------------------------------------------------

/// `query` prepared on a rusqlite connection (from its cache) with its values bound: the
/// writer's statements, and the synchronous reader's (`crate::sqlite_reader`).
pub(crate) fn prepare_bound<'c>(
    conn: &'c rusqlite::Connection,
    query: &Query<'_>,
) -> Result<rusqlite::CachedStatement<'c>, StoreError> {
    storable(query)?;
    // SQLite would prepare the first statement and quietly drop the rest (PostgreSQL
    // refuses them in a prepared statement): several statements go through `batch`.
    if query.sql.trim_end().trim_end_matches(';').contains(';') {
        return Err(StoreError::Sqlite(format!("one statement at a time (use batch): {}", query.sql)));
    }
    let mut statement = conn.prepare_cached(query.sql).map_err(engine)?;
    for i in 1..=statement.parameter_count() {
        // `$n` names the n-th value, wherever it stands and however often.
        let n = statement
            .parameter_name(i)
            .and_then(|name| name.strip_prefix('$').or_else(|| name.strip_prefix('?')))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(i);
        let value = n
            .checked_sub(1)
            .and_then(|at| query.args.get(at))
            .ok_or_else(|| StoreError::Sqlite(format!("no value bound for ${n} of {}", query.sql)))?;
        let bound = match value {
            Value::Null(_) => statement.raw_bind_parameter(i, rusqlite::types::Null),
            Value::Int(v) => statement.raw_bind_parameter(i, v),
            Value::Real(v) => statement.raw_bind_parameter(i, v),
            Value::Bool(v) => statement.raw_bind_parameter(i, i64::from(*v)),
            Value::Text(v) => statement.raw_bind_parameter(i, v.as_ref()),
            Value::Blob(v) => statement.raw_bind_parameter(i, v.as_ref()),
        };
        bound.map_err(engine)?;
    }
    Ok(statement)
}

/// SQLite's writer connection, used synchronously: each statement runs to its end within the
/// call, so a caller's future is never cut short between a statement and its answer.
pub(crate) struct SqliteWriter {
    conn: rusqlite::Connection,
}

impl SqliteWriter {
    pub(crate) fn new(conn: rusqlite::Connection) -> SqliteWriter {
        SqliteWriter { conn }
    }

    fn prepared(&self, query: &Query<'_>) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        prepare_bound(&self.conn, query)
    }

    fn run_now(&mut self, query: &Query<'_>) -> Result<u64, StoreError> {
        let mut statement = self.prepared(query)?;
        let writes = !statement.readonly();
        let mut rows = statement.raw_query();
        while rows.next().map_err(engine)?.is_some() {}
        drop(rows);
        drop(statement);
        Ok(if writes { self.conn.changes() } else { 0 })
    }

    fn rows_now(&mut self, query: &Query<'_>) -> Result<Vec<Row>, StoreError> {
        let mut statement = self.prepared(query)?;
        let names: Arc<[String]> = statement.column_names().into_iter().map(str::to_owned).collect();
        let width = names.len();
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(engine)? {
            let values = (0..width)
                .map(|i| row.get_ref(i).map(rusqlite::types::Value::from))
                .collect::<Result<Vec<_>, _>>()
                .map_err(engine)?;
            out.push(Row::Sqlite(SqliteRow { names: names.clone(), values }));
        }
        Ok(out)
    }

    pub(crate) fn batch_now(&mut self, sql: &str) -> Result<(), StoreError> {
        self.conn.execute_batch(sql).map_err(engine)
    }

    /// `BEGIN IMMEDIATE`: `false` when another connection holds the write lock.
    pub(crate) fn begin_immediate(&mut self) -> Result<bool, StoreError> {
        match self.conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => Ok(true),
            Err(rusqlite::Error::SqliteFailure(failure, _)) if failure.code == rusqlite::ErrorCode::DatabaseBusy => {
                Ok(false)
            }
            Err(e) => Err(engine(e)),
        }
    }
}

impl Sql for SqliteWriter {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn run<'c>(&'c mut self, query: &'c Query<'_>) -> Pending<'c, u64> {
        Box::pin(std::future::ready(self.run_now(query)))
    }

    fn rows<'c>(&'c mut self, query: &'c Query<'_>) -> Pending<'c, Vec<Row>> {
        Box::pin(std::future::ready(self.rows_now(query)))
    }

    fn batch<'c>(&'c mut self, sql: &'c str) -> Pending<'c, ()> {
        Box::pin(std::future::ready(self.batch_now(sql)))
    }
}

/// A SQLite error from the writer: a broken unique key is a [`StoreError::Conflict`], as
/// sqlx reports it.
pub(crate) fn engine(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    match &e {
        rusqlite::Error::SqliteFailure(failure, message)
            if failure.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                || failure.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict(message.clone().unwrap_or_else(|| e.to_string()))
        }
        _ => StoreError::Sqlite(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> SqliteWriter {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, f REAL, b BLOB, flag INTEGER)").unwrap();
        SqliteWriter::new(conn)
    }

    #[test]
    fn numbered_parameters_bind_by_number_wherever_they_stand() {
        let mut w = writer();
        let insert = query("INSERT INTO t (n, id, flag) VALUES ($2, $1, $3)").bind("a").bind(7_i64).bind(true);
        assert_eq!(w.run_now(&insert).unwrap(), 1);
        let rows = w.rows_now(&query("SELECT id, n, flag, b FROM t WHERE n = $1 OR n = $1 + 1").bind(7_i64)).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].try_get::<String, _>("id").unwrap(), "a");
        assert_eq!(rows[0].try_get::<i64, _>(1).unwrap(), 7);
        assert!(rows[0].try_get::<bool, _>("flag").unwrap());
        assert_eq!(rows[0].try_get::<Option<Vec<u8>>, _>("b").unwrap(), None);
        assert!(rows[0].try_get::<String, _>("n").is_err(), "an integer is not text");
        assert!(rows[0].try_get::<String, _>("nope").is_err());
    }

    #[test]
    fn a_broken_unique_key_is_a_conflict_and_a_select_changes_nothing() {
        let mut w = writer();
        w.run_now(&query("INSERT INTO t (id) VALUES ($1)").bind("a")).unwrap();
        let again = w.run_now(&query("INSERT INTO t (id) VALUES ($1)").bind("a"));
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        assert_eq!(w.run_now(&query("SELECT id FROM t")).unwrap(), 0);
        let missing = w.run_now(&query("INSERT INTO t (id, n) VALUES ($1, $2)").bind("b"));
        assert!(missing.is_err(), "a parameter without a value is refused, not bound as null");
        let two = w.run_now(&query("INSERT INTO t (id) VALUES ('c'); INSERT INTO t (id) VALUES ('d')"));
        assert!(two.is_err(), "two statements are refused, not cut to the first");
        assert_eq!(w.rows_now(&query("SELECT id FROM t WHERE id IN ('c', 'd');")).unwrap().len(), 0);
    }

    #[test]
    fn nulls_and_tuples() {
        let mut w = writer();
        w.run_now(&query("INSERT INTO t (id, n, f) VALUES ($1, $2, $3)").bind("a").bind(None::<i64>).bind(1.5))
            .unwrap();
        let rows = w.rows_now(&query("SELECT id, n, f FROM t")).unwrap();
        let (id, n, f) = <(String, Option<i64>, f64)>::from_row(&rows[0]).unwrap();
        assert_eq!((id.as_str(), n, f), ("a", None, 1.5));
        assert!(rows[0].try_get::<i64, _>("n").is_err(), "a null is no integer");
    }
}
