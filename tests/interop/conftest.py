"""Interop tests reuse the real-server fixtures of the integration suite."""

from tests.integration.conftest import database, pg_database, server  # noqa: F401
