"""Choosing the identity token for keyless signing when none is given: the CI system's own credential.

The order is fixed and documented (the first source present wins):

1. ``ASSAY_ID_TOKEN`` (and the older ``ASSAY_IDENTITY_TOKEN``): a token placed in the environment for assay;
2. GitHub Actions: ``ACTIONS_ID_TOKEN_REQUEST_URL`` + ``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` (the job needs
   ``permissions: id-token: write``), asked for audience ``sigstore``;
3. GitLab CI: ``SIGSTORE_ID_TOKEN`` with ``GITLAB_CI`` set (the job's ``id_tokens:`` entry, ``aud: sigstore``);
4. Buildkite: ``BUILDKITE`` set, ``buildkite-agent oidc request-token --audience sigstore``;
5. CircleCI: ``CIRCLECI`` set, ``circleci run oidc get``;
6. ``SIGSTORE_ID_TOKEN`` anywhere else (the generic variable cosign and sigstore-python read).

A source that is present but fails (endpoint down, HTTP 500, empty answer, a token minted for another audience)
is an error naming it: never a silent fall-through to the next source. With none present the error lists every
place looked at.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from assay.errors import InputError

AUDIENCE = "sigstore"


@dataclass(frozen=True)
class AmbientToken:
    """A token and the CI system it came from (said to the user)."""

    source: str
    token: str


Fetch = Callable[[Mapping[str, str], str], "str | None"]


def _env_var(*names: str) -> Fetch:
    def fetch(env: Mapping[str, str], audience: str) -> str | None:
        for name in names:
            if env.get(name):
                return env[name].strip()
        return None

    return fetch


def _github(env: Mapping[str, str], audience: str) -> str | None:
    url, req = env.get("ACTIONS_ID_TOKEN_REQUEST_URL"), env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url and not req:
        return None
    if not url or not req:
        missing = "ACTIONS_ID_TOKEN_REQUEST_TOKEN" if url else "ACTIONS_ID_TOKEN_REQUEST_URL"
        raise InputError(
            "ci-token-unavailable",
            f"GitHub Actions: {missing} is not set",
            hint="give the job `permissions: id-token: write`",
        )
    from assay.clients import ci_tokens

    return ci_tokens.github_actions(url, req, audience)


def _gitlab(env: Mapping[str, str], audience: str) -> str | None:
    if not env.get("GITLAB_CI"):
        return None
    return _env_var("SIGSTORE_ID_TOKEN")(env, audience)


def _buildkite(env: Mapping[str, str], audience: str) -> str | None:
    if not env.get("BUILDKITE"):
        return None
    from assay.clients import ci_tokens

    return ci_tokens.buildkite(audience)


def _circleci(env: Mapping[str, str], audience: str) -> str | None:
    if not env.get("CIRCLECI"):
        return None
    from assay.clients import ci_tokens

    return ci_tokens.circleci(audience)


SOURCES: tuple[tuple[str, str, Fetch], ...] = (
    ("ASSAY_ID_TOKEN", "ASSAY_ID_TOKEN or ASSAY_IDENTITY_TOKEN", _env_var("ASSAY_ID_TOKEN", "ASSAY_IDENTITY_TOKEN")),
    ("GitHub Actions", "ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN", _github),
    ("GitLab CI", "SIGSTORE_ID_TOKEN with GITLAB_CI", _gitlab),
    ("Buildkite", "buildkite-agent with BUILDKITE", _buildkite),
    ("CircleCI", "circleci with CIRCLECI", _circleci),
    ("SIGSTORE_ID_TOKEN", "SIGSTORE_ID_TOKEN", _env_var("SIGSTORE_ID_TOKEN")),
)


def audiences(token: str) -> list[str]:
    """The ``aud`` claim of a JWT (not verified here: the CA verifies the token; this only catches a wrong mint)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InputError("identity-token-malformed", "the identity token is not a JWT (three dot-separated parts)")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError("identity-token-malformed", "the identity token's payload is not base64url JSON") from exc
    aud = payload.get("aud") if isinstance(payload, dict) else None
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return list(aud)
    raise InputError("identity-token-malformed", "the identity token has no 'aud' claim")


def detect(env: Mapping[str, str] | None = None, audience: str = AUDIENCE) -> AmbientToken:
    """The first ambient token present, checked to be minted for ``audience``; raises naming every place looked."""
    env = os.environ if env is None else env
    for source, _where, fetch in SOURCES:
        token = fetch(env, audience)
        if token is None:
            continue
        got = audiences(token)
        if audience not in got:
            raise InputError(
                "ci-token-audience",
                f"{source} gave a token for audience {', '.join(got) or '(none)'}, not {audience!r}",
                hint=f"configure the CI job's ID token with aud: {audience}",
            )
        return AmbientToken(source, token)
    looked = "; ".join(where for _s, where, _f in SOURCES)
    raise InputError(
        "no-identity-token",
        f"no --key, no --identity-token and no CI credential found (looked for: {looked})",
        hint="pass --key KEY, or --identity-token TOKEN, or run in a CI job with an OIDC ID token",
    )
