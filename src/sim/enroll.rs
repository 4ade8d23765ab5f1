//! Setting a fleet up through the API, as a utility and its sites would: the program and its standing
//! telemetry event (found or created), then per site its VEN client, ven, site and enrollment.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::client::{Created, Http, Seen, each, name};
use super::model::{self, Behavior};
use super::{SimConfig, SimSite, Stats};
use crate::wire::ops::{IssuedClient, NewVenClient};
use crate::wire::sites::{EnrollmentRequest, SiteKind, SiteRequest};
use crate::wire::{
    EventDescriptorFields, EventRequest, ObjectId, ProgramPayloadDescriptor, ProgramRequest, ReportDescriptor, Text,
    VenRequest, VenVenRequest, WireDateTime, WireDuration,
};

pub(super) fn behavior_of(cfg: &SimConfig, n: usize) -> Behavior {
    let jitter = (model_unit(cfg.seed, n as i64) * 2.0 - 1.0) * cfg.jitter_secs;
    if n < cfg.slow {
        Behavior::Responds {
            delay_secs: (cfg.slow_secs + jitter).max(0.0),
        }
    } else if n < cfg.slow + cfg.unresponsive || model_unit(cfg.seed ^ 0xFA11, n as i64) < cfg.failure_rate {
        Behavior::Unresponsive
    } else {
        Behavior::Responds {
            delay_secs: (cfg.response_secs + jitter).max(0.0),
        }
    }
}

pub(super) fn model_unit(seed: u64, n: i64) -> f64 {
    model::unit(seed ^ 0x5151, n)
}

/// Whether site `n` is an AI data center with miners beside it, and its maximum import (MW).
pub(super) fn ai_site(cfg: &SimConfig, n: usize) -> (bool, f64) {
    let ai = model_unit(cfg.seed ^ 0xA1, n as i64) < cfg.ai_share;
    (ai, cfg.mining_mw * if ai { 1.25 } else { 1.0 })
}

/// A decimal of `digits` places, as the operator would type it.
fn decimal(v: f64, digits: usize) -> anyhow::Result<Decimal> {
    Decimal::from_str(&format!("{v:.digits$}")).map_err(|e| anyhow!("{v}: {e}"))
}

fn object_id(s: &str) -> anyhow::Result<ObjectId> {
    ObjectId::parse(s).map_err(|e| anyhow!(e))
}

/// The program named `program_name`, created when missing (capacity limits in kW).
async fn program(http: &Http, op: &str, program_name: &str) -> anyhow::Result<ObjectId> {
    let mut skip = 0;
    loop {
        let page: Vec<serde_json::Value> = http.get(&format!("/programs?skip={skip}&limit=50"), op).await?;
        let full = page.len() == 50;
        let found = each::<Seen<ProgramRequest>>(page)
            .into_iter()
            .find(|p| p.content.program_name.as_str() == program_name);
        if let Some(p) = found {
            return Ok(p.id);
        }
        if !full {
            break;
        }
        skip += 50;
    }
    let request = ProgramRequest {
        program_name: name(program_name)?,
        interval_period: None,
        program_descriptions: None,
        payload_descriptors: Some(vec![ProgramPayloadDescriptor::Event(EventDescriptorFields {
            payload_type: name("IMPORT_CAPACITY_LIMIT")?,
            units: Some(name("KW")?),
            currency: None,
        })]),
        attributes: None,
        targets: None,
    };
    Ok(http.post::<_, Created>("/programs", op, &request).await?.id)
}

/// Finds or creates the program and its report-only telemetry event; returns (program, event).
pub(super) async fn program_and_telemetry_event(
    http: &Http,
    op: &str,
    program_name: &str,
) -> anyhow::Result<(String, String)> {
    let program = program(http, op, program_name).await?;
    let events: Vec<serde_json::Value> = http.get(&format!("/events?programID={program}&limit=50"), op).await?;
    let existing = each::<Seen<EventRequest>>(events)
        .into_iter()
        .find(|e| e.content.event_name.as_ref().is_some_and(|n| n.as_str() == "telemetry"));
    let event = match existing {
        Some(e) => e.id,
        // A report-only event (3.1): no intervals, it asks every VEN of the program for DEMAND.
        None => {
            let request = EventRequest {
                program_id: program.clone(),
                event_name: Some(Text::parse("telemetry").map_err(|e| anyhow!(e))?),
                duration: None,
                priority: None,
                targets: None,
                report_descriptors: Some(vec![ReportDescriptor::new(
                    name("DEMAND")?,
                    Some(name("DIRECT_READ")?),
                    Some(name("KW")?),
                )]),
                payload_descriptors: None,
                interval_period: None,
                intervals: None,
            };
            http.post::<_, Created>("/events", op, &request).await?.id
        }
    };
    Ok((program.into_string(), event.into_string()))
}

/// Enrolls `cfg.sites` sites, a few at a time (a large fleet should not open thousands of connections
/// at once), showing progress.
pub(super) async fn enroll_fleet(
    http: &Arc<Http>,
    op: &str,
    cfg: &SimConfig,
    program: &str,
    stats: &Stats,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<SimSite>> {
    let mut sites = Vec::with_capacity(cfg.sites);
    for chunk in (0..cfg.sites).collect::<Vec<_>>().chunks(16) {
        let mut joins = Vec::new();
        for &n in chunk {
            let (http, op, cfg, program) = (http.clone(), op.to_owned(), cfg.clone(), program.to_owned());
            joins.push(tokio::spawn(
                async move { enroll(&http, &op, &cfg, &program, n, now).await },
            ));
        }
        for j in joins {
            sites.push(j.await??);
            stats.registered.fetch_add(1, Ordering::Relaxed);
        }
        if cfg.summary_every.is_some() {
            eprint!("\renrolled {}/{} sites", sites.len(), cfg.sites);
        }
    }
    if cfg.summary_every.is_some() {
        eprintln!();
    }
    Ok(sites)
}

/// Enrolls site `n`: its VEN client, ven, site and enrollment.
async fn enroll(
    http: &Http,
    op: &str,
    cfg: &SimConfig,
    program: &str,
    n: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<SimSite> {
    let site_name = format!("{}-{n}", cfg.prefix);
    let issued: IssuedClient = http
        .post(
            "/ops/clients",
            op,
            &NewVenClient {
                name: name(&site_name)?,
            },
        )
        .await
        .context("issuing the site's VEN client")?;
    let ven_token = http.token(&issued.client_id, &issued.client_secret).await?;
    let ven: Created = http
        .post(
            "/vens",
            &ven_token,
            &VenRequest::Ven(VenVenRequest {
                ven_name: name(&site_name)?,
                attributes: None,
            }),
        )
        .await
        .context("registering the ven")?;
    let (ai, max) = ai_site(cfg, n);
    let site = SiteRequest {
        site_name: name(&site_name)?,
        ven_id: ven.id.clone(),
        kind: if ai { SiteKind::AiMining } else { SiteKind::Mining },
        max_import_mw: decimal(max, 3)?,
        meter_id: None,
        location: Some(crate::wire::primitives::Location::parse("simulated").map_err(|e| anyhow!(e))?),
        latitude: None,
        longitude: None,
        time_zone: None,
    };
    let site: Created = http.post("/ops/sites", op, &site).await.context("creating the site")?;
    let price = 50.0 + (model_unit(cfg.seed ^ 0x9E, n as i64) * 100.0).round();
    let enrollment = EnrollmentRequest {
        site_id: site.id.clone(),
        program_id: object_id(program)?,
        shed_mw: decimal(cfg.mining_mw * cfg.shed_share, 3)?,
        load_up_mw: Decimal::ZERO,
        firm_service_level_mw: None,
        notice: None,
        ramp: Some(WireDuration::parse(&format!("PT{}S", cfg.ramp_secs.ceil() as i64)).map_err(|e| anyhow!(e))?),
        max_event_duration: None,
        max_events: None,
        max_events_period: None,
        availability: Vec::new(),
        offer_price: decimal(price, 2)?,
        start: WireDateTime(now - chrono::Duration::days(1)),
        end: None,
    };
    http.post::<_, Created>("/ops/enrollments", op, &enrollment)
        .await
        .context("enrolling the site")?;
    Ok(SimSite {
        name: site_name,
        site_id: site.id.into_string(),
        ven_id: ven.id.into_string(),
        client_id: issued.client_id,
        client_secret: issued.client_secret,
        behavior: behavior_of(cfg, n),
        offer_price: price,
    })
}
