"""Limits shared by every API process: the per-client rate and failed token requests."""
