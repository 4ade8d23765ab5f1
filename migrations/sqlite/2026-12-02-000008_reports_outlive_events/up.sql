-- Reports are evidence for settlement: deleting an event (or its program) must never delete them. The
-- service refuses such deletes with 409; the database refuses them too. SQLite cannot change a foreign
-- key in place: the table is rebuilt (nothing references it).
CREATE TABLE reports_new (
    id TEXT PRIMARY KEY NOT NULL,
    event_id TEXT NOT NULL REFERENCES events(id) ON DELETE RESTRICT,
    client_id TEXT NOT NULL,
    client_name TEXT NOT NULL,
    report_name TEXT,
    body TEXT NOT NULL,
    created_date_time TIMESTAMP NOT NULL,
    modification_date_time TIMESTAMP NOT NULL
);
INSERT INTO reports_new SELECT id, event_id, client_id, client_name, report_name, body, created_date_time,
    modification_date_time FROM reports;
DROP TABLE reports;
ALTER TABLE reports_new RENAME TO reports;
CREATE INDEX reports_by_event ON reports(event_id, id);
CREATE INDEX reports_by_client ON reports(client_id, id);
CREATE INDEX reports_by_client_name ON reports(client_name, id);
