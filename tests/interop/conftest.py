"""Interop tests reuse the real-server fixtures of the integration suite."""

from tests.integration.conftest import database, dev_server, pg_database, registry, server  # noqa: F401
