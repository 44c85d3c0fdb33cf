-- The saga's start command (card already a payment token, no card data), so a repeated request can start
-- the saga again with the same checkout id when the first attempt never reached the saga service.
ALTER TABLE checkout_requests ADD COLUMN start_command TEXT;
