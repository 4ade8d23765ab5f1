-- A client's role is one of the roles `auth::roles` declares (staff roles beside operator and ven): the
-- list lives in the code, once.
ALTER TABLE clients DROP CONSTRAINT IF EXISTS clients_role_check;
