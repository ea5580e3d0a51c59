"""Pick the object store the settings ask for."""

from __future__ import annotations

from pond.auth.keys import KeyRing
from pond.downloads.signing import LinkSigner
from pond.settings import Settings
from pond.storage.base import ObjectStore
from pond.storage.local import LocalStore


def open_store(settings: Settings, keys: KeyRing) -> ObjectStore:
    """The configured store (today: local files under `settings.objects_dir`)."""
    root = settings.objects_dir.expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return LocalStore(root, LinkSigner(keys.link_kid, keys.link_secret))
