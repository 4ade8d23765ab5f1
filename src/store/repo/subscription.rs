//! Subscriptions: rows, the object types each names, and the per-client count.

use diesel::prelude::*;

use super::{ObjectWrite, RowNoTargets, stored_nt, to_naive};
use crate::store::conn::AnyConnection;
use crate::store::dialect::insert_many;
use crate::store::error::StoreResult;
use crate::store::schema::*;
use crate::wire::{ObjectType, Page, StoredObject};

plain_table!(
    ObjectType::Subscription,
    subscriptions,
    get_subscription,
    delete_subscription
);

#[derive(Debug, Clone)]
pub struct SubscriptionColumns {
    pub client_id: String,
    /// The subscriber is the business logic (kept from creation; an edit by the business logic of a VEN's
    /// subscription does not change whose privacy applies).
    pub business_logic: bool,
    pub client_name: String,
    pub program_id: Option<String>,
    pub objects: Vec<ObjectType>,
}

fn set_subscription_objects(c: &mut AnyConnection, id: &str, objects: &[ObjectType], replace: bool) -> StoreResult<()> {
    if replace {
        diesel::delete(subscription_objects::table.filter(subscription_objects::subscription_id.eq(id))).execute(c)?;
    }
    let mut names: Vec<&str> = objects.iter().map(|o| o.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let rows: Vec<_> = names
        .into_iter()
        .map(|o| {
            (
                subscription_objects::subscription_id.eq(id.to_owned()),
                subscription_objects::object_type.eq(o),
            )
        })
        .collect();
    if !rows.is_empty() {
        insert_many!(c, subscription_objects::table, rows)?;
    }
    Ok(())
}

pub fn insert_subscription(
    c: &mut AnyConnection,
    w: &ObjectWrite,
    s: &SubscriptionColumns,
) -> StoreResult<StoredObject> {
    // Changes already made (pending fan-out or not) are not this subscription's to hear of.
    let from_seq: Option<i64> = changes::table.select(diesel::dsl::max(changes::seq)).first(c)?;
    diesel::insert_into(subscriptions::table)
        .values((
            subscriptions::id.eq(&w.id),
            subscriptions::client_id.eq(&s.client_id),
            subscriptions::client_name.eq(&s.client_name),
            subscriptions::program_id.eq(&s.program_id),
            subscriptions::body.eq(&w.body),
            subscriptions::created_date_time.eq(to_naive(w.now)),
            subscriptions::modification_date_time.eq(to_naive(w.now)),
            subscriptions::business_logic.eq(s.business_logic),
            subscriptions::from_seq.eq(from_seq.unwrap_or(0)),
        ))
        .execute(c)?;
    set_subscription_objects(c, &w.id, &s.objects, false)?;
    Ok(w.stored(ObjectType::Subscription, w.now))
}

pub fn update_subscription(
    c: &mut AnyConnection,
    w: &ObjectWrite,
    s: &SubscriptionColumns,
) -> StoreResult<StoredObject> {
    let old = get_subscription(c, &w.id)?;
    diesel::update(subscriptions::table.find(&w.id))
        .set((
            subscriptions::client_name.eq(&s.client_name),
            subscriptions::program_id.eq(&s.program_id),
            subscriptions::body.eq(&w.body),
            subscriptions::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_subscription_objects(c, &w.id, &s.objects, true)?;
    Ok(w.stored(ObjectType::Subscription, old.created))
}

pub fn subscription_client(c: &mut AnyConnection, id: &str) -> StoreResult<String> {
    Ok(subscriptions::table
        .find(id)
        .select(subscriptions::client_id)
        .first(c)?)
}

#[derive(Debug, Clone, Default)]
pub struct SubscriptionFilter {
    pub program_id: Option<String>,
    pub client_name: Option<String>,
    pub objects: Vec<ObjectType>,
    pub client_id: Option<String>,
}

/// How many subscriptions a client holds.
pub fn count_subscriptions(c: &mut AnyConnection, client_id: &str) -> StoreResult<i64> {
    Ok(subscriptions::table
        .filter(subscriptions::client_id.eq(client_id))
        .count()
        .get_result(c)?)
}

pub fn list_subscriptions(c: &mut AnyConnection, f: &SubscriptionFilter, page: Page) -> StoreResult<Vec<StoredObject>> {
    let mut q = subscriptions::table.into_boxed();
    if let Some(p) = &f.program_id {
        q = q.filter(subscriptions::program_id.eq(p.clone()));
    }
    if let Some(n) = &f.client_name {
        q = q.filter(subscriptions::client_name.eq(n.clone()));
    }
    if !f.objects.is_empty() {
        let names: Vec<&'static str> = f.objects.iter().map(|o| o.as_str()).collect();
        q = q.filter(
            subscriptions::id.eq_any(
                subscription_objects::table
                    .filter(subscription_objects::object_type.eq_any(names))
                    .select(subscription_objects::subscription_id),
            ),
        );
    }
    if let Some(cid) = &f.client_id {
        q = q.filter(subscriptions::client_id.eq(cid.clone()));
    }
    let rows: Vec<RowNoTargets> = q
        .order(subscriptions::id)
        .offset(page.skip)
        .limit(page.limit)
        .select((
            subscriptions::id,
            subscriptions::body,
            subscriptions::created_date_time,
            subscriptions::modification_date_time,
        ))
        .load(c)?;
    Ok(rows
        .into_iter()
        .map(|r| stored_nt(ObjectType::Subscription, r))
        .collect())
}
