"""Fetching OIDC ID tokens from CI systems, as each one hands them out.

Each function asks one CI system for a token for ``audience`` and returns it, or raises ``InputError`` with a
reason code when the CI system is there but does not answer with a token (the caller must never fall back to
another credential then). Which system is present is decided in :mod:`assay.sign.ambient`.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence

import httpx

from assay.errors import InputError


def _timeout() -> float:
    """Seconds to wait for a CI system's token (``ASSAY_CI_TOKEN_TIMEOUT``, default 10)."""
    try:
        return max(0.1, float(os.environ.get("ASSAY_CI_TOKEN_TIMEOUT", "10")))
    except ValueError:
        return 10.0


def github_actions(request_url: str, request_token: str, audience: str, *, timeout: float | None = None) -> str:
    """GitHub Actions: GET the runner's token URL with the request token as bearer and the audience as a query."""
    timeout = _timeout() if timeout is None else timeout
    try:
        resp = httpx.get(
            httpx.URL(request_url).copy_merge_params({"audience": audience}),  # keeps the URL's own query
            headers={"Authorization": f"bearer {request_token}", "Accept": "application/json; api-version=2.0"},
            timeout=timeout,
        )
    except httpx.TimeoutException as exc:
        raise InputError("ci-token-unavailable", f"GitHub Actions token endpoint timed out: {exc}") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise InputError("ci-token-unavailable", f"GitHub Actions token endpoint unreachable: {exc}") from exc
    if resp.status_code != 200:
        raise InputError(
            "ci-token-unavailable", f"GitHub Actions token endpoint answered HTTP {resp.status_code}: {resp.text[:200]}"
        )
    try:
        value = resp.json()["value"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError("ci-token-unavailable", "GitHub Actions token endpoint answered without a 'value'") from exc
    if not isinstance(value, str) or not value:
        raise InputError("ci-token-unavailable", "GitHub Actions token endpoint answered an empty 'value'")
    return value


def from_command(system: str, argv: Sequence[str], *, timeout: float | None = None) -> str:
    """A token printed on stdout by a CI agent's command (``buildkite-agent``, ``circleci``)."""
    timeout = _timeout() if timeout is None else timeout
    try:
        proc = subprocess.run(list(argv), capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise InputError("ci-token-unavailable", f"{system}: {argv[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise InputError("ci-token-unavailable", f"{system}: {argv[0]} timed out after {timeout:g}s") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(
            "ci-token-unavailable", f"{system}: {argv[0]} exited {proc.returncode}: {err[-1] if err else ''}"
        )
    token = proc.stdout.decode("utf-8", "replace").strip()
    if not token:
        raise InputError("ci-token-unavailable", f"{system}: {argv[0]} printed no token")
    return token


def buildkite(audience: str) -> str:
    """Buildkite: ``buildkite-agent oidc request-token --audience AUD``."""
    return from_command("Buildkite", ["buildkite-agent", "oidc", "request-token", "--audience", audience])


def circleci(audience: str) -> str:
    """CircleCI: ``circleci run oidc get --claims '{"aud": AUD}'``."""
    return from_command("CircleCI", ["circleci", "run", "oidc", "get", "--claims", json.dumps({"aud": audience})])
