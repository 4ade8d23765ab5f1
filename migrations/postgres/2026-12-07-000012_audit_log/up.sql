-- The audit log: one entry per change, written in the change's own transaction (service/audit.rs). `id`
-- orders the writes of one instance; `position` and `hash` are set after commit by the sealer, which
-- extends the hash chain in its own transaction, so no write waits for another.
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
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
    request_id TEXT,
    position BIGINT UNIQUE,
    hash TEXT
);
CREATE INDEX audit_log_unsealed ON audit_log(id) WHERE position IS NULL;
CREATE INDEX audit_log_by_object ON audit_log(object_type, object_id, id);
CREATE INDEX audit_log_by_actor ON audit_log(actor, id);
CREATE INDEX audit_log_by_time ON audit_log(at, id);
