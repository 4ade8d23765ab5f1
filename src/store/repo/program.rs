//! Programs: rows, targets and the list VENs read.

use diesel::prelude::*;

use super::{ObjectWrite, Row, stored, to_naive};
use crate::privacy::TargetFilter;
use crate::store::conn::AnyConnection;
use crate::store::error::StoreResult;
use crate::store::schema::*;
use crate::wire::{ObjectType, Page, StoredObject};

targeted_table!(
    ObjectType::Program,
    programs,
    program_targets,
    program_id,
    get_program,
    delete_program,
    set_program_targets
);

pub fn insert_program(c: &mut AnyConnection, w: &ObjectWrite, name: &str) -> StoreResult<StoredObject> {
    diesel::insert_into(programs::table)
        .values((
            programs::id.eq(&w.id),
            programs::program_name.eq(name),
            programs::body.eq(&w.body),
            programs::targets.eq(w.targets_json()?),
            programs::targeted.eq(w.targeted()),
            programs::created_date_time.eq(to_naive(w.now)),
            programs::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_program_targets(c, w, false)?;
    Ok(w.stored(ObjectType::Program, w.now))
}

pub fn update_program(c: &mut AnyConnection, w: &ObjectWrite, name: &str) -> StoreResult<StoredObject> {
    let old = get_program(c, &w.id)?;
    diesel::update(programs::table.find(&w.id))
        .set((
            programs::program_name.eq(name),
            programs::body.eq(&w.body),
            programs::targets.eq(w.targets_json()?),
            programs::targeted.eq(w.targeted()),
            programs::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_program_targets(c, w, true)?;
    Ok(w.stored(ObjectType::Program, old.created))
}

pub fn list_programs(c: &mut AnyConnection, filter: &TargetFilter, page: Page) -> StoreResult<Vec<StoredObject>> {
    let q = programs::table.into_boxed();
    let q = filter_targets!(q, filter, programs, program_targets, program_id);
    let rows: Vec<Row> = q
        .order(programs::id)
        .offset(page.skip)
        .limit(page.limit)
        .select((
            programs::id,
            programs::body,
            programs::targets,
            programs::created_date_time,
            programs::modification_date_time,
        ))
        .load(c)?;
    rows.into_iter().map(|r| stored(ObjectType::Program, r)).collect()
}
