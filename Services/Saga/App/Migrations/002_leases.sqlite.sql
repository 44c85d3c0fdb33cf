-- Which replica drives a saga, and until when: a replica claims unleased or expired sagas, renews its
-- lease at every step boundary, and a replica that lost its lease can no longer save the saga.
ALTER TABLE sagas ADD COLUMN lease_owner TEXT;
ALTER TABLE sagas ADD COLUMN lease_until TEXT;
CREATE INDEX sagas_claimable ON sagas (status, lease_until);
