-- Settlement (issue 5). Meter data and statements are versioned, never edited in place: a revision is a
-- new row. Quantities and money are decimal strings, as in the flexible-load tables.

-- Every import, for the audit trail: which file changed which blocks.
CREATE TABLE meter_imports (
    id TEXT PRIMARY KEY NOT NULL,
    format TEXT NOT NULL CHECK (format IN ('csv', 'greenbutton')),
    file_name TEXT,
    readings BIGINT NOT NULL,
    new_intervals BIGINT NOT NULL,
    revised_intervals BIGINT NOT NULL,
    unchanged_intervals BIGINT NOT NULL,
    versions_written BIGINT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at TIMESTAMP NOT NULL
);

-- One UTC day of one site's series (channel, source) at one interval length: kWh per slot, comma
-- separated (empty where there is no value), and one quality code per slot (A, E, M; '.' for none).
CREATE TABLE meter_days (
    site_id TEXT NOT NULL REFERENCES sites(id),
    channel TEXT NOT NULL CHECK (channel IN ('delivered', 'received', 'net')),
    source TEXT NOT NULL CHECK (source IN ('revenue', 'telemetry')),
    day TEXT NOT NULL,
    version INTEGER NOT NULL,
    interval_secs INTEGER NOT NULL,
    meter_id TEXT,
    kwh TEXT NOT NULL,
    quality TEXT NOT NULL,
    import_id TEXT NOT NULL REFERENCES meter_imports(id),
    imported_at TIMESTAMP NOT NULL,
    PRIMARY KEY (site_id, channel, source, day, version)
);

-- Price series (an LMP node, a tariff): one price per interval, replaced when re-imported.
CREATE TABLE price_points (
    series TEXT NOT NULL,
    start_at TIMESTAMP NOT NULL,
    end_at TIMESTAMP NOT NULL,
    price TEXT NOT NULL,
    PRIMARY KEY (series, start_at)
);

-- A program's settlement rules: every version kept, statements name the one they used.
CREATE TABLE settlement_rules (
    program_id TEXT NOT NULL REFERENCES programs(id),
    version INTEGER NOT NULL,
    rules TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_date_time TIMESTAMP NOT NULL,
    PRIMARY KEY (program_id, version)
);

-- A settlement run: one program, one period, the statements it issued.
CREATE TABLE settlement_runs (
    id TEXT PRIMARY KEY NOT NULL,
    program_id TEXT NOT NULL REFERENCES programs(id),
    period_from TEXT NOT NULL,
    period_to TEXT NOT NULL,
    rule_version INTEGER NOT NULL,
    sites INTEGER NOT NULL,
    issued INTEGER NOT NULL,
    unchanged INTEGER NOT NULL,
    total TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    created_date_time TIMESTAMP NOT NULL
);
CREATE INDEX settlement_runs_by_program ON settlement_runs(program_id, created_date_time, id);

-- Statements: the body is the statement as issued (JSON), immutable; a re-settlement that changes
-- anything is the next version of the same (program, site, period).
CREATE TABLE statements (
    id TEXT PRIMARY KEY NOT NULL,
    run_id TEXT NOT NULL REFERENCES settlement_runs(id),
    program_id TEXT NOT NULL REFERENCES programs(id),
    site_id TEXT NOT NULL REFERENCES sites(id),
    period_from TEXT NOT NULL,
    period_to TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('INITIAL', 'TRUE_UP')),
    supersedes TEXT,
    rule_version INTEGER NOT NULL,
    total TEXT NOT NULL,
    body TEXT NOT NULL,
    created_date_time TIMESTAMP NOT NULL,
    UNIQUE (program_id, site_id, period_from, period_to, version)
);
CREATE INDEX statements_by_run ON statements(run_id, site_id);
CREATE INDEX statements_by_site ON statements(site_id, period_from, id);
