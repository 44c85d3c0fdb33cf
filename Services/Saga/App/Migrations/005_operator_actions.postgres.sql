-- An operator's retry, resume or forced compensation is idempotent by its Idempotency-Key: the answer is
-- recorded in the transaction of the change and replayed for the same key.
CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
