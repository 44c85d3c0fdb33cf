-- Orders become event-sourced: each order is its stream of events in `order_events` (append-only; the
-- primary key on (order_id, version) refuses a concurrent append at a version already taken). The read
-- models are projections: `order_view` (detail, and by its index a customer's history). Existing orders
-- are converted into streams here; the service rebuilds the views at start (projection_versions is empty).
CREATE TABLE order_events (
    order_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version > 0),
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    data TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    PRIMARY KEY (order_id, version)
) STRICT;

CREATE TABLE order_view (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    checkout_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    items TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    payment_id TEXT,
    payment_status TEXT,
    shipment_id TEXT,
    shipment_status TEXT,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX order_history ON order_view (customer_id, id);

CREATE TABLE projection_versions (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) STRICT;

INSERT INTO order_events (order_id, version, event_id, type, schema_version, data, occurred_at)
SELECT o.id, 1, lower(hex(randomblob(16))), 'order.created', 2,
    json_object(
        'checkoutId', o.checkout_id, 'currency', o.currency, 'customerId', o.customer_id,
        'lines', json((SELECT json_group_array(json_object('quantity', i.quantity, 'sku', i.sku, 'unitPriceCents', i.unit_price_cents))
            FROM order_items i WHERE i.order_id = o.id)),
        'totalCents', o.total_cents),
    o.created_at
FROM orders o WHERE o.customer_id <> '';

INSERT INTO order_events (order_id, version, event_id, type, schema_version, data, occurred_at)
SELECT o.id, 2, lower(hex(randomblob(16))), 'order.approved', 1, '{}', o.updated_at
FROM orders o WHERE o.customer_id <> '' AND o.status IN ('APPROVED', 'SHIPPED', 'DELIVERED', 'CANCELLED');

INSERT INTO order_events (order_id, version, event_id, type, schema_version, data, occurred_at)
SELECT o.id, CASE WHEN o.customer_id <> '' THEN 2 ELSE 1 END, lower(hex(randomblob(16))), 'order.rejected', 1,
    json_object('reason', coalesce(o.reason, '')), o.updated_at
FROM orders o WHERE o.status = 'REJECTED';

INSERT INTO order_events (order_id, version, event_id, type, schema_version, data, occurred_at)
SELECT o.id, 3, lower(hex(randomblob(16))), 'order.cancelled', 1, json_object('reason', coalesce(o.reason, '')), o.updated_at
FROM orders o WHERE o.customer_id <> '' AND o.status = 'CANCELLED';

DROP TABLE order_items;
DROP TABLE orders;

-- The order feed (Shared/Messaging): every appended order event, served at GET /v1/events.
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

-- The payment and shipping feed consumers: cursor, inbox, dead letters.
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
