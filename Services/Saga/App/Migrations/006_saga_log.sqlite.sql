-- A saga's log (Services/Saga/Core/SagaLog.swift): at a step boundary the runner appends what changed
-- instead of rewriting `sagas.state`; a saga is its `state` (the snapshot) folded with its entries in
-- `seq` order. A snapshot empties the saga's log. Keyed by saga, so a saga's entries sit together.
CREATE TABLE saga_log (
    saga_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (saga_id, seq)
) STRICT, WITHOUT ROWID;
