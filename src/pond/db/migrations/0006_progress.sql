-- 0006: progress of a running export, for `rows_exported` on running items.

ALTER TABLE snapshots ADD COLUMN rows_exported bigint CHECK (rows_exported >= 0);
