-- The inventory feed consumer (Shared/Messaging) that keeps the catalog cache fresh: cursor, inbox, dead letters.
CREATE TABLE consumer_cursors (
    consumer TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until TEXT
) STRICT;
CREATE TABLE consumed_events (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
) STRICT;
CREATE TABLE dead_letters (
    id TEXT PRIMARY KEY,
    consumer TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    error TEXT NOT NULL,
    failed_at TEXT NOT NULL
) STRICT;
