DROP TABLE callback_health;
DROP TABLE notifications;
DROP TABLE changes;
ALTER TABLE subscriptions DROP COLUMN business_logic;
