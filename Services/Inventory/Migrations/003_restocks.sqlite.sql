-- A committed reservation whose order was cancelled: its stock went back on sale. The reservation keeps its
-- COMMITTED row (the sale happened); this row says it was undone, and the API shows the status RESTOCKED.
CREATE TABLE restocks (
    reservation_id TEXT PRIMARY KEY REFERENCES reservations (id),
    restocked_at TEXT NOT NULL
) STRICT;
