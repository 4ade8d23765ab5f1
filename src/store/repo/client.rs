//! OAuth clients and the server-wide secrets.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::{from_naive, to_naive};
use crate::store::conn::AnyConnection;
use crate::store::dialect::insert_many_or_ignore;
use crate::store::error::StoreResult;
use crate::store::schema::*;

/// An OAuth2 client of the built-in token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    pub client_id: String,
    pub client_name: String,
    pub role: String,
    pub secret_hash: String,
    pub created: DateTime<Utc>,
    /// The secret before the last rotation, and until when it is still accepted.
    pub previous: Option<(String, DateTime<Utc>)>,
}

/// A client's row as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = clients)]
struct Stored {
    client_id: String,
    client_name: String,
    role: String,
    secret_hash: String,
    created_date_time: NaiveDateTime,
    previous_secret_hash: Option<String>,
    previous_valid_until: Option<NaiveDateTime>,
}

impl From<Stored> for ClientRow {
    fn from(r: Stored) -> Self {
        ClientRow {
            client_id: r.client_id,
            client_name: r.client_name,
            role: r.role,
            secret_hash: r.secret_hash,
            created: from_naive(r.created_date_time),
            previous: r.previous_secret_hash.zip(r.previous_valid_until.map(from_naive)),
        }
    }
}

pub fn insert_client(c: &mut AnyConnection, row: &ClientRow) -> StoreResult<()> {
    diesel::insert_into(clients::table)
        .values((
            clients::client_id.eq(&row.client_id),
            clients::client_name.eq(&row.client_name),
            clients::role.eq(&row.role),
            clients::secret_hash.eq(&row.secret_hash),
            clients::created_date_time.eq(to_naive(row.created)),
        ))
        .execute(c)?;
    Ok(())
}

pub fn get_client(c: &mut AnyConnection, client_id: &str) -> StoreResult<Option<ClientRow>> {
    let row: Option<Stored> = clients::table
        .find(client_id)
        .select(Stored::as_select())
        .first(c)
        .optional()?;
    Ok(row.map(ClientRow::from))
}

pub fn list_clients(c: &mut AnyConnection) -> StoreResult<Vec<ClientRow>> {
    let rows: Vec<Stored> = clients::table
        .order(clients::created_date_time)
        .select(Stored::as_select())
        .load(c)?;
    Ok(rows.into_iter().map(ClientRow::from).collect())
}

/// Gives the client a new secret hash; the current one stays accepted until `until`. Whether the client
/// exists.
pub fn rotate_client(
    c: &mut AnyConnection,
    client_id: &str,
    new_hash: &str,
    until: DateTime<Utc>,
) -> StoreResult<bool> {
    let n = diesel::update(clients::table.find(client_id))
        .set((
            clients::previous_secret_hash.eq(clients::secret_hash.nullable()),
            clients::previous_valid_until.eq(Some(to_naive(until))),
            clients::secret_hash.eq(new_hash),
        ))
        .execute(c)?;
    Ok(n > 0)
}

/// Records that `subject`'s tokens are revoked from `at`.
pub fn insert_revocation(c: &mut AnyConnection, subject: &str, at: DateTime<Utc>) -> StoreResult<()> {
    diesel::insert_into(revocations::table)
        .values((
            revocations::subject.eq(subject),
            revocations::revoked_at.eq(to_naive(at)),
        ))
        .execute(c)?;
    Ok(())
}

/// Revocations after `seq` made since `since`, in order: (seq, subject).
pub fn revocations_after(c: &mut AnyConnection, seq: i64, since: DateTime<Utc>) -> StoreResult<Vec<(i64, String)>> {
    Ok(revocations::table
        .filter(revocations::seq.gt(seq))
        .filter(revocations::revoked_at.ge(to_naive(since)))
        .order(revocations::seq)
        .select((revocations::seq, revocations::subject))
        .load(c)?)
}

/// Which of `ids` are clients that exist.
pub fn existing_clients(c: &mut AnyConnection, ids: &[String]) -> StoreResult<std::collections::HashSet<String>> {
    let mut found = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<String> = clients::table
            .filter(clients::client_id.eq_any(chunk))
            .select(clients::client_id)
            .load(c)?;
        found.extend(rows);
    }
    Ok(found)
}

pub fn delete_client(c: &mut AnyConnection, client_id: &str) -> StoreResult<bool> {
    Ok(diesel::delete(clients::table.find(client_id)).execute(c)? > 0)
}

/// Returns the named server secret, creating it with `make` when absent. Safe when several instances start
/// at once: the insert of a loser fails on the primary key and it reads the winner's value.
pub fn server_secret(
    c: &mut AnyConnection,
    name: &str,
    now: DateTime<Utc>,
    make: impl FnOnce() -> String,
) -> StoreResult<String> {
    let existing: Option<String> = server_secrets::table
        .find(name)
        .select(server_secrets::value)
        .first(c)
        .optional()?;
    if let Some(v) = existing {
        return Ok(v);
    }
    // Instances starting together race here: the first insert wins and everyone reads the winner's value
    // (a unique violation would abort the whole transaction on PostgreSQL).
    let value = make();
    let row = (
        server_secrets::name.eq(name),
        server_secrets::value.eq(&value),
        server_secrets::created_date_time.eq(to_naive(now)),
    );
    insert_many_or_ignore!(c, server_secrets::table, row)?;
    Ok(server_secrets::table
        .find(name)
        .select(server_secrets::value)
        .first(c)?)
}
