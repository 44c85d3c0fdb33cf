-- Orders sharded by customer (OrderBuckets): every row of a customer's order data records its bucket, so
-- a bucket's rows can be copied to another shard and deleted from this one. The service fills the column
-- for rows written before this migration at start. `shard_buckets` is this shard's part of the durable
-- shard map: the buckets it owns ('owned'), one it is giving away ('fenced': writes wait) and one it is
-- taking ('incoming': copied, not yet served), with the other shard of the move.
ALTER TABLE order_events ADD COLUMN bucket BIGINT;
ALTER TABLE order_view ADD COLUMN bucket BIGINT;
ALTER TABLE idempotency_keys ADD COLUMN bucket BIGINT;
CREATE INDEX order_events_by_bucket ON order_events (bucket, order_id);
CREATE INDEX order_view_by_bucket ON order_view (bucket, id);
CREATE INDEX idempotency_keys_by_bucket ON idempotency_keys (bucket);

CREATE TABLE shard_buckets (
    bucket BIGINT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('owned', 'fenced', 'incoming')),
    peer BIGINT,
    changed_at TIMESTAMPTZ NOT NULL
);
