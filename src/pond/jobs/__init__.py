"""Background work on procrastinate: exports, retention, recovery of stalled jobs."""
