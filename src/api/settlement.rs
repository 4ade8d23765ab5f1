//! `/ops/meter-data`, `/ops/prices`, settlement rules, `/ops/settlements` and `/ops/statements`: the
//! settlement analyst's API (operators only).

use actix_web::http::header;
use actix_web::web::{Data, Path, Payload};
use actix_web::{HttpRequest, HttpResponse, get, post, put};

use super::extract::{Caller, JsonBody, Params, read_upload};
use super::{created, json, ok};
use crate::error::AppError;
use crate::service::AppState;
use crate::service::settlement::{self, Export, Format, ImportOptions, MeterFormat, Period, Statement};
use crate::wire::query::{ChartQuery, FormatQuery, MeterDaysQuery, MeterImportQuery, StatementQuery};
use crate::wire::rules::Rules;
use crate::wire::settlement::Channel;
use crate::wire::settlement::{
    MeterDay, MeterImport, PriceImport, RulesVersion, SettleRequest, SettlementRun, StatementSummary,
};
use crate::wire::{Name, ObjectId, Problem};

/// The meter-data format: `format=csv|greenbutton`, else the Content-Type.
fn meter_format(q: &MeterImportQuery, req: &HttpRequest) -> Result<MeterFormat, AppError> {
    if let Some(f) = q.format {
        return Ok(f.0);
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
    params(MeterImportQuery),
    request_body(content((String = "text/csv"), (String = "application/atom+xml"))),
    responses((status = 201, body = MeterImport), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem)))]
#[post("/ops/meter-data")]
pub async fn import_meter(
    state: Data<AppState>,
    who: Caller,
    q: Params<MeterImportQuery>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, AppError> {
    let format = meter_format(&q.0, &req)?;
    let site = q.0.site.map(Name::into_string);
    let file_name = q.0.file_name.map(Name::into_string);
    let body = read_upload(&req, payload.into_inner()).await?;
    let (now, by) = (state.clock.now(), who.0.client_id.clone());
    let done = settlement::blocking(&state, move |db| {
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
    params(("siteID" = String, Path), MeterDaysQuery),
    responses((status = 200, body = [MeterDay]), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/sites/{siteID}/meter-data")]
pub async fn meter_days(
    state: Data<AppState>,
    id: Path<String>,
    q: Params<MeterDaysQuery>,
) -> Result<HttpResponse, AppError> {
    let MeterDaysQuery { from, to, channel } = q.0;
    let (from, to) = (from.0, to.0);
    let channel = channel.map_or(Channel::Delivered, |c| c.0);
    let id = id.into_inner();
    Ok(ok(json(
        &settlement::blocking(&state, move |db| settlement::meter_days(db, &id, channel, from, to)).await?,
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
    let now = state.clock.now();
    let done = settlement::blocking(&state, move |db| settlement::import_prices(db, &body[..], now)).await?;
    Ok(created(json(&done)?))
}

/// A program's settlement rules, newest version.
#[utoipa::path(tag = "settlement", params(("programID" = String, Path)),
    responses((status = 200, body = RulesVersion), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/programs/{programID}/settlement-rules")]
pub async fn get_rules(state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    Ok(ok(json(
        &settlement::blocking(&state, move |db| settlement::get_rules(db, &id)).await?,
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
    let v = settlement::blocking(&state, move |db| settlement::put_rules(db, &id, body.0, &by, now)).await?;
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
    let run = settlement::blocking(&state, move |db| {
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
    Ok(ok(json(
        &settlement::blocking(&state, move |db| settlement::get_run(db, &id)).await?,
    )?))
}

/// The statements a run issued (initial statements and true-ups) in one file: JSON array (default), CSV
/// (one header, every statement's rows) or XML (`<statements>`), for billing imports.
#[utoipa::path(tag = "settlement",
    params(("runID" = String, Path), FormatQuery),
    responses((status = 200, body = [Statement], content_type = "application/json"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/settlements/{runID}/statements")]
pub async fn run_statements(
    state: Data<AppState>,
    id: Path<String>,
    q: Params<FormatQuery>,
) -> Result<HttpResponse, AppError> {
    let format = q.0.format();
    let id = id.into_inner();
    Ok(file(
        settlement::blocking(&state, move |db| settlement::export_run(db, &id, format)).await?,
    ))
}

/// An export: JSON inline, CSV and XML as a named attachment.
fn file(e: Export) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    resp.content_type(e.format.content_type());
    if e.format != Format::Json {
        resp.insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.{}\"", e.name, e.format.extension()),
        ));
    }
    resp.body(e.body)
}

/// Statements, newest period first, every version.
#[utoipa::path(tag = "settlement",
    params(StatementQuery),
    responses((status = 200, body = [StatementSummary]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/ops/statements")]
pub async fn list_statements(state: Data<AppState>, q: Params<StatementQuery>) -> Result<HttpResponse, AppError> {
    let q = q.0;
    Ok(ok(json(
        &settlement::blocking(&state, move |db| settlement::list_statements(db, q)).await?,
    )?))
}

/// One statement: JSON by default; `format=csv` (one row per interval, event and total, for billing
/// imports) or `format=xml`.
#[utoipa::path(tag = "settlement",
    params(("statementID" = String, Path), FormatQuery),
    responses((status = 200, body = Statement, content_type = "application/json"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/statements/{statementID}")]
pub async fn get_statement(
    state: Data<AppState>,
    id: Path<String>,
    q: Params<FormatQuery>,
) -> Result<HttpResponse, AppError> {
    let format = q.0.format();
    let id = id.into_inner();
    Ok(file(
        settlement::blocking(&state, move |db| settlement::export_statement(db, &id, format)).await?,
    ))
}

/// A chart of one event of a statement (SVG): baseline, actual and the level committed, per interval.
#[utoipa::path(tag = "settlement",
    params(("statementID" = String, Path), ChartQuery),
    responses((status = 200, body = String, content_type = "image/svg+xml"), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/statements/{statementID}/chart")]
pub async fn statement_chart(
    state: Data<AppState>,
    id: Path<String>,
    q: Params<ChartQuery>,
) -> Result<HttpResponse, AppError> {
    let event = q.0.event_id.map(ObjectId::into_string);
    let id = id.into_inner();
    let svg = settlement::blocking(&state, move |db| settlement::chart(db, &id, event.as_deref())).await?;
    Ok(HttpResponse::Ok().content_type("image/svg+xml").body(svg))
}
