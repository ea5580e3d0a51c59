"""Webhooks: an organisation's endpoints get signed `snapshot.completed` / `snapshot.failed` events.

- `service`: register, list and remove endpoints (API and CLI).
- `events`: called when an export finishes; records one delivery per endpoint and
  queues its job.
- `delivery`: the `pond.deliver_webhook` job: POST, signed, retried with backoff.
- `signing`: Standard Webhooks secrets and signatures.
- `addresses`: which addresses a webhook may reach (public ones, and the operator's
  `POND_WEBHOOK_ALLOW_CIDRS`), whatever the spelling of an address.
- `egress`: a URL checked, its name resolved, and the addresses a delivery may
  connect to.
"""
