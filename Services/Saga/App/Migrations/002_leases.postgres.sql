-- Which replica drives a saga, and until when: a replica claims unleased or expired sagas (FOR UPDATE SKIP
-- LOCKED), renews its lease at every step boundary, and a replica that lost its lease can no longer save it.
ALTER TABLE sagas ADD COLUMN lease_owner TEXT;
ALTER TABLE sagas ADD COLUMN lease_until TIMESTAMPTZ;
CREATE INDEX sagas_claimable ON sagas (status, lease_until);
