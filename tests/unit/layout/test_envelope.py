"""Canonical JSON and the signed containers of links and layouts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from securesystemslib.formats import encode_canonical

from assay.errors import InputError
from assay.layout import envelope
from assay.layout.model import Link

from .conftest import party

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_canonical_matches_securesystemslib(doc):
    assert envelope.canonical(doc) == encode_canonical(doc).encode("utf-8")


def test_canonical_control_characters_and_backslashes():
    for s in ["a\nb", "\\n", "\\\\n", 'q"\\', "\x00\x1f\x7f", "é\u2028"]:
        assert envelope.canonical({"k": s}) == encode_canonical({"k": s}).encode()


wide_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.sampled_from(["null", "1.5", "2e3", 'a"b', "\\", "\U0001f600", "\x7f", "\u2028"])
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(wide_values)
def test_canonical_fast_path_matches_securesystemslib(doc):
    """orjson's output is taken only when it is the canonical encoding (wide integers, look-alike strings)."""
    assert envelope.canonical(doc) == encode_canonical(doc).encode("utf-8")


@pytest.mark.parametrize("value", [1.5, 1e400, float("nan"), -0.0, 3.0])
def test_canonical_refuses_every_float_like_securesystemslib(value):
    for doc in ({"x": value}, {"a": [None, {"b": value}]}, [True, value], [value], value, {"k:1.5": [value]}):
        with pytest.raises(Exception):  # noqa: B017 - securesystemslib's own FormatError
            encode_canonical(doc)
        with pytest.raises(Exception):  # noqa: B017
            envelope.canonical(doc)


def test_canonical_refuses_floats_like_securesystemslib():
    with pytest.raises(Exception):  # noqa: B017 - securesystemslib's own FormatError
        envelope.canonical({"x": 1.5})


def test_forms_round_trip_and_verify():
    alice, mallory = party(), party("ed25519")
    link = Link("build", ["make"], {"a": {"sha256": "ab" * 32}}, {"b": {"sha256": "cd" * 32}})
    for sign in (envelope.sign_metablock, envelope.sign_dsse):
        sd = envelope.parse_signed(json.dumps(sign([alice.signer], link.to_dict())).encode(), "x")
        assert sd.link("x") == link
        assert envelope.verify_legacy(sd, alice.key) and not envelope.verify_legacy(sd, mallory.key)


def test_statement_form_carries_the_link():
    link = Link("build", ["make"], {"a": {"sha256": "ab" * 32}}, {"b": {"sha256": "cd" * 32}}, {"return-value": 0})
    stmt = json.loads(envelope.link_statement(link).to_json_bytes())
    assert stmt["predicateType"] == "https://in-toto.io/attestation/link/v0.3"
    assert Link.from_statement(stmt["subject"], stmt["predicate"]) == link


@pytest.mark.parametrize(
    "data",
    [
        b"[]",
        b'{"signed": [], "signatures": []}',
        b'{"signed": {}, "signatures": [{"keyid": "a", "sig": "zz"}]}',
        b'{"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": [{"sig": "AA=="}]}',
        b'{"something": "else"}',
    ],
)
def test_malformed_containers_are_input_errors(data):
    with pytest.raises(InputError):
        envelope.parse_signed(data, "x")


def test_a_metablock_parsed_float_free_signs_the_same_bytes_as_securesystemslib():
    from securesystemslib.formats import encode_canonical

    for signed in ({"_type": "link", "n": 18446744073709551616, "s": "1.5"}, {"_type": "link", "a": [1, "x"]}):
        data = json.dumps({"signatures": [], "signed": signed}).encode()
        assert envelope.parse_signed(data, "x").message == encode_canonical(signed).encode()
    with pytest.raises(Exception):  # noqa: B017 - a float: securesystemslib refuses it, and so does assay
        envelope.parse_signed(json.dumps({"signatures": [], "signed": {"_type": "link", "f": 1.5}}).encode(), "x")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='ab\\"\n\t\r\x00\x01\x08\x0c\x1f\x7f/\u2028\xe9\U0001f600', max_size=16))
def test_canonical_of_escaped_strings_is_securesystemslib_and_takes_the_fast_path(text):
    doc = {text: [text, {"x" + text: text}], "pem": "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"}
    assert envelope._canonical_fast(doc) == encode_canonical(doc).encode("utf-8")
