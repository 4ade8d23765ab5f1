DROP TABLE revocations;
ALTER TABLE clients DROP COLUMN previous_valid_until;
ALTER TABLE clients DROP COLUMN previous_secret_hash;
