-- A notification's channel is the name of a channel registered at start-up (notify/channel.rs): the list
-- lives in the code, once; a new channel must not need a migration to store its notifications.
ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_channel_check;
