-- Fingerprints were SHA-256 of the raw checkout body, card number and CVC included: anyone with the file
-- could confirm a guessed card. They become keyed HMACs over the body without its card (Keyring.index);
-- the old ones are dropped ('' matches any body of the same key). The start command is sealed from now
-- on, keyed by its checkout id for `gateway rotate-keys`.
UPDATE checkout_requests SET fingerprint = '';
CREATE UNIQUE INDEX checkout_requests_by_checkout ON checkout_requests (checkout_id);
