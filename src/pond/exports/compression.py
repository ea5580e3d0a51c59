"""Gzip parts compressed while they stream, at the fastest level.

ISA-L (`isal`, in the server extra) compresses several times faster than zlib
and about as fast as the disk writes; zlib at level 1 stands in where isal is
not installed. Never the default level 6: it triples the export's time.
"""

from __future__ import annotations

import zlib
from typing import Any

from pond.storage.base import StagedWriter, StoredObject


def _fast_codec() -> Any:
    """isal's zlib-compatible module, or zlib itself where isal is not installed."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - isal is part of the server extra
        return zlib
    return isal_zlib


_codec = _fast_codec()
_LEVEL = 1  # isal: 0-3, 1 its default and fast; zlib: 1, its fastest deflate

_GZIP_WBITS = 31  # 16 + 15: a gzip header and trailer around a deflate stream


class GzipWriter:
    """A `StagedWriter` that gzips what it is given into another one.

    The stored object (its size and sha256) is the compressed file a user downloads.
    """

    def __init__(self, inner: StagedWriter) -> None:
        self._inner = inner
        self._compressor: Any = _codec.compressobj(_LEVEL, zlib.DEFLATED, _GZIP_WBITS)

    def write(self, data: bytes | bytearray) -> None:
        compressed = self._compressor.compress(data)
        if compressed:
            self._inner.write(compressed)

    def commit(self) -> StoredObject:
        self._inner.write(self._compressor.flush())
        return self._inner.commit()

    def abort(self) -> None:
        self._inner.abort()
