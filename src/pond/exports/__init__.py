"""The export job: one consistent COPY of a snapshot's rows, cut into CSV parts."""
