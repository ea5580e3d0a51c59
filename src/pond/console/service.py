"""What the console decides: who may sign in, what a form means, operators."""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pond.auth import credentials, tokens
from pond.auth.keys import KeyRing
from pond.clients import service as clients
from pond.console import repository
from pond.errors import InputError, InvalidDateRange, PondError
from pond.snapshots.records import PartRecord, SnapshotRecord
from pond.snapshots.repository import Conn
from pond.storage.base import ObjectStore

_OPERATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$")


class SignInFailed(PondError):
    """Wrong client id, secret, operator name or password (never says which)."""

    status = 401
    code = "sign_in_failed"


@dataclass(frozen=True)
class PartLink:
    """A complete part with a freshly signed download link."""

    name: str
    size: int
    rows: int
    sha256: str
    href: str


async def sign_in(
    conn: Conn, keys: KeyRing, *, client_id: str, secret: str, issuer: str, ttl: int
) -> str:
    """An access token for the client, checked exactly as the token endpoint checks it."""
    client = await clients.authenticate(conn, keys.hasher, client_id.strip(), secret)
    if client is None:
        raise SignInFailed("the client id or secret is wrong, or the client was revoked")
    return tokens.issue(
        keys,
        client_id=client.client_id,
        scopes=list(client.scopes),
        generation=client.generation,
        issuer=issuer,
        ttl=ttl,
    )


def snapshot_params(form: dict[str, str]) -> dict[str, str]:
    """The API parameters of the create form.

    The browser's script fills `created_at_from`/`created_at_to` in UTC. Without
    it the `datetime-local` values are read with `tz_offset` (minutes east of
    UTC; absent means UTC).
    """
    params = {"entity": form.get("entity") or "event"}
    # The export options, checked by the snapshot service like the API's.
    fmt = form.get("format") or "csv"
    params["format"] = fmt
    if form.get("gzip") and fmt != "parquet":  # Parquet is compressed inside (zstd)
        params["compression"] = "gzip"
    if form.get("columns", "").strip():
        params["columns"] = form["columns"].strip()
    offset_text = form.get("tz_offset") or "0"
    if not re.fullmatch(r"[+-]?\d{1,4}", offset_text) or abs(int(offset_text)) > 14 * 60:
        raise InputError("tz_offset must be minutes east of UTC, between -840 and 840")
    offset = timedelta(minutes=int(offset_text))
    for name, local in (("created_at_from", "from_local"), ("created_at_to", "to_local")):
        if form.get(name):
            params[name] = form[name]
            continue
        text = form.get(local, "").strip()
        if not text:
            raise InvalidDateRange(f"choose a date and time for {name.removeprefix('created_at_')}")
        try:
            naive = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidDateRange(f"{text!r} is not a date and time") from None
        params[name] = (naive.replace(tzinfo=UTC) - offset).isoformat()
    return params


def part_links(
    record: SnapshotRecord,
    parts: list[PartRecord],
    *,
    store: ObjectStore,
    base_url: str,
    link_ttl: int,
) -> tuple[list[PartLink], datetime]:
    """Signed links for the parts, and when they expire (never past the snapshot's retention)."""
    expires_at = min(datetime.now(UTC) + timedelta(seconds=link_ttl), record.expires_at)
    links = []
    for part in parts:
        if part.size is None or part.row_count is None or part.sha256 is None:
            continue  # a failed part: no object to link to
        href = store.signed_url(
            f"{record.id}/{part.name}", expires_at=expires_at, base_url=base_url
        )
        links.append(PartLink(part.name, part.size, part.row_count, part.sha256, href))
    return links, expires_at


async def create_operator(conn: Conn, name: str) -> str:
    """Add operator `name`; return the generated password (shown once, stored as a hash)."""
    if not _OPERATOR_NAME.match(name):
        raise InputError(
            f"invalid operator name {name!r}",
            hint="use 1-63 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
        )
    password = secrets.token_urlsafe(18)
    password_hash = await asyncio.to_thread(credentials.hash_password, password)
    if not await repository.insert_operator(conn, name, password_hash):
        raise InputError(f"operator {name!r} already exists", hint="choose another --name")
    return password


async def operator_sign_in(conn: Conn, name: str, password: str) -> None:
    """Check an operator's password; `SignInFailed` if it is wrong or there is no such operator."""
    stored = await repository.operator_hash(conn, name.strip())
    if not await asyncio.to_thread(credentials.verify_password, password, stored):
        raise SignInFailed("the operator name or password is wrong")
    await repository.touch_operator(conn, name.strip())
