-- Sagas of two kinds share the table and the runner: `checkout` and `cancellation`. `order_id` finds an
-- order's checkout saga when a cancellation starts.
ALTER TABLE sagas ADD COLUMN kind TEXT NOT NULL DEFAULT 'checkout';
ALTER TABLE sagas ADD COLUMN order_id TEXT;
UPDATE sagas SET order_id = state::json ->> 'orderId';
CREATE INDEX sagas_by_order ON sagas (order_id, kind);
