//! `/ops/meter-data`, `/ops/prices`, settlement rules, `/ops/settlements` and `/ops/statements`: the
//! settlement analyst's API (operators only).

use actix_web::http::header;
use actix_web::web::{Data, Path, Payload};
use actix_web::{HttpRequest, HttpResponse, get, post, put};
use serde::Serialize;

use super::extract::{Caller, JsonBody, Query, read_upload};
use super::{created, ok};
use crate::error::AppError;
use crate::service::AppState;
use crate::service::settlement::{self, ImportOptions, MeterFormat};
use crate::settle::engine::Period;
use crate::settle::export::{self, Format, Statement};
use crate::settle::meter::Channel;
use crate::settle::rules::Rules;
use crate::store::Db;
use crate::store::settlement::StatementFilter;
use crate::wire::settlement::{
    MeterDay, MeterImport, PriceImport, RulesVersion, SettleRequest, SettlementRun, StatementSummary,
};
use crate::wire::{Name, ObjectId, Problem};

fn json<T: Serialize>(v: &T) -> Result<String, AppError> {
    serde_json::to_string(v).map_err(|e| AppError::Internal(e.to_string()))
}

/// Runs blocking settlement work on the database off the async threads.
async fn on_db<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Db) -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let db = state.db.clone();
    actix_web::web::block(move || f(&db))
        .await
        .map_err(|e| AppError::Internal(format!("settlement task failed: {e}")))?
}

/// The meter-data format: `format=csv|greenbutton`, else the Content-Type.
fn meter_format(q: &Query, req: &HttpRequest) -> Result<MeterFormat, AppError> {
    if let Some(f) = q.one("format") {
        return MeterFormat::parse(f)
            .ok_or_else(|| AppError::BadRequest(format!("format {f:?} is not csv or greenbutton")));
    }
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.contains("xml") {
        Ok(MeterFormat::GreenButton)
    } else if ct.is_empty() || ct.starts_with("text/csv") || ct.starts_with("text/plain") {
        Ok(MeterFormat::Csv)
    } else {
        Err(AppError::UnsupportedMediaType(format!(
            "meter data is text/csv or Green Button XML (application/atom+xml), not {ct}"
        )))
    }
}

/// Imports revenue-meter interval data: CSV (`site_id, meter_id, channel, interval_start_utc,
/// interval_end_utc, kwh, avg_kw, quality, source`) or a Green Button (ESPI) feed for one `site`. All or
/// nothing: a file with a bad row is refused with every problem and its line. A revised interval is a new
/// version of its day, never an overwrite.
#[utoipa::path(tag = "settlement",
    params(("format" = Option<MeterFormat>, Query, description = "csv or greenbutton (default: from Content-Type)"),
           ("site" = Option<Name>, Query, description = "Green Button: the site (id or name) the meter is"),
           ("fileName" = Option<Name>, Query, description = "Kept with the import for the audit trail")),
    request_body(content((String = "text/csv"), (String = "application/atom+xml"))),
    responses((status = 201, body = MeterImport), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem)))]
#[post("/ops/meter-data")]
pub async fn import_meter(
    state: Data<AppState>,
    who: Caller,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, AppError> {
    // Scopes first: a client that may not import is refused before its file is read.
    let q = Query::parse(req.query_string());
    let format = meter_format(&q, &req)?;
    let site = q.name("site")?;
    let file_name = q.name("fileName")?;
    let body = read_upload(&req, payload.into_inner()).await?;
    let (now, by) = (state.clock.now(), who.0.client_id.clone());
    let done = on_db(&state, move |db| {
        let o = ImportOptions {
            format,
            file_name,
            site: site.as_deref(),
            by: &by,
            now,
        };
        settlement::import_meter(db, &body[..], &o, &mut |_| {})
    })
    .await?;
    Ok(created(json(&done)?))
}

/// A site's stored meter data, every version of every day (newest first within a day): what each import
/// changed, and what settlement read.
#[utoipa::path(tag = "settlement",
    params(("siteID" = String, Path), ("from" = NaiveDate, Query, description = "first UTC day, YYYY-MM-DD"),
           ("to" = NaiveDate, Query, description = "last UTC day, included (at most 93 days)"),
           ("channel" = Option<Channel>, Query, description = "delivered (default), received or net")),
    responses((status = 200, body = [MeterDay]), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/sites/{siteID}/meter-data")]
pub async fn meter_days(state: Data<AppState>, id: Path<String>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let q = Query::parse(req.query_string());
    let day = |key: &str| -> Result<chrono::NaiveDate, AppError> {
        let v = q
            .one(key)
            .ok_or_else(|| AppError::BadRequest(format!("{key} (YYYY-MM-DD) is required")))?;
        v.parse()
            .map_err(|_| AppError::BadRequest(format!("{key} {v:?} is not a date (YYYY-MM-DD)")))
    };
    let (from, to) = (day("from")?, day("to")?);
    let channel = settlement::channel(q.one("channel"))?;
    let id = id.into_inner();
    Ok(ok(json(
        &on_db(&state, move |db| settlement::meter_days(db, &id, channel, from, to)).await?,
    )?))
}

/// Imports prices (CSV: `series, interval_start_utc, interval_end_utc, price` per MWh), for programs
/// that pay energy at a series such as an LMP node. A price for an interval already stored replaces it.
#[utoipa::path(tag = "settlement", request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = PriceImport), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 413, body = Problem)))]
#[post("/ops/prices")]
pub async fn import_prices(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, AppError> {
    let body = read_upload(&req, payload.into_inner()).await?;
    let done = on_db(&state, move |db| settlement::import_prices(db, &body[..])).await?;
    Ok(created(json(&done)?))
}

/// A program's settlement rules, newest version.
#[utoipa::path(tag = "settlement", params(("programID" = String, Path)),
    responses((status = 200, body = RulesVersion), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/programs/{programID}/settlement-rules")]
pub async fn get_rules(state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    Ok(ok(json(
        &on_db(&state, move |db| settlement::get_rules(db, &id)).await?,
    )?))
}

/// Sets a program's settlement rules: a new version, every default written out. Statements name the
/// version they were computed by; earlier versions are kept.
#[utoipa::path(tag = "settlement", params(("programID" = String, Path)), request_body = Rules,
    responses((status = 201, body = RulesVersion), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
#[put("/ops/programs/{programID}/settlement-rules")]
pub async fn put_rules(
    state: Data<AppState>,
    who: Caller,
    id: Path<String>,
    body: JsonBody<Rules>,
) -> Result<HttpResponse, AppError> {
    let (now, by) = (state.clock.now(), who.0.client_id.clone());
    let id = id.into_inner();
    let v = on_db(&state, move |db| settlement::put_rules(db, &id, body.0, &by, now)).await?;
    Ok(created(json(&v)?))
}

/// Settles a program for a period (UTC days, both included): a statement per enrolled site. A site
/// whose statement would not change keeps it; one whose inputs changed (revised meter data, new prices
/// or rules) gets the next version, a true-up listing what changed.
#[utoipa::path(tag = "settlement", request_body = SettleRequest,
    responses((status = 201, body = SettlementRun), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/ops/settlements")]
pub async fn settle(
    state: Data<AppState>,
    who: Caller,
    body: JsonBody<SettleRequest>,
) -> Result<HttpResponse, AppError> {
    let (now, by) = (state.clock.now(), who.0.client_id.clone());
    let r = body.0;
    let period = Period { from: r.from, to: r.to };
    let run = on_db(&state, move |db| {
        settlement::settle(db, &r.program_id, period, &by, now, &mut |_, _| {})
    })
    .await?;
    Ok(created(json(&run)?))
}

/// A settlement run and the statements it issued.
#[utoipa::path(tag = "settlement", params(("runID" = String, Path)),
    responses((status = 200, body = SettlementRun), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/settlements/{runID}")]
pub async fn get_run(state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    Ok(ok(json(&on_db(&state, move |db| settlement::get_run(db, &id)).await?)?))
}

/// The statements a run issued (initial statements and true-ups) in one file: JSON array (default), CSV
/// (one header, every statement's rows) or XML (`<statements>`), for billing imports.
#[utoipa::path(tag = "settlement",
    params(("runID" = String, Path), ("format" = Option<Format>, Query, description = "json (default), csv or xml")),
    responses((status = 200, body = [Statement], content_type = "application/json"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/settlements/{runID}/statements")]
pub async fn run_statements(
    state: Data<AppState>,
    id: Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let format = format_param(&Query::parse(req.query_string()))?;
    let id = id.into_inner();
    let name = format!("settlement-{id}");
    let statements = on_db(&state, move |db| settlement::run_statements(db, &id)).await?;
    Ok(file(format, &name, export::render_many(&statements, format)))
}

/// `format=json|csv|xml` (default json).
fn format_param(q: &Query) -> Result<Format, AppError> {
    match q.one("format") {
        None => Ok(Format::Json),
        Some(f) => {
            Format::parse(f).ok_or_else(|| AppError::BadRequest(format!("format {f:?} is not json, csv or xml")))
        }
    }
}

/// An export: JSON inline, CSV and XML as a named attachment.
fn file(format: Format, name: &str, body: String) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    resp.content_type(format.content_type());
    if format != Format::Json {
        resp.insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.{}\"", format.extension()),
        ));
    }
    resp.body(body)
}

/// Statements, newest period first, every version.
#[utoipa::path(tag = "settlement",
    params(("programID" = Option<ObjectId>, Query), ("siteID" = Option<ObjectId>, Query), ("runID" = Option<ObjectId>, Query),
           ("skip" = Option<i32>, Query, minimum = 0), ("limit" = Option<i32>, Query, minimum = 0, maximum = 1000)),
    responses((status = 200, body = [StatementSummary]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/ops/statements")]
pub async fn list_statements(state: Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let q = Query::parse(req.query_string());
    let f = StatementFilter {
        program_id: q.object_id("programID")?,
        site_id: q.object_id("siteID")?,
        run_id: q.object_id("runID")?,
    };
    let page = q.long_page(1000)?;
    Ok(ok(json(
        &on_db(&state, move |db| settlement::list_statements(db, &f, page)).await?,
    )?))
}

/// One statement: JSON by default; `format=csv` (one row per interval, event and total, for billing
/// imports) or `format=xml`.
#[utoipa::path(tag = "settlement",
    params(("statementID" = String, Path), ("format" = Option<Format>, Query, description = "json (default), csv or xml")),
    responses((status = 200, body = Statement, content_type = "application/json"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/statements/{statementID}")]
pub async fn get_statement(
    state: Data<AppState>,
    id: Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let format = format_param(&Query::parse(req.query_string()))?;
    let id = id.into_inner();
    let s = on_db(&state, move |db| settlement::get_statement(db, &id)).await?;
    let name = format!("statement-{}-v{}", s.statement_id, s.version);
    Ok(file(format, &name, export::render(&s, format)))
}

/// A chart of one event of a statement (SVG): baseline, actual and the level committed, per interval.
#[utoipa::path(tag = "settlement",
    params(("statementID" = String, Path), ("eventID" = Option<String>, Query, description = "default: the first event")),
    responses((status = 200, body = String, content_type = "image/svg+xml"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/statements/{statementID}/chart")]
pub async fn statement_chart(
    state: Data<AppState>,
    id: Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let q = Query::parse(req.query_string());
    let event = q.one("eventID").map(str::to_owned);
    let id = id.into_inner();
    let svg = on_db(&state, move |db| settlement::chart(db, &id, event.as_deref())).await?;
    Ok(HttpResponse::Ok().content_type("image/svg+xml").body(svg))
}
