DROP INDEX audit_log_by_time;
CREATE INDEX audit_log_by_time ON audit_log(at, id);
DROP TABLE audit_unsealed;
DROP TABLE audit_seals;
ALTER TABLE audit_log ADD COLUMN position BIGINT UNIQUE;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE INDEX audit_log_unsealed ON audit_log(id) WHERE position IS NULL;
