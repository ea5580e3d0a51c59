"""OAuth clients and the organisations they belong to."""
