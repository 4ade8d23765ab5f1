-- Dispatch (issue 4): an operator's request for megawatts, the sites chosen for it and their events; and
-- response latency per (event, site), measured from the sites' telemetry.
CREATE TABLE dispatches (
    id TEXT PRIMARY KEY NOT NULL,
    program_id TEXT NOT NULL REFERENCES programs(id),
    direction TEXT NOT NULL CHECK (direction IN ('SHED', 'LOAD_UP')),
    target_mw TEXT NOT NULL,
    planned_mw TEXT NOT NULL,
    shortfall_mw TEXT NOT NULL,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    duration TEXT NOT NULL,
    response_time TEXT,
    payload_type TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('ACTIVE', 'CANCELLED')),
    requested_by TEXT NOT NULL,
    -- JSON array of {siteID, siteName, reason}: enrolled sites not chosen, and why.
    skipped TEXT NOT NULL,
    created_date_time TIMESTAMP NOT NULL,
    modification_date_time TIMESTAMP NOT NULL
);
CREATE INDEX dispatches_by_start ON dispatches(starts_at, id);

CREATE TABLE dispatch_sites (
    dispatch_id TEXT NOT NULL REFERENCES dispatches(id) ON DELETE CASCADE,
    site_id TEXT NOT NULL REFERENCES sites(id),
    enrollment_id TEXT NOT NULL,
    -- No foreign key: cancelling a dispatch before it starts deletes its events.
    event_id TEXT NOT NULL,
    merit_rank INTEGER NOT NULL,
    allocated_mw TEXT NOT NULL,
    reference_mw TEXT NOT NULL,
    level_mw TEXT NOT NULL,
    PRIMARY KEY (dispatch_id, site_id)
);
CREATE INDEX dispatch_sites_by_event ON dispatch_sites(event_id);
CREATE INDEX dispatch_sites_by_enrollment ON dispatch_sites(enrollment_id, dispatch_id);
CREATE INDEX dispatch_sites_by_site ON dispatch_sites(site_id, dispatch_id);

-- First time a VEN was seen to read an event by polling (GET /events): one row per (event, client).
CREATE TABLE event_seen (
    event_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    seen_at TIMESTAMP NOT NULL,
    PRIMARY KEY (event_id, client_id)
);

-- Response latency of one site to one event (flex/latency.rs), recomputed as telemetry arrives.
CREATE TABLE event_latency (
    event_id TEXT NOT NULL,
    site_id TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    committed_mw DOUBLE NOT NULL,
    load_up BOOLEAN NOT NULL,
    event_start TIMESTAMP NOT NULL,
    event_end TIMESTAMP,
    notified_at TIMESTAMP,
    notified_via TEXT,
    acked_at TIMESTAMP,
    baseline_mw DOUBLE,
    t_ack_secs DOUBLE,
    t_start_secs DOUBLE,
    t10_secs DOUBLE,
    t50_secs DOUBLE,
    t90_secs DOUBLE,
    t100_secs DOUBLE,
    ramp_mw_per_min DOUBLE,
    sustain DOUBLE,
    snapback_mw DOUBLE,
    early_mw DOUBLE,
    max_reduction_mw DOUBLE,
    last_load_mw DOUBLE,
    last_load_at TIMESTAMP,
    computed_at TIMESTAMP,
    PRIMARY KEY (event_id, site_id)
);
CREATE INDEX event_latency_by_site ON event_latency(site_id, event_start);
CREATE INDEX event_latency_by_end ON event_latency(event_end);
