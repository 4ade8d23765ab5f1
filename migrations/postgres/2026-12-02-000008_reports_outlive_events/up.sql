-- Reports are evidence for settlement: deleting an event (or its program) must never delete them. The
-- service refuses such deletes with 409; the database refuses them too.
ALTER TABLE reports DROP CONSTRAINT reports_event_id_fkey;
ALTER TABLE reports ADD CONSTRAINT reports_event_id_fkey
    FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE RESTRICT;
