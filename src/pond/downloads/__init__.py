"""Signed download links: made for each GET of a snapshot, served with no token."""
