-- Card numbers and CVCs are never stored: a payment method keeps a token, brand, last four digits, expiry,
-- and the simulated issuer's answer for the card (DESIGN's test cards).
CREATE TABLE payment_methods (
    token TEXT PRIMARY KEY,
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL,
    exp_month BIGINT NOT NULL,
    exp_year BIGINT NOT NULL,
    issuer_profile TEXT NOT NULL CHECK (issuer_profile IN ('approve', 'decline', 'insufficient_funds', 'unavailable')),
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    token TEXT,
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('AUTHORIZED', 'CAPTURED', 'VOIDED', 'REFUNDED', 'DECLINED')),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX payments_by_order ON payments (order_id);

CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
