//! Response schemas for the OpenAPI document. Responses are written straight from stored JSON (see
//! `wire::render`); these types only describe them: `objectMetadata` + the request content (yaml `allOf`).

#![allow(dead_code)]

use utoipa::ToSchema;

use crate::wire::{
    BlResourceRequest, BlVenRequest, Name, ObjectId, ObjectType, ProgramRequest, ReportRequest, SubscriptionRequest,
    WireDateTime,
};

/// `objectMetadata`: set by the VTN on every object.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMetadata {
    id: ObjectId,
    created_date_time: WireDateTime,
    modification_date_time: WireDateTime,
    object_type: ObjectType,
}

/// `program`.
#[derive(ToSchema)]
pub struct Program {
    #[serde(flatten)]
    meta: ObjectMetadata,
    #[serde(flatten)]
    content: ProgramRequest,
}

/// `event`.
#[derive(ToSchema)]
pub struct Event {
    #[serde(flatten)]
    meta: ObjectMetadata,
    #[serde(flatten)]
    content: crate::wire::EventRequest,
}

/// `report`: the request plus the VTN-set clientID.
#[derive(ToSchema)]
pub struct Report {
    #[serde(flatten)]
    meta: ObjectMetadata,
    #[serde(flatten)]
    content: ReportRequest,
    #[serde(rename = "clientID")]
    client_id: Name,
}

/// `subscription`: the request plus the VTN-set clientID.
#[derive(ToSchema)]
pub struct Subscription {
    #[serde(flatten)]
    meta: ObjectMetadata,
    #[serde(flatten)]
    content: SubscriptionRequest,
    #[serde(rename = "clientID")]
    client_id: Name,
}

/// `ven`.
#[derive(ToSchema)]
pub struct Ven {
    #[serde(flatten)]
    meta: ObjectMetadata,
    #[serde(flatten)]
    content: BlVenRequest,
}

/// `resource`.
#[derive(ToSchema)]
pub struct Resource {
    #[serde(flatten)]
    meta: ObjectMetadata,
    #[serde(flatten)]
    content: BlResourceRequest,
}

/// `GET /health`.
#[derive(ToSchema, serde::Serialize)]
pub struct Health {
    pub status: &'static str,
    pub database: &'static str,
}
