//! The OpenADR events a dispatch or a price signal sends, built from typed values.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use crate::error::AppError;
use crate::privacy::site_target;
use crate::service::AppState;
use crate::wire::sites::{DispatchDirection, PriceSignalRequest};
use crate::wire::{
    EventPayloadDescriptor, EventRequest, Interval, IntervalPeriod, Name, ObjectId, PayloadValue, ReportDescriptor,
    Text, ValuesMap, WireDateTime, WireDuration, format_time,
};

/// What one site's event says: its new level (KW, as the specification's examples use) and a SIMPLE
/// level, from `start` for `duration`; it asks the VEN to report DEMAND and its operating state. An error
/// here is Sluice's own (every part comes from validated values): the caller answers 500.
#[allow(clippy::too_many_arguments)]
pub(super) fn event_request(
    program_id: &ObjectId,
    dispatch_id: &str,
    site_id: &str,
    site_name: &str,
    payload_type: &Name,
    direction: DispatchDirection,
    level_mw: Decimal,
    start: DateTime<Utc>,
    duration: &WireDuration,
    priority: Option<u32>,
) -> Result<EventRequest, String> {
    let kw = number(level_mw * Decimal::ONE_THOUSAND)?;
    let simple = match direction {
        DispatchDirection::Shed => 2,
        DispatchDirection::LoadUp => 0,
    };
    let short_id = &dispatch_id[dispatch_id.len().saturating_sub(8)..];
    Ok(EventRequest {
        program_id: program_id.clone(),
        event_name: Some(Text::parse(format!("dispatch {short_id} {site_name}"))?),
        duration: None,
        priority,
        targets: Some(vec![Name::parse(site_target(site_id))?]),
        report_descriptors: Some(vec![
            ReportDescriptor::new(
                Name::parse("DEMAND")?,
                Some(Name::parse("DIRECT_READ")?),
                Some(Name::parse("KW")?),
            ),
            ReportDescriptor::new(Name::parse("OPERATING_STATE")?, None, None),
        ]),
        payload_descriptors: Some(vec![
            payload_descriptor(payload_type.clone(), Some(Name::parse("KW")?), None),
            payload_descriptor(Name::parse("SIMPLE")?, None, None),
        ]),
        interval_period: Some(IntervalPeriod {
            start: Some(WireDateTime(start)),
            duration: Some(duration.clone()),
            randomize_start: None,
        }),
        intervals: Some(vec![Interval {
            id: 0,
            interval_period: None,
            payloads: vec![
                ValuesMap {
                    value_type: payload_type.clone(),
                    values: vec![PayloadValue::Number(kw)],
                },
                ValuesMap {
                    value_type: Name::parse("SIMPLE")?,
                    values: vec![PayloadValue::Number(simple.into())],
                },
            ],
        }]),
    })
}

/// An exact decimal as a JSON number (`120.5`, not `120.50`).
fn number(d: Decimal) -> Result<serde_json::Number, String> {
    d.normalize()
        .to_string()
        .parse()
        .map_err(|e| format!("{d} as a JSON number: {e}"))
}

fn payload_descriptor(payload_type: Name, units: Option<Name>, currency: Option<Text>) -> EventPayloadDescriptor {
    EventPayloadDescriptor {
        object_type: Default::default(),
        payload_type,
        units,
        currency,
    }
}

/// `POST /ops/price-signals`: one PRICE event (currency per MWh, one interval per price) to the program.
/// Enrolled sites it reaches are tracked for response latency like any event sent to them.
pub async fn price_signal(state: &AppState, req: PriceSignalRequest) -> Result<crate::wire::StoredObject, AppError> {
    let now = state.clock.now();
    let mut errs = Vec::new();
    let start = crate::wire::sites::start_time(req.start.as_deref(), now).unwrap_or_else(|e| {
        errs.push(e);
        now
    });
    if req.prices.is_empty() || req.prices.len() > 288 {
        errs.push("prices holds 1..=288 values, one per interval".into());
    }
    if req.interval_duration.to_chrono().is_none_or(|d| d <= Duration::zero()) {
        errs.push("intervalDuration must be positive and finite".into());
    }
    if !errs.is_empty() {
        return Err(AppError::BadRequest(errs.join("; ")));
    }
    let internal = |e: String| AppError::Internal(format!("price event: {e}"));
    let price = Name::parse("PRICE").map_err(internal)?;
    let intervals = req
        .prices
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Ok(Interval {
                id: i32::try_from(i).map_err(|e| e.to_string())?,
                interval_period: None,
                payloads: vec![ValuesMap {
                    value_type: price.clone(),
                    values: vec![PayloadValue::Number(number(*p)?)],
                }],
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(internal)?;
    let ev = EventRequest {
        program_id: req.program_id,
        event_name: Some(Text::parse(format!("price signal {}", format_time(&start))).map_err(internal)?),
        duration: None,
        priority: None,
        targets: req.targets,
        report_descriptors: None,
        payload_descriptors: Some(vec![payload_descriptor(
            price.clone(),
            Some(Name::parse("MWH").map_err(internal)?),
            Some(Text::parse(req.currency.as_str()).map_err(internal)?),
        )]),
        interval_period: Some(IntervalPeriod {
            start: Some(WireDateTime(start)),
            duration: Some(req.interval_duration),
            randomize_start: None,
        }),
        intervals: Some(intervals),
    };
    crate::service::events::create(state, ev).await
}
