//! Static SQL with `?` placeholders and typed binds, kept by diesel as a prepared statement per
//! PostgreSQL connection.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

/// One bind value of a [`Prepared`] statement.
pub(super) enum Bind {
    Text(String),
    NullableText(Option<String>),
    NullableBigInt(Option<i64>),
    Bool(bool),
    Timestamp(NaiveDateTime),
    NullableTimestamp(Option<NaiveDateTime>),
    TextArray(Vec<String>),
    NullableTextArray(Vec<Option<String>>),
    BoolArray(Vec<bool>),
    IntArray(Vec<i32>),
    NullableBigIntArray(Vec<Option<i64>>),
    TimestampArray(Vec<NaiveDateTime>),
    NullableTimestampArray(Vec<Option<NaiveDateTime>>),
}

/// Static SQL with `?` placeholders filled in order from `binds`. Unlike `sql_query`, diesel may keep it as
/// a prepared statement per connection (keyed by its SQL), so PostgreSQL parses and plans it once.
pub(super) struct Prepared {
    pub(super) sql: &'static str,
    pub(super) binds: Vec<Bind>,
}

impl QueryId for Prepared {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Pg> for Prepared {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let mut parts = self.sql.split('?');
        out.push_sql(parts.next().unwrap_or_default());
        for (bind, part) in self.binds.iter().zip(parts) {
            match bind {
                Bind::Text(v) => out.push_bind_param::<Text, _>(v)?,
                Bind::NullableText(v) => out.push_bind_param::<Nullable<Text>, _>(v)?,
                Bind::NullableBigInt(v) => out.push_bind_param::<Nullable<BigInt>, _>(v)?,
                Bind::Bool(v) => out.push_bind_param::<Bool, _>(v)?,
                Bind::Timestamp(v) => out.push_bind_param::<Timestamp, _>(v)?,
                Bind::NullableTimestamp(v) => out.push_bind_param::<Nullable<Timestamp>, _>(v)?,
                Bind::TextArray(v) => out.push_bind_param::<Array<Text>, _>(v)?,
                Bind::NullableTextArray(v) => out.push_bind_param::<Array<Nullable<Text>>, _>(v)?,
                Bind::BoolArray(v) => out.push_bind_param::<Array<Bool>, _>(v)?,
                Bind::IntArray(v) => out.push_bind_param::<Array<Integer>, _>(v)?,
                Bind::NullableBigIntArray(v) => out.push_bind_param::<Array<Nullable<BigInt>>, _>(v)?,
                Bind::TimestampArray(v) => out.push_bind_param::<Array<Timestamp>, _>(v)?,
                Bind::NullableTimestampArray(v) => out.push_bind_param::<Array<Nullable<Timestamp>>, _>(v)?,
            }
            out.push_sql(part);
        }
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for Prepared {}

/// Rows are read by column name ([`diesel::QueryableByName`]).
impl diesel::query_builder::Query for Prepared {
    type SqlType = diesel::sql_types::Untyped;
}
