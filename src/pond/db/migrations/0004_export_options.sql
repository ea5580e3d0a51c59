-- 0004: export options on create: format, compression, a chosen set of columns.
-- NULL compression and NULL export_columns mean the documented export (plain CSV, every column).
ALTER TABLE snapshots ADD COLUMN format text NOT NULL DEFAULT 'csv' CHECK (format IN ('csv'));
ALTER TABLE snapshots ADD COLUMN compression text CHECK (compression IN ('gzip'));
ALTER TABLE snapshots ADD COLUMN export_columns text[]
    CHECK (export_columns IS NULL OR cardinality(export_columns) > 0);
