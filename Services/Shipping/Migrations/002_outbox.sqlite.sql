-- The transactional outbox (Shared/Messaging): shipping changes, served at GET /v1/events.
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    version INTEGER NOT NULL,
    aggregate_id TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    traceparent TEXT,
    data TEXT NOT NULL
) STRICT;
