//! Resources: rows and their owners.

use diesel::prelude::*;

use super::{ObjectWrite, Row, stored, to_naive};
use crate::store::conn::AnyConnection;
use crate::store::error::StoreResult;
use crate::store::schema::*;
use crate::wire::{ObjectType, Page, StoredObject};

targeted_table!(
    ObjectType::Resource,
    resources,
    resource_targets,
    resource_id,
    get_resource,
    delete_resource,
    set_resource_targets
);

#[derive(Debug, Clone)]
pub struct ResourceColumns {
    pub ven_id: String,
    pub client_id: String,
    pub resource_name: String,
}

pub fn insert_resource(c: &mut AnyConnection, w: &ObjectWrite, r: &ResourceColumns) -> StoreResult<StoredObject> {
    diesel::insert_into(resources::table)
        .values((
            resources::id.eq(&w.id),
            resources::ven_id.eq(&r.ven_id),
            resources::client_id.eq(&r.client_id),
            resources::resource_name.eq(&r.resource_name),
            resources::body.eq(&w.body),
            resources::targets.eq(w.targets_json()?),
            resources::created_date_time.eq(to_naive(w.now)),
            resources::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_resource_targets(c, w, false)?;
    Ok(w.stored(ObjectType::Resource, w.now))
}

pub fn update_resource(c: &mut AnyConnection, w: &ObjectWrite, r: &ResourceColumns) -> StoreResult<StoredObject> {
    let old = get_resource(c, &w.id)?;
    diesel::update(resources::table.find(&w.id))
        .set((
            resources::ven_id.eq(&r.ven_id),
            resources::client_id.eq(&r.client_id),
            resources::resource_name.eq(&r.resource_name),
            resources::body.eq(&w.body),
            resources::targets.eq(w.targets_json()?),
            resources::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_resource_targets(c, w, true)?;
    Ok(w.stored(ObjectType::Resource, old.created))
}

/// (venID, clientID) of a resource.
pub fn resource_owner(c: &mut AnyConnection, id: &str) -> StoreResult<(String, String)> {
    Ok(resources::table
        .find(id)
        .select((resources::ven_id, resources::client_id))
        .first(c)?)
}

#[derive(Debug, Clone, Default)]
pub struct ResourceFilter {
    pub resource_name: Option<String>,
    pub ven_id: Option<String>,
    pub targets: Option<Vec<String>>,
    pub client_id: Option<String>,
}

pub fn list_resources(c: &mut AnyConnection, f: &ResourceFilter, page: Page) -> StoreResult<Vec<StoredObject>> {
    let mut q = resources::table.into_boxed();
    if let Some(n) = &f.resource_name {
        q = q.filter(resources::resource_name.eq(n.clone()));
    }
    if let Some(v) = &f.ven_id {
        q = q.filter(resources::ven_id.eq(v.clone()));
    }
    if let Some(ts) = &f.targets {
        q = q.filter(
            resources::id.eq_any(
                resource_targets::table
                    .filter(resource_targets::target.eq_any(ts.clone()))
                    .select(resource_targets::resource_id),
            ),
        );
    }
    if let Some(cid) = &f.client_id {
        q = q.filter(resources::client_id.eq(cid.clone()));
    }
    let rows: Vec<Row> = q
        .order(resources::id)
        .offset(page.skip)
        .limit(page.limit)
        .select((
            resources::id,
            resources::body,
            resources::targets,
            resources::created_date_time,
            resources::modification_date_time,
        ))
        .load(c)?;
    rows.into_iter().map(|r| stored(ObjectType::Resource, r)).collect()
}
