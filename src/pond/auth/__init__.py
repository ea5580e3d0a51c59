"""OAuth2 client credentials: the token endpoint, its keys, and bearer checks."""

SNAPSHOTS_SCOPE = "pond/insights.snapshots"
