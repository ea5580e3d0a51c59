-- 0009: waiting without polling, and limits shared by every API process.

-- Every change of a snapshot's state is announced on the channel `pond_snapshots`,
-- with the snapshot's id as the payload, whichever process or statement made it.
-- API processes LISTEN on it and wake the requests waiting for that snapshot.
-- PostgreSQL sends a notification when the transaction commits, once per payload.
CREATE FUNCTION pond_notify_snapshot() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pond_snapshots', NEW.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER snapshots_state_notify
    AFTER UPDATE OF state ON snapshots
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION pond_notify_snapshot();

-- The per-client rate limit (POND_RATE_LIMIT_PER_MINUTE) as a GCRA: `tat`, the
-- theoretical arrival time in epoch seconds, runs ahead of the clock by one
-- interval per request; a request is refused while that would put it more than a
-- minute ahead. A row whose `tat` is past says no more than a missing one, and is
-- deleted by the maintenance task. Unlogged: counts are not worth WAL, and a crash
-- that empties the table only forgives what was counted.
CREATE UNLOGGED TABLE rate_limits (
    key      text PRIMARY KEY,
    tat      double precision NOT NULL,
    -- How many of the requests of the last statement were let through.
    granted  integer NOT NULL
);

-- Failed authentications at the token endpoint (POND_TOKEN_FAILURE_LIMIT), per
-- client id (`id:...`) and per address (`ip:...`): the times of the latest
-- failures, newest last, at most the limit of them. Deleted by the maintenance
-- task once `expires_at` (the newest failure plus the window) has passed.
CREATE UNLOGGED TABLE token_failures (
    key         text PRIMARY KEY,
    times       timestamptz[] NOT NULL,
    expires_at  timestamptz NOT NULL
);
