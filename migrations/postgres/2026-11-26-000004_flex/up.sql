-- Flexible-load sites (issue 4): a site is a ven plus what the operator knows of it; an enrollment commits
-- some of its megawatts to a program. Exact quantities (MW, prices) are decimal strings: one rule for both
-- databases, and no binary floating point between the operator's number and settlement.
CREATE TABLE sites (
    id TEXT PRIMARY KEY NOT NULL,
    site_name TEXT NOT NULL UNIQUE,
    -- A ven with a site cannot be deleted: its telemetry and enrollments are settlement evidence.
    ven_id TEXT NOT NULL UNIQUE REFERENCES vens(id),
    kind TEXT NOT NULL CHECK (kind IN ('MINING', 'AI_MINING', 'OTHER')),
    max_import_mw TEXT NOT NULL,
    meter_id TEXT,
    location TEXT,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    time_zone TEXT NOT NULL,
    created_date_time TIMESTAMP NOT NULL,
    modification_date_time TIMESTAMP NOT NULL
);

CREATE TABLE enrollments (
    id TEXT PRIMARY KEY NOT NULL,
    site_id TEXT NOT NULL REFERENCES sites(id),
    program_id TEXT NOT NULL REFERENCES programs(id),
    shed_mw TEXT NOT NULL,
    load_up_mw TEXT NOT NULL,
    firm_service_level_mw TEXT,
    notice TEXT NOT NULL,
    ramp TEXT NOT NULL,
    max_event_duration TEXT,
    max_events INTEGER,
    max_events_period TEXT,
    -- JSON array of weekly windows in the site's time zone; empty means always available.
    availability TEXT NOT NULL,
    offer_price TEXT NOT NULL,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP,
    created_date_time TIMESTAMP NOT NULL,
    modification_date_time TIMESTAMP NOT NULL
);
CREATE INDEX enrollments_by_site ON enrollments(site_id, id);
CREATE INDEX enrollments_by_program ON enrollments(program_id, id);

-- Per-site time series parsed from VEN reports as they arrive. Power in MW, energy in MWh; states and
-- levels as text. Kept when the report is deleted (evidence); replaced when the report is updated.
CREATE TABLE telemetry (
    seq BIGSERIAL PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    report_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    payload_type TEXT NOT NULL,
    reading_type TEXT,
    start_at TIMESTAMP NOT NULL,
    end_at TIMESTAMP,
    -- start_at is the server's receipt time: the report gave no interval start.
    server_timed BOOLEAN NOT NULL,
    value DOUBLE PRECISION,
    unit TEXT,
    state TEXT,
    quality TEXT,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX telemetry_by_site ON telemetry(site_id, payload_type, start_at);
CREATE INDEX telemetry_by_event ON telemetry(event_id, site_id, start_at);
CREATE INDEX telemetry_by_report ON telemetry(report_id);

-- Reports from sites with payloads that could not be read as telemetry: counted and explained, never
-- silently dropped (the report itself is stored as sent).
CREATE TABLE report_rejects (
    report_id TEXT PRIMARY KEY NOT NULL,
    site_id TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    skipped INTEGER NOT NULL,
    problems TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX report_rejects_by_site ON report_rejects(site_id, received_at);
