"""The built-in `event` entity: getting rows in (seed, import)."""
