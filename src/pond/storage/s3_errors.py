"""What an S3 request that failed means, in words that name the operation.

Every call pond makes to S3 goes through `s3_call`, so a failure reads
`S3 PutObject of s3://bucket/key failed: NoSuchBucket (The specified bucket
does not exist)` whatever botocore raised. `S3OperationFailed` is an
`OSError`, like a full disk for local files, so the export treats both alike.
`bucket_unusable` turns a failed start-up or readiness probe (HeadBucket) into
a `StorageUnavailable` that says what to check.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ReadTimeoutError
from botocore.exceptions import ConnectionError as EndpointUnreachable

from pond.errors import StorageUnavailable

# What S3-compatible servers answer for a call they do not implement (s3rver, for
# ListMultipartUploads: 501 NotImplemented; others: 405 MethodNotAllowed or NotSupported).
_UNSUPPORTED_CODES = frozenset({"NotImplemented", "NotSupported", "MethodNotAllowed"})
_REFUSED_CODES = frozenset(
    {"403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
)
_WRONG_REGION_CODES = frozenset(
    {
        "301",
        "PermanentRedirect",
        "AuthorizationHeaderMalformed",
        "IllegalLocationConstraintException",
    }
)


class S3OperationFailed(OSError):
    """An S3 request that failed: `operation` (`PutObject`, `UploadPart`, ...), S3's `code`."""

    def __init__(
        self, operation: str, target: str, code: str, detail: str, status: int | None = None
    ) -> None:
        reason = f"{code} ({detail})" if detail and detail != code else code
        super().__init__(f"S3 {operation} of {target} failed: {reason}")
        self.operation = operation
        self.target = target
        self.code = code
        self.detail = detail
        self.status = status

    @property
    def unsupported(self) -> bool:
        """True when the server does not implement the operation at all."""
        return self.code in _UNSUPPORTED_CODES or self.status == 501


@contextmanager
def s3_call(operation: str, target: str) -> Iterator[None]:
    """Run S3 requests, turning botocore's errors into `S3OperationFailed` for `operation`."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(error.get("Code") or status or "error")
        raise S3OperationFailed(
            operation, target, code, str(error.get("Message") or ""), status
        ) from exc
    except BotoCoreError as exc:
        raise S3OperationFailed(operation, target, type(exc).__name__, str(exc)) from exc


def bucket_unusable(failure: S3OperationFailed, bucket: str, endpoint: str) -> StorageUnavailable:
    """What a failed HeadBucket of `bucket` at `endpoint` means, with what to check."""
    where = f"S3 bucket {bucket} at {endpoint}"
    cause = failure.__cause__
    if isinstance(cause, EndpointUnreachable | ReadTimeoutError):
        return StorageUnavailable(
            f"cannot reach {where}: {failure}",
            hint="check POND_S3_ENDPOINT_URL and that the S3 server is running and reachable",
        )
    if isinstance(cause, NoCredentialsError):
        return StorageUnavailable(
            f"no AWS credentials to reach {where}",
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or a role)",
        )
    if failure.code in ("404", "NoSuchBucket"):
        return StorageUnavailable(
            f"{where} does not exist ({failure})",
            hint="create the bucket (pond does not create it), or fix POND_STORAGE_URL",
        )
    if failure.code in _REFUSED_CODES:
        return StorageUnavailable(
            f"{where} refused pond's credentials ({failure})",
            hint="check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the role), and that "
            "they allow s3:ListBucket on the bucket (the permissions are in docs/deploy.md)",
        )
    if failure.code in _WRONG_REGION_CODES or failure.status in (301, 307):
        return StorageUnavailable(
            f"{where} is in another region than the one requests are signed for ({failure})",
            hint="set POND_S3_REGION to the bucket's region",
        )
    return StorageUnavailable(
        f"{where} cannot be used: {failure}",
        hint="check POND_STORAGE_URL, POND_S3_ENDPOINT_URL, POND_S3_REGION and the credentials",
    )
