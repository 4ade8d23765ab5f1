-- The hash chain moves out of the entries into seals: one row per sealer pass lists the entries it
-- chained, in chain order, with their chain hashes. Writers then only append entries (no sealed marker
-- to update, no index on it), and the sealer writes one row per pass instead of updating every entry.
-- Several instances commit entries out of id order, so each new entry also enters a queue of unsealed
-- ids, which the sealer empties as it chains them.
-- Existing entries lose their old per-entry seal and are chained again by the next pass.
DROP INDEX audit_log_unsealed;
ALTER TABLE audit_log DROP COLUMN position;
ALTER TABLE audit_log DROP COLUMN hash;

CREATE TABLE audit_seals (
    seal BIGINT PRIMARY KEY,
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

-- Entries not sealed yet: every statement appending entries also queues their ids here (one statement,
-- `store::dialect::audit`).
CREATE TABLE audit_unsealed (entry_id BIGINT PRIMARY KEY);
INSERT INTO audit_unsealed SELECT id FROM audit_log;

-- Entries are appended in time order: a block-range index finds a time range at almost no cost per append.
DROP INDEX audit_log_by_time;
CREATE INDEX audit_log_by_time ON audit_log USING brin (at);
