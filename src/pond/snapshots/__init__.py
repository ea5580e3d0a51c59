"""Snapshots: scheduling an export, and reporting on it."""
