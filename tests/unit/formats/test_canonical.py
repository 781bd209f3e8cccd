"""The fast canonical-JSON path writes exactly what the rfc8785 library writes, for every JSON value."""

from __future__ import annotations

import json
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.formats import canonical
from assay.log.entries import canonicalize, hashedrekord_proposal

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.text(alphabet=st.characters(max_codepoint=0x7F)),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


def _reference(value: Any) -> bytes | type[Exception]:
    try:
        return rfc8785.dumps(value)
    except Exception as exc:
        return type(exc)


@settings(max_examples=600, deadline=None)
@given(JSON)
def test_same_bytes_as_the_library(value: Any) -> None:
    expected = _reference(value)
    if isinstance(expected, bytes):
        assert canonical.dumps(value) == expected
    else:
        try:
            got = canonical.dumps(value)
        except Exception as exc:
            assert type(exc) is expected
        else:
            raise AssertionError(f"the fast path wrote {got!r} where the library refuses the value")


def test_control_characters_and_non_ascii_take_the_library_path() -> None:
    for value in ({"a": "\x1f"}, {"é": 1}, {"k": "\u2028"}, {"n": 2**53 - 1}, {"f": 1.5}, {"t": "a\nb\t\\"}):
        assert canonical.dumps(value) == rfc8785.dumps(value), value


def test_a_log_body_is_unchanged() -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = b"\x07" * 32
    entry = canonicalize(hashedrekord_proposal(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))), digest, pem))
    assert entry.body == rfc8785.dumps(json.loads(entry.body))
