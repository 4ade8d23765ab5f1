-- Push notifications (webhooks): the outbox of changes, the notifications made from it, endpoint health.

-- Whether the subscribing client is the business logic (it reads every object) or a VEN (object privacy).
ALTER TABLE subscriptions ADD COLUMN business_logic BOOLEAN NOT NULL DEFAULT FALSE;

-- The outbox: every committed change of an OpenADR object, written in the change's own transaction and
-- removed once turned into notifications. `seq` orders the changes of one object.
CREATE TABLE changes (
    seq BIGSERIAL PRIMARY KEY,
    object_type TEXT NOT NULL,
    operation TEXT NOT NULL,
    object_id TEXT NOT NULL,
    program_id TEXT,
    event_id TEXT,
    owner_client_id TEXT,
    body TEXT NOT NULL,
    targets TEXT,
    created_date_time TIMESTAMP NOT NULL,
    modification_date_time TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);

-- One notification to one callback URL, with its delivery state. Delivered in change order per
-- (subscription, object); claimed with a lease so that several instances never send one twice.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY NOT NULL,
    change_seq BIGINT NOT NULL,
    subscription_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    callback_url TEXT NOT NULL,
    bearer_token TEXT,
    object_type TEXT NOT NULL,
    operation TEXT NOT NULL,
    object_id TEXT NOT NULL,
    program_id TEXT,
    event_id TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    first_attempt_at TIMESTAMP,
    finished_at TIMESTAMP,
    last_status INTEGER,
    last_error TEXT,
    lease_owner TEXT,
    lease_until TIMESTAMP
);
CREATE INDEX notifications_due ON notifications(next_attempt_at) WHERE state = 'pending';
CREATE INDEX notifications_order ON notifications(subscription_id, object_id, change_seq);
CREATE INDEX notifications_by_event ON notifications(event_id, id);
CREATE INDEX notifications_by_object ON notifications(object_id, id);

-- Per callback URL: consecutive failures and whether it is considered broken (shown to the operator).
CREATE TABLE callback_health (
    callback_url TEXT PRIMARY KEY NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    broken BOOLEAN NOT NULL DEFAULT FALSE,
    last_success_at TIMESTAMP,
    last_failure_at TIMESTAMP,
    last_error TEXT
);
