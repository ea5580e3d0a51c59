-- 0008: rotating the token key and the link secret, and a server key that hashes
-- client secrets.

-- 'hash': the HMAC-SHA-256 key of client secret hashes. Not rotated: every stored
-- hash names the key it was made with.
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_purpose_check;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_purpose_check
    CHECK (purpose IN ('jwt', 'link', 'hash'));
-- When a newer key of the same purpose took over signing. A superseded key still
-- verifies what it signed until it is retired (`retired_at`), by hand or once
-- nothing it signed can still be valid.
ALTER TABLE signing_keys ADD COLUMN superseded_at timestamptz;
UPDATE signing_keys k SET superseded_at = (
    SELECT min(n.created_at) FROM signing_keys n
    WHERE n.purpose = k.purpose AND n.created_at > k.created_at
);
-- One key of each purpose signs: the one neither superseded nor retired.
CREATE UNIQUE INDEX signing_keys_current_idx ON signing_keys (purpose)
    WHERE superseded_at IS NULL AND retired_at IS NULL;
