DELETE FROM clients WHERE role NOT IN ('operator', 'ven');
ALTER TABLE clients ADD COLUMN role_name TEXT NOT NULL DEFAULT 'operator' CHECK (role_name IN ('operator', 'ven'));
UPDATE clients SET role_name = role;
ALTER TABLE clients DROP COLUMN role;
ALTER TABLE clients RENAME COLUMN role_name TO role;
