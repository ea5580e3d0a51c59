-- 0011: typed formats: Parquet and JSON Lines beside CSV, and Parquet's page codecs.
-- NULL compression still means the format's default: plain CSV or JSON Lines, zstd Parquet.
ALTER TABLE snapshots DROP CONSTRAINT snapshots_format_check;
ALTER TABLE snapshots ADD CONSTRAINT snapshots_format_check
    CHECK (format IN ('csv', 'parquet', 'ndjson'));
ALTER TABLE snapshots DROP CONSTRAINT snapshots_compression_check;
ALTER TABLE snapshots ADD CONSTRAINT snapshots_compression_check
    CHECK (compression IN ('gzip', 'zstd', 'snappy', 'none'));
