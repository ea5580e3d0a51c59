"""Every error the client raises on purpose, each with its `pond` exit code.

The tree::

    PondError                        (pond.errors) root of every pond error
    └── ClientError              1   the client could not do what was asked
        ├── UsageError           2   an argument the client cannot use (a time, a window)
        ├── RequestRejected      2   the server refused the request as invalid (400)
        ├── AuthenticationFailed 3   credentials or token refused (token endpoint, 401, 403)
        ├── LinkRefused          3   download links refused even after fetching fresh ones
        ├── SnapshotNotFound     4   no such snapshot, or not yours (404)
        ├── NotOffered           4   the server does not offer this endpoint (list, delete)
        ├── SnapshotFailed       5   the export failed on the server
        ├── SnapshotExpired      5   the snapshot outlived its retention (410)
        ├── SnapshotNotReady     5   download asked of a snapshot that is not complete
        ├── IntegrityError       6   a part's size, rows or checksum do not match
        ├── WaitTimeout          7   the snapshot was not complete in time
        ├── ConfigurationError   8   no credentials, bad profile or config file
        └── ServiceUnavailable   9   the service cannot be reached or keeps failing

`exit_code` is read by the `pond` command; `status` is the HTTP status that
caused the error, when there was one.
"""

from __future__ import annotations

from pond.errors import PondError


class ClientError(PondError):
    """The client could not do what was asked."""

    code = "client_error"
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        if status is not None:
            self.status = status


class UsageError(ClientError):
    code = "usage"
    exit_code = 2


class RequestRejected(ClientError):
    code = "request_rejected"
    exit_code = 2


class AuthenticationFailed(ClientError):
    code = "authentication_failed"
    exit_code = 3


class LinkRefused(ClientError):
    code = "link_refused"
    exit_code = 3


class SnapshotNotFound(ClientError):
    code = "snapshot_not_found"
    exit_code = 4


class NotOffered(ClientError):
    code = "not_offered"
    exit_code = 4


class SnapshotFailed(ClientError):
    code = "snapshot_failed"
    exit_code = 5


class SnapshotExpired(ClientError):
    code = "snapshot_expired"
    exit_code = 5


class SnapshotNotReady(ClientError):
    code = "snapshot_not_ready"
    exit_code = 5


class IntegrityError(ClientError):
    code = "integrity_error"
    exit_code = 6


class WaitTimeout(ClientError):
    code = "wait_timeout"
    exit_code = 7


class ConfigurationError(ClientError):
    code = "configuration_error"
    exit_code = 8


class ServiceUnavailable(ClientError):
    code = "service_unavailable"
    exit_code = 9
