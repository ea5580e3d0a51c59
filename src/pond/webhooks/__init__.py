"""Webhooks: an organisation's endpoints get signed `snapshot.completed` / `snapshot.failed` events.

- `service`: register, list and remove endpoints (API and CLI).
- `events`: called when an export finishes; records one delivery per endpoint and
  queues its job.
- `delivery`: the `pond.deliver_webhook` job: POST, signed, retried with backoff.
- `signing`: Standard Webhooks secrets and signatures.
"""
