//! Appending audit entries on PostgreSQL: the entries and their place in the sealer's queue in one
//! statement (one round trip, whatever the number of entries).

use super::prepared::{Bind, Prepared};
use crate::store::audit::NewEntry;
use crate::store::error::StoreResult;
use crate::store::repo::to_naive;

const APPEND: &str = "\
WITH appended AS (
    INSERT INTO audit_log (at, actor, actor_role, source, action, object_type, object_id, before_digest,
                           after_digest, changed_fields, request_id)
    SELECT * FROM unnest(?::timestamp[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
                         ?::text[], ?::text[], ?::text[], ?::text[])
    RETURNING id
)
INSERT INTO audit_unsealed (entry_id) SELECT id FROM appended";

/// Appends `entries` and queues them for the sealer.
pub fn append(pg: &mut diesel::PgConnection, entries: &[NewEntry]) -> StoreResult<()> {
    let text = |f: fn(&NewEntry) -> &String| entries.iter().map(|e| f(e).clone()).collect::<Vec<_>>();
    let opt = |f: fn(&NewEntry) -> &Option<String>| entries.iter().map(|e| f(e).clone()).collect::<Vec<_>>();
    let binds = vec![
        Bind::TimestampArray(entries.iter().map(|e| to_naive(e.at)).collect()),
        Bind::TextArray(text(|e| &e.actor)),
        Bind::TextArray(text(|e| &e.actor_role)),
        Bind::NullableTextArray(opt(|e| &e.source)),
        Bind::TextArray(text(|e| &e.action)),
        Bind::NullableTextArray(opt(|e| &e.object_type)),
        Bind::NullableTextArray(opt(|e| &e.object_id)),
        Bind::NullableTextArray(opt(|e| &e.before_digest)),
        Bind::NullableTextArray(opt(|e| &e.after_digest)),
        Bind::NullableTextArray(opt(|e| &e.changed_fields)),
        Bind::NullableTextArray(opt(|e| &e.request_id)),
    ];
    diesel::RunQueryDsl::execute(Prepared { sql: APPEND, binds }, pg)?;
    Ok(())
}
