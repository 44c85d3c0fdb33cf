-- A reservation holds its stock until expires_at, then inventory releases it itself (released_reason
-- 'expired'), so an abandoned saga never holds stock forever. NULL: held until commit or release (the
-- saga's inventory.hold, reservations made before this migration, and the checkout saga's version 1).
ALTER TABLE reservations ADD COLUMN expires_at TEXT;
ALTER TABLE reservations ADD COLUMN released_reason TEXT;
CREATE INDEX reservations_expiring ON reservations (expires_at) WHERE status = 'RESERVED' AND expires_at IS NOT NULL;
