"""The order and the checks of ambient token detection, without a network."""

import base64
import json

import pytest

from assay.errors import InputError
from assay.sign import ambient


def _jwt(claims: dict) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc({'alg': 'ES256'})}.{enc(claims)}.sig"


def test_order_first_present_wins() -> None:
    a, s = _jwt({"aud": "sigstore", "n": 1}), _jwt({"aud": ["x", "sigstore"]})
    assert ambient.detect({"ASSAY_ID_TOKEN": a, "SIGSTORE_ID_TOKEN": s}).source == "ASSAY_ID_TOKEN"
    assert ambient.detect({"SIGSTORE_ID_TOKEN": s, "GITLAB_CI": "true"}).source == "GitLab CI"
    assert ambient.detect({"SIGSTORE_ID_TOKEN": s}).source == "SIGSTORE_ID_TOKEN"
    assert ambient.detect({"ASSAY_IDENTITY_TOKEN": a}).token == a


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("abc", "identity-token-malformed"),
        ("a.!!!.c", "identity-token-malformed"),
        (_jwt({"sub": "x"}), "identity-token-malformed"),
        (_jwt({"aud": 5}), "identity-token-malformed"),
        (_jwt({"aud": "other"}), "ci-token-audience"),
    ],
)
def test_bad_tokens(token: str, reason: str) -> None:
    with pytest.raises(InputError) as e:
        ambient.detect({"SIGSTORE_ID_TOKEN": token})
    assert e.value.reason == reason


def test_nothing_found() -> None:
    with pytest.raises(InputError) as e:
        ambient.detect({"PATH": "/bin"})
    assert e.value.reason == "no-identity-token"


def test_github_needs_both_variables() -> None:
    with pytest.raises(InputError) as e:
        ambient.detect({"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"})
    assert e.value.reason == "ci-token-unavailable" and "ACTIONS_ID_TOKEN_REQUEST_URL" in str(e.value)
