-- A client's role is one of the roles `auth::roles` declares (staff roles beside operator and ven): the
-- list lives in the code, once. SQLite cannot drop a column's CHECK in place: the column is replaced.
ALTER TABLE clients ADD COLUMN role_name TEXT NOT NULL DEFAULT 'operator';
UPDATE clients SET role_name = role;
ALTER TABLE clients DROP COLUMN role;
ALTER TABLE clients RENAME COLUMN role_name TO role;
