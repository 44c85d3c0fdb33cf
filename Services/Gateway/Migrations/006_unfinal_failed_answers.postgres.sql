-- A FAILED checkout is parked for an operator, not finished: its answer (a 500 checkout_failed, kept by
-- earlier versions) is forgotten so that a repeated request asks the saga again and sees its progress.
UPDATE checkout_requests SET status = NULL, content_type = NULL, body = NULL WHERE status = 500;
