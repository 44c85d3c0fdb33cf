-- Encryption at rest: a payment method's expiry becomes one sealed text (`month/year`), like last4; the
-- token column holds the token's keyed index from now on. Rows written before are clear text until
-- `payment rotate-keys` seals and indexes them.
ALTER TABLE payment_methods ADD COLUMN expiry TEXT;
UPDATE payment_methods SET expiry = exp_month || '/' || exp_year;
ALTER TABLE payment_methods DROP COLUMN exp_month;
ALTER TABLE payment_methods DROP COLUMN exp_year;
