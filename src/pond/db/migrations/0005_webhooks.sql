-- 0005: webhooks: an organisation's endpoints, and every event delivered to them.

-- An endpoint gets the organisation's snapshot events, signed with its secret
-- (Standard Webhooks). Removing one sets `disabled_at`: its deliveries stay readable.
CREATE TABLE webhook_endpoints (
    id           uuid PRIMARY KEY,
    org_id       bigint NOT NULL REFERENCES organisations (id),
    url          text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    -- `whsec_` + base64 of the signing key; kept as is because signing needs it.
    secret       text NOT NULL,
    events       text[] NOT NULL
                 DEFAULT ARRAY['snapshot.completed', 'snapshot.failed'],
    created_at   timestamptz NOT NULL DEFAULT now(),
    disabled_at  timestamptz
);
CREATE INDEX webhook_endpoints_org_idx ON webhook_endpoints (org_id) WHERE disabled_at IS NULL;

-- One row per event and endpoint; the delivery job updates it at every attempt.
CREATE TABLE webhook_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The `webhook-id` header: the same for every endpoint and every attempt of one event.
    event_id     text NOT NULL,
    endpoint_id  uuid NOT NULL REFERENCES webhook_endpoints (id),
    snapshot_id  uuid NOT NULL,
    event_type   text NOT NULL CHECK (event_type IN ('snapshot.completed', 'snapshot.failed')),
    payload      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'retrying', 'delivered', 'failed', 'cancelled')),
    attempts     integer NOT NULL DEFAULT 0,
    last_status  integer,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- A rerun of the same export never sends its event twice.
    UNIQUE (endpoint_id, snapshot_id, event_type)
);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
