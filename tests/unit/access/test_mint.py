"""THE issuance rule (``access.mint.mint``): never longer or stronger than the maker."""

from __future__ import annotations

import pytest

from assay.access.errors import AccessError
from assay.access.mint import KINDS, MAX_TOKEN_LIFETIME, SESSION_LIFETIME, Maker, mint
from assay.errors import InputError

NOW = 1_000_000


def _refused(exc: pytest.ExceptionInfo[InputError], status: int | None, reason: str) -> None:
    assert exc.value.reason == reason
    if status is not None:
        assert isinstance(exc.value, AccessError) and exc.value.status == status


def test_only_an_identity_makes_a_session_and_only_a_session_makes_an_api_token() -> None:
    made = mint("session", Maker("identity"), role=None, lifetime=None, now=NOW)
    assert (made.role, made.expires, made.parent) == (None, NOW + SESSION_LIFETIME, None)
    for maker in ("session", "token"):
        with pytest.raises(AccessError) as exc:
            mint("session", Maker(maker, "x"), role=None, lifetime=60, now=NOW)
        assert exc.value.status == 403
    token = mint("api-token", Maker("session", "s1", "publisher"), role="publisher", lifetime=None, now=NOW)
    assert (token.role, token.expires) == ("publisher", None)  # a session's token may be open-ended
    for role in ("admin", "viewer"):
        with pytest.raises(AccessError) as exc:
            mint("api-token", Maker("token", "t1", "admin", NOW + 5), role=role, lifetime=None, now=NOW)
        _refused(exc, 403, "token-cannot-mint")


def test_role_and_lifetime_bounds() -> None:
    maker = Maker("session", "s1", "publisher")
    with pytest.raises(AccessError) as exc:
        mint("api-token", maker, role="admin", lifetime=60, now=NOW)
    _refused(exc, 403, "role-above-own")
    with pytest.raises(AccessError) as exc:
        mint("api-token", Maker("session", "s1", None), role="viewer", lifetime=60, now=NOW)
    _refused(exc, 403, "role-above-own")
    for bad in (0, -1, MAX_TOKEN_LIFETIME + 1):
        with pytest.raises(InputError) as err:
            mint("api-token", maker, role="viewer", lifetime=bad, now=NOW)
        _refused(err, None, "bad-duration")
    with pytest.raises(InputError) as err:
        mint("api-token", maker, role="owner", lifetime=60, now=NOW)
    _refused(err, None, "unknown-role")


@pytest.mark.parametrize("kind", ["registry-token", "broker-release"])
def test_a_derived_credential_never_outlives_or_outranks_its_token(kind: str) -> None:
    token = Maker("token", "t1", "publisher", NOW + 5)
    made = mint(kind, token, role="viewer", lifetime=None, now=NOW)
    assert (made.role, made.expires, made.parent) == ("viewer", NOW + 5, "t1")
    assert mint(kind, token, role="publisher", lifetime=2, now=NOW).expires == NOW + 2
    with pytest.raises(AccessError) as exc:
        mint(kind, token, role="admin", lifetime=2, now=NOW)
    _refused(exc, 403, "role-above-own")
    # no open-ended derived credentials; from a session, bound to the session
    made = mint(kind, Maker("session", "s1", "admin"), role="admin", lifetime=None, now=NOW)
    assert made.expires == NOW + KINDS[kind].max_lifetime and made.parent == "s1"
    assert mint(kind, Maker("session", "s1", "admin", NOW + 7), role="admin", lifetime=None, now=NOW).expires == NOW + 7
