-- Finished notifications are deleted after notifications.retention_days: found by when they finished.
CREATE INDEX notifications_finished ON notifications(finished_at) WHERE state <> 'pending';
