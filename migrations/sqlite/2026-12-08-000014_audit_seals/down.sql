DROP TABLE audit_seals;
CREATE TABLE audit_log_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
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
INSERT INTO audit_log_old (id, at, actor, actor_role, source, action, object_type, object_id, before_digest,
                           after_digest, changed_fields, request_id)
    SELECT id, at, actor, actor_role, source, action, object_type, object_id, before_digest, after_digest,
           changed_fields, request_id
    FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_old RENAME TO audit_log;
CREATE INDEX audit_log_unsealed ON audit_log(id) WHERE position IS NULL;
CREATE INDEX audit_log_by_object ON audit_log(object_type, object_id, id);
CREATE INDEX audit_log_by_actor ON audit_log(actor, id);
CREATE INDEX audit_log_by_time ON audit_log(at, id);
