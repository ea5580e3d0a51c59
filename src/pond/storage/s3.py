"""Objects in an S3 bucket (AWS or any S3-compatible server); links are S3 pre-signed URLs.

Object keys are `<prefix>/<snapshot id>/<part>`. A part streams to S3 as a
multipart upload of about `part_size` bytes per request, so memory is bounded
by one part buffer whatever the size of the part; an object smaller than one
buffer is sent with a single PUT on commit. Nothing is visible under its key
until the upload is completed. S3 and network failures surface as `OSError`,
like a full disk does for local files.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from pond.storage.base import StoredObject
from pond.storage.local import check_key, content_type

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

PART_SIZE = 8 << 20  # bytes buffered before one UploadPart (S3's minimum is 5 MiB)
# SigV4 refuses pre-signed URLs valid for more than seven days.
MAX_LINK_SECONDS = 7 * 24 * 3600
_DELETE_BATCH = 1000  # most keys one DeleteObjects request accepts

_S3_ERRORS = (BotoCoreError, ClientError)


def download_name(key: str) -> str:
    """The file name a browser saves the object under: `event_000.csv` for `<id>/event_000`."""
    name = key.rsplit("/", 1)[-1]
    return name if "." in name else f"{name}.csv"


class S3Writer:
    """Streams one object to S3; see `pond.storage.base.StagedWriter`."""

    def __init__(
        self, client: S3Client, bucket: str, object_key: str, key: str, part_size: int
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._object_key = object_key
        self._key = key
        self._part_size = part_size
        self._buffer = io.BytesIO()
        self._hash = hashlib.sha256()
        self._size = 0
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        # Stored with the object, so even an unsigned-header GET saves a named CSV.
        name = download_name(key)
        self._content_type = content_type(name)
        self._disposition = f'attachment; filename="{name}"'

    def write(self, data: bytes | bytearray) -> None:
        """Append `data`; a full buffer is sent as one part. OSError if S3 refuses it."""
        self._hash.update(data)
        self._size += len(data)
        self._buffer.write(data)
        if self._buffer.tell() >= self._part_size:
            self._send_part()

    def _send_part(self) -> None:
        try:
            if self._upload_id is None:
                started = self._client.create_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._object_key,
                    ContentType=self._content_type,
                    ContentDisposition=self._disposition,
                )
                self._upload_id = started["UploadId"]
            number = len(self._parts) + 1
            self._buffer.seek(0)
            answer = self._client.upload_part(
                Bucket=self._bucket,
                Key=self._object_key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=self._buffer,
            )
        except _S3_ERRORS as exc:
            raise OSError(f"S3 upload of {self._object_key} failed: {exc}") from exc
        self._parts.append({"ETag": answer["ETag"], "PartNumber": number})
        self._buffer = io.BytesIO()

    def commit(self) -> StoredObject:
        """Complete the upload (or PUT a small object); OSError if S3 refuses it."""
        try:
            if self._upload_id is None:
                self._buffer.seek(0)
                self._client.put_object(
                    Bucket=self._bucket,
                    Key=self._object_key,
                    Body=self._buffer,
                    ContentType=self._content_type,
                    ContentDisposition=self._disposition,
                )
            else:
                if self._buffer.tell():
                    self._send_part()
                self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._object_key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        except _S3_ERRORS as exc:
            self.abort()
            raise OSError(f"S3 upload of {self._object_key} failed: {exc}") from exc
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
        with contextlib.suppress(*_S3_ERRORS):
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._object_key, UploadId=upload_id
            )


class S3Store:
    """Objects under `s3://<bucket>/<prefix>/`; a boto3 client does the talking."""

    def __init__(
        self, client: S3Client, bucket: str, prefix: str = "", *, part_size: int = PART_SIZE
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._part_size = part_size

    def object_key(self, key: str) -> str:
        """The S3 key of pond's `key` (`<prefix>/<snapshot id>/<part>`); ValueError if malformed."""
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def stage(self, key: str) -> S3Writer:
        return S3Writer(self._client, self.bucket, self.object_key(key), key, self._part_size)

    def rename(self, src: str, dst: str) -> None:
        """Copy `src` to `dst` inside the bucket, then delete `src`; OSError on failure."""
        source, target = self.object_key(src), self.object_key(dst)
        name = download_name(dst)
        try:
            try:
                self._client.copy_object(
                    Bucket=self.bucket,
                    Key=target,
                    CopySource={"Bucket": self.bucket, "Key": source},
                    MetadataDirective="REPLACE",
                    ContentType=content_type(name),
                    ContentDisposition=f'attachment; filename="{name}"',
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code not in ("NoSuchKey", "404"):
                    raise
                self._client.head_object(Bucket=self.bucket, Key=target)  # moved already?
                return
            self._client.delete_object(Bucket=self.bucket, Key=source)
        except _S3_ERRORS as exc:
            raise OSError(f"S3 CopyObject of {source} to {target} failed: {exc}") from exc

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object (and unfinished upload) under `prefix/`; OSError on failure."""
        under = f"{self.prefix}/{prefix}/" if self.prefix else f"{prefix}/"
        try:
            self._abort_uploads(under)
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=under
            )
            keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = keys[start : start + _DELETE_BATCH]
                answer = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
                if answer.get("Errors"):
                    raise OSError(f"S3 refused to delete objects under {under}: {answer['Errors']}")
        except _S3_ERRORS as exc:
            raise OSError(f"S3 delete under {under} failed: {exc}") from exc

    def discard_unfinished(self, prefix: str) -> None:
        """Abort the multipart uploads under `prefix/` that were never completed."""
        under = f"{self.prefix}/{prefix}/" if self.prefix else f"{prefix}/"
        try:
            self._abort_uploads(under)
        except _S3_ERRORS as exc:
            raise OSError(f"S3 abort of uploads under {under} failed: {exc}") from exc

    def _abort_uploads(self, under: str) -> None:
        pages = self._client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=under
        )
        for page in pages:
            for upload in page.get("Uploads", []):
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
        name = download_name(key)
        # Whole seconds, rounded down, from now: the link ends at or before expires_at
        # (the service never asks for a link to a snapshot already past retention).
        remaining = int((expires_at - datetime.now(UTC)).total_seconds())
        params = {
            "Bucket": self.bucket,
            "Key": self.object_key(key),
            "ResponseContentDisposition": f'attachment; filename="{name}"',
            "ResponseContentType": content_type(name),
        }
        return self._client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=max(1, min(remaining, MAX_LINK_SECONDS))
        )
