-- Stock conservation for the consistency auditor: `received` counts every unit put on sale (the stock a
-- product was created with plus each operator adjustment), so that per SKU
-- received + restocked = available + held + committed. Existing rows are assumed conserved.
ALTER TABLE products ADD COLUMN received BIGINT NOT NULL DEFAULT 0;

UPDATE products SET received = available + reserved
    + COALESCE((SELECT SUM(i.quantity) FROM reservation_items i JOIN reservations r ON r.id = i.reservation_id
                WHERE i.sku = products.sku AND r.status = 'COMMITTED'), 0)
    - COALESCE((SELECT SUM(i.quantity) FROM reservation_items i JOIN restocks s ON s.reservation_id = i.reservation_id
                WHERE i.sku = products.sku), 0);

CREATE INDEX reservation_items_by_sku ON reservation_items (sku);
