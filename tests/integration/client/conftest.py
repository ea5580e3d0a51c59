"""The client's integration fixtures (shared with its acceptance tests)."""

from tests.integration.client.fixtures import acme, behind_proxy, make_setup
from tests.integration.client.flavours import connect

__all__ = ["acme", "behind_proxy", "connect", "make_setup"]
