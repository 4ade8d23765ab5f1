ALTER TABLE reports DROP CONSTRAINT reports_event_id_fkey;
ALTER TABLE reports ADD CONSTRAINT reports_event_id_fkey
    FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE CASCADE;
