-- The hash chain moves out of the entries into seals: one row per sealer pass lists the entries it
-- chained, in chain order, with their chain hashes. Writers then only append entries (no sealed marker
-- to update, no index on it), and the sealer writes one row per pass instead of updating every entry.
-- SQLite has one writer, so entries commit in id order: the entries after the last sealed id are the
-- unsealed ones. Existing entries lose their old per-entry seal and are chained again by the next pass.
CREATE TABLE audit_log_new (
    id INTEGER PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    source TEXT,
    action TEXT NOT NULL,
    object_type TEXT,
    object_id TEXT,
    before_digest TEXT,
    after_digest TEXT,
    changed_fields TEXT,
    request_id TEXT
);
INSERT INTO audit_log_new
    SELECT id, at, actor, actor_role, source, action, object_type, object_id, before_digest, after_digest,
           changed_fields, request_id
    FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_new RENAME TO audit_log;
CREATE INDEX audit_log_by_object ON audit_log(object_type, object_id, id);
CREATE INDEX audit_log_by_actor ON audit_log(actor, id);
CREATE INDEX audit_log_by_time ON audit_log(at, id);

CREATE TABLE audit_seals (
    seal BIGINT PRIMARY KEY NOT NULL,
    -- The chain position of the first entry listed.
    first_position BIGINT NOT NULL,
    -- The highest entry id listed.
    last_id BIGINT NOT NULL,
    -- The ids of the entries, in chain order, as runs: "7-9,12,10-11".
    ids TEXT NOT NULL,
    -- Per entry, in the same order, the first 16 hex digits of its chain hash (they name the first entry
    -- that does not match; the full hash below detects any change).
    hashes TEXT NOT NULL,
    -- The chain hash after the last entry listed: the head when this seal is the newest.
    hash TEXT NOT NULL,
    sealed_at TIMESTAMP NOT NULL
);
