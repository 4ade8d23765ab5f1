-- A rotated client keeps its previous secret until the grace period it was given ends.
ALTER TABLE clients ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE clients ADD COLUMN previous_valid_until TIMESTAMP;

-- Credentials removed: every instance reads the rows newer than the last it saw and refuses their tokens
-- from then on, rather than at the tokens' expiry.
CREATE TABLE revocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    subject TEXT NOT NULL,
    revoked_at TIMESTAMP NOT NULL
);
