"""Objects in an S3 bucket (AWS or any S3-compatible server); links are S3 pre-signed URLs.

Object keys are `<prefix>/<snapshot id>/<part>`. A part streams to S3 as a
multipart upload of about `part_size` bytes per request, so memory is bounded
by one part buffer whatever the size of the part; an object smaller than one
buffer is sent with a single PUT on commit. Nothing is visible under its key
until the upload is completed. S3 and network failures surface as
`S3OperationFailed`, an `OSError` (like a full disk for local files) whose
message names the S3 operation that failed.

Some S3-compatible servers lack optional calls (s3rver has no
ListMultipartUploads): clean-up that needs one is skipped, said once in the log,
and left to the bucket's lifecycle rule.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from pond.storage.base import StoredObject
from pond.storage.local import check_key, content_type
from pond.storage.s3_errors import S3OperationFailed, bucket_unusable, s3_call

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

PART_SIZE = 8 << 20  # bytes buffered before one UploadPart (S3's minimum is 5 MiB)
COPY_LIMIT = 5 << 30  # the largest object one CopyObject copies; above it, UploadPartCopy
COPY_PART_SIZE = 512 << 20  # bytes per UploadPartCopy (S3 allows 5 MiB to 5 GiB, 10,000 parts)
_MAX_PARTS = 10_000
# SigV4 refuses pre-signed URLs valid for more than seven days.
MAX_LINK_SECONDS = 7 * 24 * 3600
_DELETE_BATCH = 1000  # most keys one DeleteObjects request accepts
_LIST_THREADS = 8  # prefixes listed at once when many are deleted together

log = structlog.get_logger("pond.storage")


def download_name(key: str) -> str:
    """The file name a browser saves the object under: `event_000.csv` for `<id>/event_000`."""
    name = key.rsplit("/", 1)[-1]
    return name if "." in name else f"{name}.csv"


def object_headers(key: str) -> dict[str, str]:
    """The media type and download name stored with the object at `key`."""
    name = download_name(key)
    return {
        "ContentType": content_type(name),
        "ContentDisposition": f'attachment; filename="{name}"',
    }


class S3Writer:
    """Streams one object to S3; see `pond.storage.base.StagedWriter`."""

    def __init__(
        self, client: S3Client, bucket: str, object_key: str, key: str, part_size: int
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._object_key = object_key
        self._target = f"s3://{bucket}/{object_key}"
        self._key = key
        self._part_size = part_size
        self._buffer = io.BytesIO()
        self._hash = hashlib.sha256()
        self._size = 0
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        # Stored with the object, so even an unsigned-header GET saves a named CSV.
        self._headers = object_headers(key)

    def write(self, data: bytes | bytearray) -> None:
        """Append `data`; a full buffer is sent as one part. OSError if S3 refuses it."""
        self._hash.update(data)
        self._size += len(data)
        self._buffer.write(data)
        if self._buffer.tell() >= self._part_size:
            self._send_part()

    def _send_part(self) -> None:
        if self._upload_id is None:
            with s3_call("CreateMultipartUpload", self._target):
                started = self._client.create_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._object_key,
                    ContentType=self._headers["ContentType"],
                    ContentDisposition=self._headers["ContentDisposition"],
                )
            self._upload_id = started["UploadId"]
        number = len(self._parts) + 1
        self._buffer.seek(0)
        with s3_call("UploadPart", self._target):
            answer = self._client.upload_part(
                Bucket=self._bucket,
                Key=self._object_key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=self._buffer,
            )
        self._parts.append({"ETag": answer["ETag"], "PartNumber": number})
        self._buffer = io.BytesIO()

    def commit(self) -> StoredObject:
        """Complete the upload (or PUT a small object); OSError if S3 refuses it."""
        try:
            if self._upload_id is None:
                self._buffer.seek(0)
                with s3_call("PutObject", self._target):
                    self._client.put_object(
                        Bucket=self._bucket,
                        Key=self._object_key,
                        Body=self._buffer,
                        ContentType=self._headers["ContentType"],
                        ContentDisposition=self._headers["ContentDisposition"],
                    )
            else:
                if self._buffer.tell():
                    self._send_part()
                with s3_call("CompleteMultipartUpload", self._target):
                    self._client.complete_multipart_upload(
                        Bucket=self._bucket,
                        Key=self._object_key,
                        UploadId=self._upload_id,
                        MultipartUpload={"Parts": self._parts},
                    )
        except OSError:
            self.abort()
            raise
        self._buffer = io.BytesIO()
        return StoredObject(key=self._key, size=self._size, sha256=self._hash.hexdigest())

    def abort(self) -> None:
        """Drop the buffer and abort the multipart upload, so S3 keeps none of its parts.

        Best effort: called while another error is being handled, it never raises;
        parts of an upload it could not abort are removed by `delete_prefix`.
        """
        self._buffer = io.BytesIO()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is None:
            return
        try:
            with s3_call("AbortMultipartUpload", self._target):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._object_key, UploadId=upload_id
                )
        except S3OperationFailed as exc:
            log.warning("storage.abort_failed", reason=str(exc))


class S3Store:
    """Objects under `s3://<bucket>/<prefix>/`; a boto3 client does the talking.

    `probe` is the client `check` uses: one with short timeouts and no retries, so
    a readiness probe answers quickly when S3 is away. `copy_limit` and
    `copy_part_size` are S3's own limits, smaller only in tests.
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        *,
        part_size: int = PART_SIZE,
        probe: S3Client | None = None,
        copy_limit: int = COPY_LIMIT,
        copy_part_size: int = COPY_PART_SIZE,
    ) -> None:
        self._client = client
        self._probe = probe or client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._part_size = part_size
        self._copy_limit = copy_limit
        self._copy_part_size = copy_part_size
        self._unsupported: set[str] = set()

    def object_key(self, key: str) -> str:
        """The S3 key of pond's `key` (`<prefix>/<snapshot id>/<part>`); ValueError if malformed."""
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _url(self, object_key: str) -> str:
        return f"s3://{self.bucket}/{object_key}"

    def check(self) -> None:
        """Raise `StorageUnavailable`, saying what to fix, unless HeadBucket succeeds.

        That proves the endpoint answers, the credentials are accepted and the
        bucket exists (it needs s3:ListBucket). Nothing is written.
        """
        try:
            with s3_call("HeadBucket", f"s3://{self.bucket}"):
                self._probe.head_bucket(Bucket=self.bucket)
        except S3OperationFailed as failure:
            raise bucket_unusable(failure, self.bucket, self._probe.meta.endpoint_url) from failure

    def stage(self, key: str) -> S3Writer:
        return S3Writer(self._client, self.bucket, self.object_key(key), key, self._part_size)

    def rename(self, src_key: str, dst_key: str) -> None:
        """Move the object at `src_key` to `dst_key`, replacing any object there.

        A server-side copy (CopyObject; UploadPartCopy pieces above 5 GiB) that
        takes the media type and download name of the new key, then DeleteObject
        of the old one. OSError naming the operation that failed (HeadObject
        answers 404 when there is no object at `src_key`).
        """
        source, target = self.object_key(src_key), self.object_key(dst_key)
        try:
            with s3_call("HeadObject", self._url(source)):
                size = self._client.head_object(Bucket=self.bucket, Key=source)["ContentLength"]
        except OSError:
            if source != target and self._exists(target):
                return  # moved already, by a publication cut short after its copy
            raise
        if source == target:
            return
        headers = object_headers(dst_key)
        if size <= self._copy_limit:
            with s3_call("CopyObject", self._url(target)):
                self._client.copy_object(
                    Bucket=self.bucket,
                    Key=target,
                    CopySource={"Bucket": self.bucket, "Key": source},
                    MetadataDirective="REPLACE",
                    ContentType=headers["ContentType"],
                    ContentDisposition=headers["ContentDisposition"],
                )
        else:
            self._copy_in_parts(source, target, size, headers)
        with s3_call("DeleteObject", self._url(source)):
            self._client.delete_object(Bucket=self.bucket, Key=source)

    def _exists(self, key: str) -> bool:
        try:
            with s3_call("HeadObject", self._url(key)):
                self._client.head_object(Bucket=self.bucket, Key=key)
        except OSError:
            return False
        return True

    def _copy_in_parts(self, source: str, target: str, size: int, headers: dict[str, str]) -> None:
        """Copy an object too large for CopyObject as a multipart upload of UploadPartCopy."""
        piece = max(self._copy_part_size, -(-size // _MAX_PARTS))
        with s3_call("CreateMultipartUpload", self._url(target)):
            upload_id = self._client.create_multipart_upload(
                Bucket=self.bucket,
                Key=target,
                ContentType=headers["ContentType"],
                ContentDisposition=headers["ContentDisposition"],
            )["UploadId"]
        parts: list[CompletedPartTypeDef] = []
        try:
            for number, start in enumerate(range(0, size, piece), start=1):
                end = min(start + piece, size) - 1
                with s3_call("UploadPartCopy", self._url(target)):
                    copied = self._client.upload_part_copy(
                        Bucket=self.bucket,
                        Key=target,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource={"Bucket": self.bucket, "Key": source},
                        CopySourceRange=f"bytes={start}-{end}",
                    )
                parts.append({"ETag": copied["CopyPartResult"]["ETag"], "PartNumber": number})
            with s3_call("CompleteMultipartUpload", self._url(target)):
                self._client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=target,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except OSError:
            with contextlib.suppress(OSError), s3_call("AbortMultipartUpload", self._url(target)):
                self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=target, UploadId=upload_id
                )
            raise

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object and unfinished upload under `prefix/` (see `delete_prefixes`)."""
        self.delete_prefixes([prefix])

    def delete_prefixes(self, prefixes: Sequence[str]) -> None:
        """Delete every object under each `prefix/`, and the unfinished uploads where the server
        lists them: one ListObjectsV2 per prefix (several at once), one ListMultipartUploads,
        DeleteObjects of 1,000 keys whatever their prefix. OSError names the failed operation."""
        root = f"{self.prefix}/" if self.prefix else ""
        unders = [f"{root}{prefix}/" for prefix in prefixes]
        if not unders:
            return
        try:
            self._abort_uploads(unders[0] if len(unders) == 1 else root, frozenset(unders))
        except S3OperationFailed as exc:  # leftovers only: the lifecycle rule removes them
            log.warning("storage.cleanup_skipped", prefix=unders[0], reason=str(exc))
        with ThreadPoolExecutor(min(_LIST_THREADS, len(unders))) as pool:
            keys = [key for listed in pool.map(self._keys_under, unders) for key in listed]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            with s3_call("DeleteObjects", self._url(batch[0])):
                answer = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            if errors := answer.get("Errors"):
                first = errors[0]
                raise S3OperationFailed(
                    "DeleteObjects",
                    self._url(first.get("Key", batch[0])),
                    first.get("Code", "error"),
                    f"{first.get('Message', '')}; {len(errors)} of {len(batch)} keys not deleted",
                )

    def _keys_under(self, under: str) -> list[str]:
        with s3_call("ListObjectsV2", self._url(under)):
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=under
            )
            return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def discard_unfinished(self, prefix: str) -> None:
        """Abort the multipart uploads under `prefix/` that were never completed.

        On a server without ListMultipartUploads this does nothing (said once in
        the log); OSError naming the operation on any other failure.
        """
        under = f"{self.prefix}/{prefix}/" if self.prefix else f"{prefix}/"
        self._abort_uploads(under, frozenset([under]))

    def _abort_uploads(self, scope: str, unders: frozenset[str]) -> None:
        """Abort the unfinished uploads listed under `scope` that are under one of `unders`."""
        if "ListMultipartUploads" in self._unsupported:
            return
        try:
            with s3_call("ListMultipartUploads", self._url(scope)):
                pages = self._client.get_paginator("list_multipart_uploads").paginate(
                    Bucket=self.bucket, Prefix=scope
                )
                uploads = [upload for page in pages for upload in page.get("Uploads", [])]
        except S3OperationFailed as exc:
            if not exc.unsupported:
                raise
            self._unsupported.add(exc.operation)
            log.warning(
                "storage.operation_unsupported",
                operation=exc.operation,
                skipped="aborting unfinished multipart uploads; the bucket's lifecycle rule "
                "(AbortIncompleteMultipartUpload) must remove them",
                reason=str(exc),
            )
            return
        for upload in uploads:
            if upload["Key"].rsplit("/", 1)[0] + "/" not in unders:
                continue
            with s3_call("AbortMultipartUpload", self._url(upload["Key"])):
                self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )

    def local_path(self, key: str) -> Path | None:
        return None

    def signed_url(self, key: str, *, expires_at: datetime, base_url: str) -> str:
        """A pre-signed GET URL for `key`, valid until `expires_at` and never longer.

        The signature covers the response headers, so the download is saved as
        `<part>.csv`. `base_url` is not used: the link points at S3 itself.
        Signing is local (no request to S3); it fails only without credentials.
        """
        # Whole seconds, rounded down, from now: the link ends at or before expires_at
        # (the service never asks for a link to a snapshot already past retention).
        remaining = int((expires_at - datetime.now(UTC)).total_seconds())
        headers = object_headers(key)
        params = {
            "Bucket": self.bucket,
            "Key": self.object_key(key),
            "ResponseContentDisposition": headers["ContentDisposition"],
            "ResponseContentType": headers["ContentType"],
        }
        return self._client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=max(1, min(remaining, MAX_LINK_SECONDS))
        )
