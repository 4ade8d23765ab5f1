ALTER TABLE notifications ADD COLUMN via TEXT NOT NULL DEFAULT 'WEBHOOK' CHECK (via IN ('WEBHOOK', 'MQTT'));
UPDATE notifications SET via = channel;
ALTER TABLE notifications DROP COLUMN channel;
ALTER TABLE notifications RENAME COLUMN via TO channel;
