-- The inventory feed consumer (Shared/Messaging) that keeps the catalog cache fresh: cursor, inbox, dead letters.
CREATE TABLE consumer_cursors (
    consumer TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMPTZ
);
CREATE TABLE consumed_events (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
CREATE TABLE dead_letters (
    id TEXT PRIMARY KEY,
    consumer TEXT NOT NULL,
    seq BIGINT NOT NULL,
    event TEXT NOT NULL,
    error TEXT NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL
);
