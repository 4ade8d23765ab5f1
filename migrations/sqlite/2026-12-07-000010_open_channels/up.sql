-- A notification's channel is the name of a channel registered at start-up (notify/channel.rs): the list
-- lives in the code, once; a new channel must not need a migration to store its notifications. SQLite
-- cannot drop a column's CHECK in place: the column is replaced (it stays the table's last column).
ALTER TABLE notifications ADD COLUMN via TEXT NOT NULL DEFAULT 'WEBHOOK';
UPDATE notifications SET via = channel;
ALTER TABLE notifications DROP COLUMN channel;
ALTER TABLE notifications RENAME COLUMN via TO channel;
