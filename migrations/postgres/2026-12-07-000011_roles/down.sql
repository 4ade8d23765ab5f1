DELETE FROM clients WHERE role NOT IN ('operator', 'ven');
ALTER TABLE clients ADD CONSTRAINT clients_role_check CHECK (role IN ('operator', 'ven'));
