-- The transactional outbox (Shared/Messaging): payment changes, served at GET /v1/events.
CREATE TABLE outbox (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    version BIGINT NOT NULL,
    aggregate_id TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    traceparent TEXT,
    data TEXT NOT NULL
);
