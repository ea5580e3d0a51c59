-- 0010: parts planned from a sample and cut while they are exported; each is
-- published as soon as its place among the parts is known.

-- The table only ever holds the plans of runs in progress: a run planned by an
-- earlier version is dropped here and planned again by its retry.
DROP TABLE export_parts;

-- One row per part of the run in progress, in the order of their rows:
-- (range_no, sub_no). A planned range is sub_no 0; a range that held more rows
-- than a part may is cut where the limit fell, and the rest becomes the next
-- sub_no of the same range. A worker claims a pending part by locking its row
-- (FOR UPDATE SKIP LOCKED) for as long as it exports it, so a worker that dies
-- hands its part back when its connection drops. `run` is the snapshot's
-- `attempts` when the run was planned. `name` is the part's object: provisional
-- while `seq` is NULL, its published name once `seq`, its place, is known.
CREATE TABLE export_parts (
    snapshot_id  uuid NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    run          integer NOT NULL,
    range_no     integer NOT NULL CHECK (range_no >= 0),
    sub_no       integer NOT NULL DEFAULT 0 CHECK (sub_no >= 0),
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
    seq          integer CHECK (seq >= 0),
    PRIMARY KEY (snapshot_id, run, range_no, sub_no)
);
