"""The client's acceptance tests use the same real server fixtures as its integration tests."""

from tests.integration.client.fixtures import acme, behind_proxy, make_setup

__all__ = ["acme", "behind_proxy", "make_setup"]
