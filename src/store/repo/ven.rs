//! Vens: rows, names, and the targets each VEN client is granted (its ven's, its resources', its site's).

use diesel::prelude::*;

use super::{ObjectWrite, Row, stored, to_naive};
use crate::store::conn::AnyConnection;
use crate::store::error::StoreResult;
use crate::store::schema::*;
use crate::wire::{ObjectType, Page, StoredObject};

targeted_table!(
    ObjectType::Ven,
    vens,
    ven_targets,
    ven_id,
    get_ven,
    delete_ven,
    set_ven_targets
);

pub fn insert_ven(
    c: &mut AnyConnection,
    w: &ObjectWrite,
    ven_name: &str,
    client_id: &str,
) -> StoreResult<StoredObject> {
    diesel::insert_into(vens::table)
        .values((
            vens::id.eq(&w.id),
            vens::ven_name.eq(ven_name),
            vens::client_id.eq(client_id),
            vens::body.eq(&w.body),
            vens::targets.eq(w.targets_json()?),
            vens::created_date_time.eq(to_naive(w.now)),
            vens::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_ven_targets(c, w, false)?;
    Ok(w.stored(ObjectType::Ven, w.now))
}

pub fn update_ven(
    c: &mut AnyConnection,
    w: &ObjectWrite,
    ven_name: &str,
    client_id: &str,
) -> StoreResult<StoredObject> {
    let old = get_ven(c, &w.id)?;
    diesel::update(vens::table.find(&w.id))
        .set((
            vens::ven_name.eq(ven_name),
            vens::client_id.eq(client_id),
            vens::body.eq(&w.body),
            vens::targets.eq(w.targets_json()?),
            vens::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_ven_targets(c, w, true)?;
    // Resources carry their ven's clientID.
    diesel::update(resources::table.filter(resources::ven_id.eq(&w.id)))
        .set(resources::client_id.eq(client_id))
        .execute(c)?;
    Ok(w.stored(ObjectType::Ven, old.created))
}

/// The clientID a ven belongs to.
pub fn ven_client(c: &mut AnyConnection, id: &str) -> StoreResult<String> {
    Ok(vens::table.find(id).select(vens::client_id).first(c)?)
}

/// The ven named `name`, if any: its id and clientID.
pub fn ven_named(c: &mut AnyConnection, name: &str) -> StoreResult<Option<(String, String)>> {
    Ok(vens::table
        .filter(vens::ven_name.eq(name))
        .select((vens::id, vens::client_id))
        .first(c)
        .optional()?)
}

/// Whether a client other than `client_id` is named `name` (its name is reserved for its own ven).
pub fn name_of_another_client(c: &mut AnyConnection, name: &str, client_id: &str) -> StoreResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        clients::table
            .filter(clients::client_name.eq(name))
            .filter(clients::client_id.ne(client_id)),
    ))
    .get_result(c)?)
}

/// The ven registered for a client, if any.
pub fn ven_id_of_client(c: &mut AnyConnection, client_id: &str) -> StoreResult<Option<String>> {
    Ok(vens::table
        .filter(vens::client_id.eq(client_id))
        .select(vens::id)
        .first(c)
        .optional()?)
}

#[derive(Debug, Clone, Default)]
pub struct VenFilter {
    pub ven_name: Option<String>,
    pub targets: Option<Vec<String>>,
    pub client_id: Option<String>,
}

pub fn list_vens(c: &mut AnyConnection, f: &VenFilter, page: Page) -> StoreResult<Vec<StoredObject>> {
    let mut q = vens::table.into_boxed();
    if let Some(n) = &f.ven_name {
        q = q.filter(vens::ven_name.eq(n.clone()));
    }
    if let Some(ts) = &f.targets {
        q = q.filter(
            vens::id.eq_any(
                ven_targets::table
                    .filter(ven_targets::target.eq_any(ts.clone()))
                    .select(ven_targets::ven_id),
            ),
        );
    }
    if let Some(cid) = &f.client_id {
        q = q.filter(vens::client_id.eq(cid.clone()));
    }
    let rows: Vec<Row> = q
        .order(vens::id)
        .offset(page.skip)
        .limit(page.limit)
        .select((
            vens::id,
            vens::body,
            vens::targets,
            vens::created_date_time,
            vens::modification_date_time,
        ))
        .load(c)?;
    rows.into_iter().map(|r| stored(ObjectType::Ven, r)).collect()
}

/// The targets granted to a client (OpenADR 3.1 Definition, targeting): those of its ven and of the ven's
/// resources. `None` when the client has no ven.
pub fn granted_targets(c: &mut AnyConnection, client_id: &str) -> StoreResult<Option<Vec<String>>> {
    let Some(ven_id) = ven_id_of_client(c, client_id)? else {
        return Ok(None);
    };
    let mut targets: Vec<String> = ven_targets::table
        .filter(ven_targets::ven_id.eq(&ven_id))
        .select(ven_targets::target)
        .load(c)?;
    let from_resources: Vec<String> = resource_targets::table
        .filter(
            resource_targets::resource_id.eq_any(
                resources::table
                    .filter(resources::ven_id.eq(&ven_id))
                    .select(resources::id),
            ),
        )
        .select(resource_targets::target)
        .load(c)?;
    targets.extend(from_resources);
    // A site's ven holds the site's own target: dispatch events are addressed to it.
    let sites_of_ven: Vec<String> = sites::table
        .filter(sites::ven_id.eq(&ven_id))
        .select(sites::id)
        .load(c)?;
    targets.extend(sites_of_ven.iter().map(|id| crate::privacy::site_target(id)));
    targets.sort();
    targets.dedup();
    Ok(Some(targets))
}

/// The clientIDs of every ven (the VENs MQTT publishes to).
pub fn ven_clients(c: &mut AnyConnection) -> StoreResult<Vec<String>> {
    Ok(vens::table.order(vens::client_id).select(vens::client_id).load(c)?)
}

/// For every client whose ven (or one of the ven's resources) holds any of `targets`: those of its
/// granted targets that are in `targets` (notification fan-out: only these decide what it may read of
/// objects with these targets, and which of their targets it is shown).
pub fn granted_targets_among(
    c: &mut AnyConnection,
    targets: &[String],
) -> StoreResult<std::collections::HashMap<String, Vec<String>>> {
    let mut out: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    // Bounded IN lists (SQLite allows at most 32,766 bind values per statement).
    for chunk in targets.chunks(1000) {
        let direct: Vec<(String, String)> = ven_targets::table
            .inner_join(vens::table)
            .filter(ven_targets::target.eq_any(chunk))
            .select((vens::client_id, ven_targets::target))
            .load(c)?;
        let via_resources: Vec<(String, String)> = resource_targets::table
            .inner_join(resources::table.inner_join(vens::table))
            .filter(resource_targets::target.eq_any(chunk))
            .select((vens::client_id, resource_targets::target))
            .load(c)?;
        let site_ids: Vec<&str> = chunk
            .iter()
            .filter_map(|t| t.strip_prefix(crate::privacy::SITE_TARGET_PREFIX))
            .collect();
        let via_sites: Vec<(String, String)> = if site_ids.is_empty() {
            Vec::new()
        } else {
            sites::table
                .inner_join(vens::table)
                .filter(sites::id.eq_any(&site_ids))
                .select((vens::client_id, sites::id))
                .load::<(String, String)>(c)?
                .into_iter()
                .map(|(client, id)| (client, crate::privacy::site_target(&id)))
                .collect()
        };
        for (client, target) in direct.into_iter().chain(via_resources).chain(via_sites) {
            out.entry(client).or_default().push(target);
        }
    }
    for g in out.values_mut() {
        g.sort();
        g.dedup();
    }
    Ok(out)
}
