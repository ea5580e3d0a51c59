-- 0007: an export's parts are shared out between worker processes, and a part
-- that keeps failing no longer hides the parts that succeeded.

-- The plan of the export run in progress: one row per part. A worker claims a
-- pending part by locking its row (FOR UPDATE SKIP LOCKED) for as long as it
-- exports it, so a worker that dies hands its part back when its connection
-- drops. `run` is the snapshot's `attempts` when the run was planned: workers
-- of an earlier run never touch a later run's parts.
CREATE TABLE export_parts (
    snapshot_id  uuid NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    run          integer NOT NULL,
    seq          integer NOT NULL CHECK (seq >= 0),
    -- The (time, key) of the part's first row and of the next part's, as text;
    -- NULL before the first row and after the last.
    after_key    text[],
    before_key   text[],
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    reason       text,
    name         text,
    size         bigint,
    row_count    bigint,
    sha256       text,
    PRIMARY KEY (snapshot_id, seq)
);

-- A published part is complete, or failed with a reason (then it has no object).
ALTER TABLE snapshot_parts ADD COLUMN state text NOT NULL DEFAULT 'complete'
    CHECK (state IN ('complete', 'failed'));
ALTER TABLE snapshot_parts ADD COLUMN reason text;
ALTER TABLE snapshot_parts ALTER COLUMN size DROP NOT NULL;
ALTER TABLE snapshot_parts ALTER COLUMN row_count DROP NOT NULL;
ALTER TABLE snapshot_parts ALTER COLUMN sha256 DROP NOT NULL;
ALTER TABLE snapshot_parts ADD CONSTRAINT snapshot_parts_complete_check
    CHECK (state <> 'complete' OR (size IS NOT NULL AND row_count IS NOT NULL AND sha256 IS NOT NULL));
