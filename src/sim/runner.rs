//! One simulated site at work: it learns of its events (polling, or pushed by webhook or MQTT), acts on
//! them as its model says (`model.rs`), acknowledges each when it starts acting on it, and reports its
//! DEMAND every few seconds — all with the OpenADR wire types.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use super::client::{Http, Seen, each, name};
use super::model::{Instruction, SiteModel};
use super::push::{Callbacks, listen_mqtt};
use super::{SimConfig, SimSite, Stats};
use crate::clock::SharedClock;
use crate::wire::{
    EventRequest, Interval, IntervalPeriod, ObjectId, ObjectOperation, ObjectType, Operation, PayloadValue,
    ReportPayloadDescriptor, ReportRequest, ReportResource, SubscriptionRequest, Text, Uri, ValuesMap, WireDateTime,
    WireDuration,
};

/// An event as a VEN reads it.
pub(super) type Event = Seen<EventRequest>;

pub(super) struct Runner {
    pub(super) http: Arc<Http>,
    pub(super) site: SimSite,
    pub(super) model: Arc<Mutex<SiteModel>>,
    pub(super) program: String,
    pub(super) telemetry: String,
    pub(super) stats: Arc<Stats>,
    pub(super) clock: SharedClock,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) cfg: SimConfig,
    /// Spreads the sites' reports over the reporting period.
    pub(super) offset: Duration,
    pub(super) callbacks: Callbacks,
}

/// Reads the instructions of an event as the VEN sees it: a dispatch's level, or, from a PRICE event, each
/// interval whose price reaches the site's offer (it then sheds its commitment, down to `shed_level_mw`).
pub(super) fn instructions(e: &Event, seen: DateTime<Utc>, offer: f64, shed_level_mw: f64) -> Vec<Instruction> {
    let Some(start) = (e.content.interval_period.as_ref()).and_then(|p| p.start.as_ref()) else {
        return Vec::new();
    };
    let start = start.0;
    let length = (e.content.interval_period.as_ref())
        .and_then(|p| p.duration.as_ref())
        .and_then(|d| d.to_chrono());
    let mut out = Vec::new();
    for (n, interval) in e.content.intervals.iter().flatten().enumerate() {
        for p in &interval.payloads {
            let v = match p.values.first() {
                Some(PayloadValue::Number(v)) => v.as_f64(),
                _ => None,
            };
            let price = p.value_type.as_str() == "PRICE";
            let (level, load_up) = match (p.value_type.as_str(), v) {
                ("IMPORT_CAPACITY_LIMIT", Some(kw)) => (kw / 1000.0, false),
                ("DISPATCH_SETPOINT", Some(kw)) => (kw / 1000.0, true),
                ("PRICE", Some(price)) if price >= offer => (shed_level_mw, false),
                _ => continue,
            };
            let (from, to) = match (price, length) {
                (true, Some(len)) => (start + len * n as i32, Some(start + len * (n as i32 + 1))),
                _ => (start, length.map(|l| start + l)),
            };
            out.push(Instruction {
                key: format!("{}#{n}", e.id),
                event_id: e.id.to_string(),
                level_mw: level,
                load_up,
                start: from,
                end: to,
                seen,
            });
        }
    }
    out
}

/// What a site reports on: one interval of one resource (`SITE`) with one payload.
fn report(event_id: &str, client_name: &str, interval: Interval, described: bool) -> anyhow::Result<ReportRequest> {
    let descriptor = |payload: &ValuesMap| -> anyhow::Result<ReportPayloadDescriptor> {
        Ok(ReportPayloadDescriptor {
            object_type: Default::default(),
            payload_type: payload.value_type.clone(),
            reading_type: Some(name("DIRECT_READ")?),
            units: Some(name("KW")?),
            accuracy: None,
            confidence: None,
        })
    };
    let payload_descriptors = match (described, interval.payloads.first()) {
        (true, Some(p)) => Some(vec![descriptor(p)?]),
        _ => None,
    };
    Ok(ReportRequest {
        event_id: ObjectId::parse(event_id).map_err(anyhow::Error::msg)?,
        client_name: name(client_name)?,
        report_name: None,
        payload_descriptors,
        resources: vec![ReportResource {
            resource_name: name("SITE")?,
            interval_period: None,
            intervals: vec![interval],
        }],
    })
}

/// The site's DEMAND over the `secs` from `start`, in kW.
fn demand(
    event_id: &str,
    client_name: &str,
    start: DateTime<Utc>,
    secs: u64,
    kw: u64,
) -> anyhow::Result<ReportRequest> {
    let interval = Interval {
        id: 0,
        interval_period: Some(IntervalPeriod {
            start: Some(WireDateTime(start)),
            duration: Some(WireDuration::parse(&format!("PT{secs}S")).map_err(anyhow::Error::msg)?),
            randomize_start: None,
        }),
        payloads: vec![ValuesMap {
            value_type: name("DEMAND")?,
            values: vec![PayloadValue::Number(kw.into())],
        }],
    };
    report(event_id, client_name, interval, true)
}

/// The acknowledgement of an event: the site is running curtailed (an OPERATING_STATE report).
fn acknowledgement(event_id: &str, client_name: &str) -> anyhow::Result<ReportRequest> {
    let interval = Interval {
        id: 0,
        interval_period: None,
        payloads: vec![ValuesMap {
            value_type: name("OPERATING_STATE")?,
            values: vec![PayloadValue::String(
                Text::parse("RUNNING_CURTAILED").map_err(anyhow::Error::msg)?,
            )],
        }],
    };
    report(event_id, client_name, interval, false)
}

impl Runner {
    pub(super) async fn run(self) {
        let mut token = String::new();
        tokio::time::sleep(self.offset).await;
        let mut report = tokio::time::interval(self.cfg.report_every);
        let mut poll = tokio::time::interval(if self.cfg.mqtt || self.cfg.webhook.is_some() {
            self.cfg.poll_every.max(Duration::from_secs(60))
        } else {
            self.cfg.poll_every
        });
        let mut pushed = self.start_push();
        let mut last = (0u64, 0u64);
        while !self.stop.load(Ordering::Acquire) {
            if token.is_empty() {
                match self.http.token(&self.site.client_id, &self.site.client_secret).await {
                    Ok(t) => token = t,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            tokio::select! {
                Some(event) = pushed.recv() => self.ingest(vec![event], &token).await,
                _ = poll.tick() => {
                    if let Err(Unauthorized) = self.poll(&token).await { token.clear(); }
                }
                _ = report.tick() => {
                    if let Err(Unauthorized) = self.report(&token, &mut last).await { token.clear(); }
                }
            }
        }
    }

    /// Where pushed events arrive: the site's MQTT listener, or its webhook callback (subscribed to
    /// every event of the program this VEN may read, created or changed). Polling only: never.
    fn start_push(&self) -> tokio::sync::mpsc::UnboundedReceiver<Event> {
        let (pushed_tx, pushed) = tokio::sync::mpsc::unbounded_channel::<Event>();
        if self.cfg.mqtt {
            tokio::spawn(listen_mqtt(
                self.http.clone(),
                self.site.clone(),
                self.stop.clone(),
                pushed_tx,
            ));
        } else if let Some(w) = &self.cfg.webhook {
            self.callbacks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(self.site.client_id.clone(), pushed_tx);
            let (http, site, program) = (self.http.clone(), self.site.clone(), self.program.clone());
            let url = format!("{}/sim/{}", w.url.trim_end_matches('/'), site.client_id);
            tokio::spawn(async move {
                let subscribed = async {
                    let body = SubscriptionRequest {
                        client_name: name(&site.name)?,
                        program_id: Some(ObjectId::parse(&program).map_err(anyhow::Error::msg)?),
                        object_operations: vec![ObjectOperation {
                            objects: vec![ObjectType::Event],
                            operations: vec![Operation::Create, Operation::Update],
                            callback_url: Uri::parse(url).map_err(anyhow::Error::msg)?,
                            bearer_token: None,
                        }],
                        targets: None,
                    };
                    let token = http.token(&site.client_id, &site.client_secret).await?;
                    http.post::<_, serde_json::Value>("/subscriptions", &token, &body).await
                };
                if let Err(e) = subscribed.await {
                    tracing::warn!(site = %site.name, error = %e, "webhook subscription refused; the site polls once a minute");
                }
            });
        }
        pushed
    }

    /// Reports the site's load now: on the event it is following, or, when it follows none (or ignores
    /// events: its controller is down, its meter gateway is not), on the standing telemetry event.
    /// `last` is the (load, free load) in kW this site last added to the fleet's totals.
    async fn report(&self, token: &str, last: &mut (u64, u64)) -> Result<(), Unauthorized> {
        let now = self.clock.now();
        let (load, free, event) = {
            let m = self.model.lock().await;
            let active = m
                .instructions
                .iter()
                .rev()
                .filter(|i| m.reacts_at(i).is_some_and(|r| r <= now))
                .find(|i| i.start <= now && i.end.is_none_or(|e| now < e));
            let mut free_model = m.clone();
            free_model.instructions.clear();
            (
                m.load_at(now),
                free_model.load_at(now),
                active.map(|i| i.event_id.clone()),
            )
        };
        let load_kw = (load * 1000.0).round() as u64;
        let free_kw = (free * 1000.0).round() as u64;
        self.stats.load_kw.fetch_add(load_kw, Ordering::Relaxed);
        self.stats.load_kw.fetch_sub(last.0, Ordering::Relaxed);
        self.stats.free_kw.fetch_add(free_kw, Ordering::Relaxed);
        self.stats.free_kw.fetch_sub(last.1, Ordering::Relaxed);
        *last = (load_kw, free_kw);
        let event = event.unwrap_or_else(|| self.telemetry.clone());
        let secs = self.cfg.report_every.as_secs().max(1);
        let sent = match demand(&event, &self.site.name, now, secs, load_kw) {
            Ok(body) => {
                self.http
                    .send(reqwest::Method::POST, "/reports", token, Some(&body))
                    .await
            }
            Err(e) => Err(e),
        };
        let counter = match sent {
            Ok((201, _)) => &self.stats.reports_ok,
            _ => &self.stats.reports_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match sent {
            Ok((401, _)) => Err(Unauthorized),
            _ => Ok(()),
        }
    }

    /// Reads the site's events; new instructions enter the model, and the site acknowledges each one when
    /// it starts acting on it (an OPERATING_STATE report; unresponsive sites never do).
    async fn poll(&self, token: &str) -> Result<(), Unauthorized> {
        self.stats.polls.fetch_add(1, Ordering::Relaxed);
        let path = format!("/events?programID={}&limit=50", self.program);
        let events = match self.http.send(reqwest::Method::GET, &path, token, None::<&()>).await {
            Ok((200, text)) => serde_json::from_str(&text).map(each::<Event>).unwrap_or_default(),
            Ok((401, _)) => return Err(Unauthorized),
            _ => return Ok(()),
        };
        self.ingest(events, token).await;
        Ok(())
    }

    /// Takes in events (a polled list, or one pushed).
    async fn ingest(&self, events: Vec<Event>, token: &str) {
        let now = self.clock.now();
        let mut fresh = Vec::new();
        {
            let mut m = self.model.lock().await;
            let shed_level = m.mining_mw * (1.0 - self.cfg.shed_share);
            for e in &events {
                let mut new_event = false;
                for i in instructions(e, now, self.site.offer_price, shed_level) {
                    if let Some(known) = m.instructions.iter_mut().find(|k| k.key == i.key) {
                        // An update (a cancellation shortens the event): keep when it was first seen.
                        known.end = i.end;
                        known.level_mw = i.level_mw;
                        continue;
                    }
                    if !new_event && !m.instructions.iter().any(|k| k.event_id == i.event_id) {
                        new_event = true;
                        self.stats.events_seen.fetch_add(1, Ordering::Relaxed);
                        if let Some(at) = m.reacts_at(&i) {
                            fresh.push((i.event_id.clone(), at.max(now)));
                        }
                    }
                    m.instructions.push(i);
                }
            }
        }
        for (event, at) in fresh {
            let (http, site, stats, clock) = (
                self.http.clone(),
                self.site.clone(),
                self.stats.clone(),
                self.clock.clone(),
            );
            let token = token.to_owned();
            tokio::spawn(async move {
                let wait = (at - clock.now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                let Ok(ack) = acknowledgement(&event, &site.name) else {
                    return;
                };
                if let Ok((201, _)) = http.send(reqwest::Method::POST, "/reports", &token, Some(&ack)).await {
                    stats.acks.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }
}

struct Unauthorized;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn event(v: serde_json::Value) -> Event {
        serde_json::from_value(v).expect("an event as the VTN sends it")
    }

    #[test]
    fn a_site_follows_the_price_intervals_that_reach_its_offer() {
        let seen = Utc.with_ymd_and_hms(2027, 7, 1, 15, 0, 0).unwrap();
        let e = event(
            json!({"id": "p1", "programID": "prog", "intervalPeriod": {"start": "2027-07-01T16:00:00Z", "duration": "PT15M"},
            "intervals": [
                {"id": 0, "payloads": [{"type": "PRICE", "values": [45.1]}]},
                {"id": 1, "payloads": [{"type": "PRICE", "values": [950]}]},
                {"id": 2, "payloads": [{"type": "PRICE", "values": [1200]}]}
            ]}),
        );
        let got = instructions(&e, seen, 900.0, 8.0);
        let spans: Vec<(String, DateTime<Utc>)> = got.iter().map(|i| (i.key.clone(), i.start)).collect();
        assert_eq!(
            spans,
            vec![
                ("p1#1".into(), Utc.with_ymd_and_hms(2027, 7, 1, 16, 15, 0).unwrap()),
                ("p1#2".into(), Utc.with_ymd_and_hms(2027, 7, 1, 16, 30, 0).unwrap()),
            ]
        );
        assert!(
            got.iter()
                .all(|i| i.level_mw == 8.0 && i.event_id == "p1" && !i.load_up)
        );
        assert_eq!(got[1].end, Some(Utc.with_ymd_and_hms(2027, 7, 1, 16, 45, 0).unwrap()));
    }

    #[test]
    fn a_dispatch_event_is_one_instruction_at_its_level() {
        let seen = Utc.with_ymd_and_hms(2027, 7, 1, 15, 0, 0).unwrap();
        let e = event(
            json!({"id": "d1", "programID": "prog", "intervalPeriod": {"start": "2027-07-01T15:00:00Z", "duration": "PT1H"},
            "intervals": [{"id": 0, "payloads": [
                {"type": "IMPORT_CAPACITY_LIMIT", "values": [8000]}, {"type": "SIMPLE", "values": [2]}]}]}),
        );
        let got = instructions(&e, seen, 900.0, 1.0);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].level_mw, 8.0);
        assert_eq!(got[0].end, Some(Utc.with_ymd_and_hms(2027, 7, 1, 16, 0, 0).unwrap()));
    }
}
