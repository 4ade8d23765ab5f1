-- OpenADR 3.1 objects. Content is the canonical JSON of the validated request (without targets);
-- the columns beside it are what the API filters, orders and enforces uniqueness on.
CREATE TABLE programs (
    id TEXT PRIMARY KEY NOT NULL,
    program_name TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    targets TEXT,
    targeted BOOLEAN NOT NULL DEFAULT FALSE,
    created_date_time TIMESTAMP NOT NULL,
    modification_date_time TIMESTAMP NOT NULL
);
CREATE TABLE program_targets (
    program_id TEXT NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    PRIMARY KEY (program_id, target)
);
CREATE INDEX program_targets_by_target ON program_targets(target, program_id);

CREATE TABLE events (
    id TEXT PRIMARY KEY NOT NULL,
    program_id TEXT NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
    event_name TEXT,
    priority BIGINT,
    body TEXT NOT NULL,
    targets TEXT,
    targeted BOOLEAN NOT NULL DEFAULT FALSE,
    ends_at TIMESTAMP,
    created_date_time TIMESTAMP NOT NULL,
    modification_date_time TIMESTAMP NOT NULL
);
CREATE INDEX events_by_program ON events(program_id, id);
CREATE INDEX events_by_end ON events(ends_at);
CREATE TABLE event_targets (
    event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    PRIMARY KEY (event_id, target)
);
CREATE INDEX event_targets_by_target ON event_targets(target, event_id);

CREATE TABLE reports (
    id TEXT PRIMARY KEY NOT NULL,
    event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    client_name TEXT NOT NULL,
    report_name TEXT,
    body TEXT NOT NULL,
    created_date_time TIMESTAMP NOT NULL,
    modification_date_time TIMESTAMP NOT NULL
);
CREATE INDEX reports_by_event ON reports(event_id, id);
CREATE INDEX reports_by_client ON reports(client_id, id);
CREATE INDEX reports_by_client_name ON reports(client_name, id);

CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    client_name TEXT NOT NULL,
    program_id TEXT REFERENCES programs(id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    created_date_time TIMESTAMP NOT NULL,
    modification_date_time TIMESTAMP NOT NULL
);
CREATE INDEX subscriptions_by_client ON subscriptions(client_id, id);
CREATE INDEX subscriptions_by_program ON subscriptions(program_id, id);
-- the object types named in a subscription's objectOperations (the `objects` filter, notification matching)
CREATE TABLE subscription_objects (
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    object_type TEXT NOT NULL,
    PRIMARY KEY (subscription_id, object_type)
);
CREATE INDEX subscription_objects_by_type ON subscription_objects(object_type, subscription_id);

CREATE TABLE vens (
    id TEXT PRIMARY KEY NOT NULL,
    ven_name TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    targets TEXT,
    created_date_time TIMESTAMP NOT NULL,
    modification_date_time TIMESTAMP NOT NULL
);
CREATE TABLE ven_targets (
    ven_id TEXT NOT NULL REFERENCES vens(id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    PRIMARY KEY (ven_id, target)
);
CREATE INDEX ven_targets_by_target ON ven_targets(target, ven_id);

CREATE TABLE resources (
    id TEXT PRIMARY KEY NOT NULL,
    ven_id TEXT NOT NULL REFERENCES vens(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    body TEXT NOT NULL,
    targets TEXT,
    created_date_time TIMESTAMP NOT NULL,
    modification_date_time TIMESTAMP NOT NULL,
    UNIQUE (ven_id, resource_name)
);
CREATE INDEX resources_by_client ON resources(client_id, id);
CREATE INDEX resources_by_name ON resources(resource_name, id);
CREATE TABLE resource_targets (
    resource_id TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    PRIMARY KEY (resource_id, target)
);
CREATE INDEX resource_targets_by_target ON resource_targets(target, resource_id);

-- OAuth2 clients of the built-in token endpoint. Secrets are 256-bit random strings stored as a keyed hash.
CREATE TABLE clients (
    client_id TEXT PRIMARY KEY NOT NULL,
    client_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('operator', 'ven')),
    secret_hash TEXT NOT NULL,
    created_date_time TIMESTAMP NOT NULL
);

-- Server-wide secrets generated on first start and shared by every instance (JWT signing key, secret pepper).
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    created_date_time TIMESTAMP NOT NULL
);
