"""The dashboard's cookie and redirect rules (pure parts of server/ui_session.py)."""

from __future__ import annotations

import pytest

from assay.server.ui_session import safe_next, secure_cookies


@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("http://127.0.0.1:8080", False),
        ("http://localhost:8080", False),
        ("http://[::1]:8080", False),
        ("http://127.0.0.2", False),
        ("https://assay.example.com", True),
        ("http://assay.example.com", True),  # a non-loopback plain-http server still never sends it in clear
        ("http://127.0.0.1.example.com", True),
    ],
)
def test_session_cookies_are_secure_unless_loopback(url: str, secure: bool) -> None:
    assert secure_cookies(url) is secure


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/ui/projects/acme", "/ui/projects/acme"),
        ("/ui/log?x=1", "/ui/log?x=1"),
        (None, "/ui/projects"),
        ("", "/ui/projects"),
        ("https://evil.example/ui/", "/ui/projects"),
        ("//evil.example/ui/", "/ui/projects"),
        ("/ui//evil.example", "/ui/projects"),
        ("/ui/\\evil", "/ui/projects"),
        ("/api/v1/audit", "/ui/projects"),
    ],
)
def test_only_local_dashboard_paths_are_returned_to(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected
