ALTER TABLE subscriptions DROP COLUMN from_seq;
