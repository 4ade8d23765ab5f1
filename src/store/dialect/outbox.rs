//! The outbox's backend-specific statements: a commit's change rows (one statement on PostgreSQL) and
//! the notification claim (`FOR UPDATE SKIP LOCKED` on PostgreSQL).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::insert_many;
use super::prepared::{Bind, Prepared};
use crate::store::conn::AnyConnection;
use crate::store::error::StoreResult;
use crate::store::outbox::{self, Change, ChangeRecord, Claimed};
use crate::store::repo::to_naive;
use crate::store::schema::changes;

/// The changes of one commit, recorded in its transaction for the objects someone subscribes to (or all,
/// with `every`: a notification channel plans from every change, as MQTT does), and, when `announce` names
/// a channel, the notice to other instances that listed objects changed (PostgreSQL `NOTIFY`, delivered at
/// commit; SQLite has one writer process and nobody to tell). PostgreSQL: one statement, whatever the
/// number of changes.
pub fn record_changes(
    c: &mut AnyConnection,
    changes: Vec<Change>,
    every: bool,
    announce: Option<&str>,
) -> StoreResult<()> {
    if changes.is_empty() && announce.is_none() {
        return Ok(());
    }
    let records = changes
        .into_iter()
        .map(ChangeRecord::new)
        .collect::<StoreResult<Vec<_>>>()?;
    match c {
        AnyConnection::Postgresql(pg) => {
            let mut cols = ChangeArrays::default();
            for r in records {
                cols.push(r);
            }
            let mut binds = cols.into_binds();
            binds.push(Bind::Bool(every));
            binds.push(Bind::Text(announce.unwrap_or_default().to_owned()));
            binds.push(Bind::Bool(announce.is_some()));
            Prepared {
                sql: RECORD_CHANGES,
                binds,
            }
            .execute(pg)?;
        }
        AnyConnection::Sqlite(_) => {
            let mut kinds: Vec<(&str, bool)> = Vec::new();
            let mut kept = Vec::with_capacity(records.len());
            for r in records {
                let wanted = every
                    || match kinds.iter().find(|(k, _)| *k == r.object_type) {
                        Some((_, w)) => *w,
                        None => {
                            let w = outbox::subscribed(c, r.object_type)?;
                            kinds.push((r.object_type, w));
                            w
                        }
                    };
                if wanted {
                    kept.push(r);
                }
            }
            // Bounded statements: SQLite allows at most 32,766 bind values per statement.
            for chunk in kept.chunks(500) {
                insert_many!(c, changes::table, chunk)?;
            }
        }
    }
    Ok(())
}

/// [`record_changes`] on PostgreSQL. Rows keep the order of the commit's changes (their `seq` order).
const RECORD_CHANGES: &str = "\
WITH change AS (
    INSERT INTO changes (object_type, operation, object_id, program_id, event_id, owner_client_id, body, targets,
                         created_date_time, modification_date_time, recorded_at)
    SELECT object_type, operation, object_id, program_id, event_id, owner_client_id, body, targets,
           created_date_time, modification_date_time, recorded_at
    FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
                ?::timestamp[], ?::timestamp[], ?::timestamp[])
        WITH ORDINALITY AS i(object_type, operation, object_id, program_id, event_id, owner_client_id, body,
                             targets, created_date_time, modification_date_time, recorded_at, n)
    WHERE ? OR EXISTS (SELECT 1 FROM subscription_objects s WHERE s.object_type = i.object_type)
    ORDER BY n
)
SELECT pg_notify(?, '') WHERE ?";

/// The columns of [`RECORD_CHANGES`], one entry per change.
#[derive(Default)]
struct ChangeArrays {
    object_type: Vec<String>,
    operation: Vec<String>,
    object_id: Vec<String>,
    program_id: Vec<Option<String>>,
    event_id: Vec<Option<String>>,
    owner: Vec<Option<String>>,
    body: Vec<String>,
    targets: Vec<Option<String>>,
    created: Vec<NaiveDateTime>,
    modified: Vec<NaiveDateTime>,
    recorded_at: Vec<NaiveDateTime>,
}

impl ChangeArrays {
    fn push(&mut self, r: ChangeRecord) {
        self.object_type.push(r.object_type.to_owned());
        self.operation.push(r.operation.to_owned());
        self.object_id.push(r.object_id);
        self.program_id.push(r.program_id);
        self.event_id.push(r.event_id);
        self.owner.push(r.owner_client_id);
        self.body.push(r.body);
        self.targets.push(r.targets);
        self.created.push(r.created_date_time);
        self.modified.push(r.modification_date_time);
        self.recorded_at.push(r.recorded_at);
    }

    fn into_binds(self) -> Vec<Bind> {
        vec![
            Bind::TextArray(self.object_type),
            Bind::TextArray(self.operation),
            Bind::TextArray(self.object_id),
            Bind::NullableTextArray(self.program_id),
            Bind::NullableTextArray(self.event_id),
            Bind::NullableTextArray(self.owner),
            Bind::TextArray(self.body),
            Bind::NullableTextArray(self.targets),
            Bind::TimestampArray(self.created),
            Bind::TimestampArray(self.modified),
            Bind::TimestampArray(self.recorded_at),
        ]
    }
}

/// Due notifications whose earlier notifications for the same (subscription, object) are settled, oldest
/// change first; each gets `owner`'s lease until `lease_until` and one more attempt. PostgreSQL skips rows
/// another instance is claiming at the same moment.
const CLAIM: &str = "\
UPDATE notifications SET attempts = attempts + 1, lease_owner = ?, lease_until = ?,
    first_attempt_at = COALESCE(first_attempt_at, ?)
WHERE id IN (
    SELECT n.id FROM notifications n
    WHERE n.state = 'pending' AND n.channel = ? AND NOT_BUSY AND n.next_attempt_at <= ?
      AND (n.lease_until IS NULL OR n.lease_until < ?)
      AND NOT EXISTS (
          SELECT 1 FROM notifications p
          WHERE p.subscription_id = n.subscription_id AND p.object_id = n.object_id
            AND p.state = 'pending' AND p.change_seq < n.change_seq)
    ORDER BY n.change_seq, n.id
    LIMIT ? LOCKING)
RETURNING id, change_seq, callback_url, bearer_token, payload, attempts, channel, client_id";

/// Separates the client ids of [`claim_due`]'s `busy` list (no client id holds it).
const SEP: char = '\u{1f}';

/// Claims due notifications (see [`CLAIM`]), none of them for the clients in `busy` (those with all
/// their share of deliveries in flight: their rows wait, and other clients' are taken instead).
#[allow(clippy::too_many_arguments)]
pub fn claim_due(
    c: &mut AnyConnection,
    owner: &str,
    channel: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
    busy: &[String],
) -> StoreResult<Vec<Claimed>> {
    let now = to_naive(now);
    let lease_until = to_naive(lease_until);
    let busy: String = if busy.is_empty() {
        String::new()
    } else {
        let mut s = String::from(SEP);
        for b in busy {
            s.push_str(b);
            s.push(SEP);
        }
        s
    };
    macro_rules! run {
        ($conn:expr, $sql:expr) => {
            diesel::sql_query($sql)
                .bind::<Text, _>(owner)
                .bind::<Timestamp, _>(lease_until)
                .bind::<Timestamp, _>(now)
                .bind::<Text, _>(channel)
                .bind::<Text, _>(&busy)
                .bind::<Timestamp, _>(now)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>(limit)
                .load::<Claimed>($conn)?
        };
    }
    let mut rows = match c {
        AnyConnection::Postgresql(pg) => run!(
            pg,
            numbered(
                &CLAIM
                    .replace("LOCKING", "FOR UPDATE OF n SKIP LOCKED")
                    .replace("NOT_BUSY", "strpos(?, chr(31) || n.client_id || chr(31)) = 0")
            )
        ),
        AnyConnection::Sqlite(sq) => run!(
            sq,
            CLAIM
                .replace("LOCKING", "")
                .replace("NOT_BUSY", "instr(?, char(31) || n.client_id || char(31)) = 0")
        ),
    };
    rows.sort_by(|a, b| (a.change_seq, &a.id).cmp(&(b.change_seq, &b.id)));
    Ok(rows)
}

/// `?` placeholders as PostgreSQL's `$1, $2, …`.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(numbered("a = ? AND b < ?"), "a = $1 AND b < $2");
    }
}
