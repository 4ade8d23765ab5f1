-- Notifications are delivered by webhook (callback_url is the URL) or published on MQTT (callback_url is
-- the topic, subscription_id the topic too: order is kept per topic and object).
ALTER TABLE notifications ADD COLUMN channel TEXT NOT NULL DEFAULT 'WEBHOOK' CHECK (channel IN ('WEBHOOK', 'MQTT'));
