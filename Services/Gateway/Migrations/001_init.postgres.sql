-- The first answer to each (customer, Idempotency-Key) of POST /v1/checkout, replayed for a repeated request.
CREATE TABLE checkout_requests (
    customer_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    checkout_id TEXT NOT NULL,
    status BIGINT,
    content_type TEXT,
    body TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (customer_id, idempotency_key)
);
