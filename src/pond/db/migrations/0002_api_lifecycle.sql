-- 0002: the API lifecycle: deleted snapshots, idempotency keys, a fast count of active work.

-- A deleted snapshot keeps its row (so an export still running cannot bring it back:
-- the exporter only completes a 'running' one) and answers 404 from then on.
ALTER TABLE snapshots DROP CONSTRAINT snapshots_state_check;
ALTER TABLE snapshots ADD CONSTRAINT snapshots_state_check
    CHECK (state IN ('pending', 'running', 'complete', 'failed', 'expired', 'deleted'));
ALTER TABLE snapshots ADD COLUMN deleted_at timestamptz;
-- The per-organisation cap on concurrent snapshots counts these at every POST.
CREATE INDEX snapshots_org_active_idx ON snapshots (org_id)
    WHERE state IN ('pending', 'running');
-- Listing: newest first, ties broken by id.
CREATE INDEX snapshots_org_listing_idx ON snapshots (org_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

-- `Idempotency-Key` on POST /insights/snapshots, scoped per client, kept 24 hours.
CREATE TABLE idempotency_keys (
    client_id     text NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- sha256 of the request's meaning (entity and range), to tell a retry from a reuse.
    request_hash  text NOT NULL,
    snapshot_id   uuid NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
