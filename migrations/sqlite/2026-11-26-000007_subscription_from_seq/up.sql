-- A subscription hears of changes made after it exists: the newest change sequence number at its creation.
ALTER TABLE subscriptions ADD COLUMN from_seq BIGINT NOT NULL DEFAULT 0;
