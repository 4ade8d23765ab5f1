//! The OpenADR 3.1 object model: request bodies (what clients send) and the pieces they share.
//!
//! Responses are `objectMetadata` + the request content (yaml `allOf`); see [`crate::wire::render`].
//! Optional fields are `Option` and omitted when absent, so a stored object is echoed as it was sent.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::primitives::{Name, ObjectId, Target, Text, Uri, WireDateTime, WireDuration};

// JSON objects only (see crate::wire::strict).
crate::wire::strict::objects_only!(
    IntervalPeriod,
    Point,
    ValuesMap,
    Interval,
    EventPayloadDescriptor,
    ReportPayloadDescriptor,
    ProgramPayloadDescriptor,
    EventDescriptorFields,
    ReportDescriptorFields,
    ReportDescriptor,
    ProgramDescription,
    ProgramRequest,
    EventRequest,
    ReportResource,
    ReportRequest,
    ObjectOperation,
    SubscriptionRequest,
    VenRequest,
    BlVenRequest,
    VenVenRequest,
    ResourceRequest,
    BlResourceRequest,
    VenResourceRequest
);

/// `objectTypes`: the kinds of object addressable through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ObjectType {
    Program,
    Event,
    Report,
    Subscription,
    Ven,
    Resource,
}

impl ObjectType {
    pub const ALL: [ObjectType; 6] = [
        Self::Program,
        Self::Event,
        Self::Report,
        Self::Subscription,
        Self::Ven,
        Self::Resource,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Program => "PROGRAM",
            Self::Event => "EVENT",
            Self::Report => "REPORT",
            Self::Subscription => "SUBSCRIPTION",
            Self::Ven => "VEN",
            Self::Resource => "RESOURCE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Operations a subscription can ask to be notified of (3.1: READ|CREATE|UPDATE|DELETE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operation {
    Read,
    Create,
    Update,
    Delete,
}

/// `intervalPeriod`: start, duration and randomizeStart, all optional in 3.1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct IntervalPeriod {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<WireDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<WireDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub randomize_start: Option<WireDuration>,
}

/// A `point` payload value (e.g. a VoltVar curve point).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// One value of a `valuesMap`: number, integer, string, boolean or point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PayloadValue {
    #[schema(value_type = f64)]
    Number(serde_json::Number),
    String(Text),
    Boolean(bool),
    Point(Point),
}

/// `valuesMap`: a type (enumerated or private string) and its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
pub struct ValuesMap {
    #[serde(rename = "type")]
    pub value_type: Name,
    pub values: Vec<PayloadValue>,
}

/// `interval`: a client-chosen id, an optional period, and payloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct Interval {
    #[serde(deserialize_with = "crate::wire::strict::integer")]
    pub id: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_period: Option<IntervalPeriod>,
    pub payloads: Vec<ValuesMap>,
}

/// The `objectType` discriminator of an event payload descriptor. Defaulted when absent: the 3.1 User
/// Guide's own examples omit it (docs/spec-decisions.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub enum EventPayloadDescriptorType {
    #[default]
    #[serde(rename = "EVENT_PAYLOAD_DESCRIPTOR")]
    EventPayloadDescriptor,
}

/// The `objectType` discriminator of a report payload descriptor (defaulted when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub enum ReportPayloadDescriptorType {
    #[default]
    #[serde(rename = "REPORT_PAYLOAD_DESCRIPTOR")]
    ReportPayloadDescriptor,
}

/// `eventPayloadDescriptor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct EventPayloadDescriptor {
    #[serde(default)]
    pub object_type: EventPayloadDescriptorType,
    pub payload_type: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Text>,
}

/// `reportPayloadDescriptor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct ReportPayloadDescriptor {
    #[serde(default)]
    pub object_type: ReportPayloadDescriptorType,
    pub payload_type: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading_type: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
}

/// `confidence`: an integer 0..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Confidence(u8);

impl utoipa::PartialSchema for Confidence {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::Integer)
            .minimum(Some(0))
            .maximum(Some(100))
            .into()
    }
}
impl ToSchema for Confidence {}

impl<'de> Deserialize<'de> for Confidence {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: i64 = crate::wire::strict::integer(d)?;
        u8::try_from(v)
            .ok()
            .filter(|v| *v <= 100)
            .map(Confidence)
            .ok_or_else(|| serde::de::Error::custom(format!("confidence must be 0..=100, got {v}")))
    }
}

/// A program's payload descriptor: `anyOf` event or report descriptor, told apart by `objectType`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(tag = "objectType")]
pub enum ProgramPayloadDescriptor {
    #[serde(rename = "EVENT_PAYLOAD_DESCRIPTOR")]
    Event(EventDescriptorFields),
    #[serde(rename = "REPORT_PAYLOAD_DESCRIPTOR")]
    Report(ReportDescriptorFields),
}

/// The fields of an event payload descriptor inside a program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct EventDescriptorFields {
    pub payload_type: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Text>,
}

/// The fields of a report payload descriptor inside a program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct ReportDescriptorFields {
    pub payload_type: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading_type: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
}

/// `reportIntervals` (new in 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportIntervals {
    Intervals,
    SubIntervals,
    OpenIntervals,
}

/// `reportDescriptor`: what report an event asks its VENs for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct ReportDescriptor {
    pub payload_type: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading_type: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<Target>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::wire::strict::integer_option")]
    pub start_interval: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::wire::strict::integer_option")]
    pub num_intervals: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub historical: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::wire::strict::integer_option")]
    pub frequency: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::wire::strict::integer_option")]
    pub repeat: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_intervals: Option<ReportIntervals>,
}

impl ReportDescriptor {
    /// A descriptor asking for `payload_type` and nothing more particular (every VEN of the event, its
    /// own intervals).
    pub fn new(payload_type: Name, reading_type: Option<Name>, units: Option<Name>) -> Self {
        Self {
            payload_type,
            reading_type,
            units,
            targets: None,
            aggregate: None,
            start_interval: None,
            num_intervals: None,
            historical: None,
            frequency: None,
            repeat: None,
            report_intervals: None,
        }
    }
}

/// One entry of `programDescriptions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
pub struct ProgramDescription {
    #[serde(rename = "URL")]
    pub url: Uri,
}

/// `programRequest` (POST/PUT /programs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct ProgramRequest {
    pub program_name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_period: Option<IntervalPeriod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_descriptions: Option<Vec<ProgramDescription>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_descriptors: Option<Vec<ProgramPayloadDescriptor>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<ValuesMap>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<Target>>,
}

/// `eventRequest` (POST/PUT /events). Only `programID` is required in 3.1 ("report-only" events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct EventRequest {
    #[serde(rename = "programID")]
    pub program_id: ObjectId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<WireDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "crate::wire::strict::integer_option")]
    pub priority: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<Target>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_descriptors: Option<Vec<ReportDescriptor>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_descriptors: Option<Vec<EventPayloadDescriptor>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_period: Option<IntervalPeriod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervals: Option<Vec<Interval>>,
}

/// One resource's data inside a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct ReportResource {
    pub resource_name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_period: Option<IntervalPeriod>,
    pub intervals: Vec<Interval>,
}

/// `reportRequest` (POST/PUT /reports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct ReportRequest {
    #[serde(rename = "eventID")]
    pub event_id: ObjectId,
    pub client_name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_descriptors: Option<Vec<ReportPayloadDescriptor>>,
    pub resources: Vec<ReportResource>,
}

/// One `objectOperations` entry of a subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct ObjectOperation {
    pub objects: Vec<ObjectType>,
    pub operations: Vec<Operation>,
    pub callback_url: Uri,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Text>,
}

/// `subscriptionRequest` (POST/PUT /subscriptions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionRequest {
    pub client_name: Name,
    #[serde(default, rename = "programID", skip_serializing_if = "Option::is_none")]
    pub program_id: Option<ObjectId>,
    pub object_operations: Vec<ObjectOperation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<Target>>,
}

/// `venRequest`: `oneOf` BlVenRequest | VenVenRequest, told apart by `objectType`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(tag = "objectType")]
pub enum VenRequest {
    #[serde(rename = "BL_VEN_REQUEST")]
    Bl(BlVenRequest),
    #[serde(rename = "VEN_VEN_REQUEST")]
    Ven(VenVenRequest),
}

/// `BlVenRequest`: the business logic names the VEN's client and may set targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct BlVenRequest {
    #[serde(rename = "clientID")]
    pub client_id: Name,
    pub ven_name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<Target>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<ValuesMap>>,
}

/// `VenVenRequest`: a VEN registers itself; its clientID comes from its token, and it may not set targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct VenVenRequest {
    pub ven_name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<ValuesMap>>,
}

/// `resourceRequest`: `oneOf` BlResourceRequest | VenResourceRequest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(tag = "objectType")]
pub enum ResourceRequest {
    #[serde(rename = "BL_RESOURCE_REQUEST")]
    Bl(BlResourceRequest),
    #[serde(rename = "VEN_RESOURCE_REQUEST")]
    Ven(VenResourceRequest),
}

/// `BlResourceRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct BlResourceRequest {
    #[serde(rename = "clientID")]
    pub client_id: Name,
    pub resource_name: Name,
    #[serde(rename = "venID")]
    pub ven_id: ObjectId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<Target>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<ValuesMap>>,
}

/// `VenResourceRequest`. `venID` is required by the spec but tolerated when absent: OpenLEADR's client
/// leaves it out, and the caller's own ven is the only one it may name anyway (docs/spec-decisions.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct VenResourceRequest {
    pub resource_name: Name,
    #[serde(default, rename = "venID", skip_serializing_if = "Option::is_none")]
    pub ven_id: Option<ObjectId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<ValuesMap>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn payload_value() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            any::<i64>().prop_map(serde_json::Value::from),
            (-1e12f64..1e12).prop_map(serde_json::Value::from),
            "[^\\x00]{0,20}".prop_map(serde_json::Value::from),
            any::<bool>().prop_map(serde_json::Value::from),
            ((-1e6f64..1e6), (-1e6f64..1e6)).prop_map(|(x, y)| serde_json::json!({"x": x, "y": y})),
        ]
    }

    proptest! {
        #[test]
        fn values_maps_round_trip_unchanged(t in "[A-Z_]{1,40}", values in proptest::collection::vec(payload_value(), 0..8)) {
            let json = serde_json::json!({"type": t, "values": values});
            let parsed: ValuesMap = serde_json::from_value(json.clone()).unwrap();
            prop_assert_eq!(serde_json::to_value(&parsed).unwrap(), json);
        }
    }

    #[test]
    fn private_payload_types_round_trip() {
        let json = r#"{"programID":"p1","intervals":[{"id":0,"payloads":[{"type":"MY_PRIVATE_TYPE","values":[1,2.5,"x",true,{"x":1.0,"y":2.0}]}]}]}"#;
        let e: EventRequest = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), json);
    }

    #[test]
    fn interval_and_values_map_required_fields() {
        assert!(serde_json::from_str::<Interval>(r#"{"payloads":[]}"#).is_err());
        assert!(serde_json::from_str::<Interval>(r#"{"id":1}"#).is_err());
        assert!(serde_json::from_str::<ValuesMap>(r#"{"values":[1]}"#).is_err());
        assert!(serde_json::from_str::<ValuesMap>(r#"{"type":"PRICE"}"#).is_err());
        assert!(serde_json::from_str::<ValuesMap>(r#"{"type":"PRICE","values":[null]}"#).is_err());
    }

    #[test]
    fn confidence_is_bounded() {
        let ok = r#"{"payloadType":"USAGE","confidence":100}"#;
        assert!(serde_json::from_str::<ReportPayloadDescriptor>(ok).is_ok());
        let bad = r#"{"payloadType":"USAGE","confidence":101}"#;
        assert!(serde_json::from_str::<ReportPayloadDescriptor>(bad).is_err());
    }

    #[test]
    fn descriptor_object_type_defaults_when_absent() {
        let d: EventPayloadDescriptor = serde_json::from_str(r#"{"payloadType":"PRICE"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"objectType":"EVENT_PAYLOAD_DESCRIPTOR","payloadType":"PRICE"}"#
        );
        assert!(serde_json::from_str::<EventPayloadDescriptor>(r#"{"objectType":"X","payloadType":"PRICE"}"#).is_err());
    }
}
