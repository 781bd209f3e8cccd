"""The orjson fast path of the strict JSON loader gives json.loads' value or steps aside."""

from __future__ import annotations

import json

import pytest

from assay.errors import InputError
from assay.formats import safejson

SAME = [
    b'{"a": 1, "a": 2}',
    b'{"big": 18446744073709551615, "neg": -9223372036854775808}',
    b'{"x": [1.5, -0.0, 2e3]}',
    b'{"s": "\\u0000 \\ud83d\\ude00 \\"q\\" \xe2\x80\xa8"}',
    b' [ {"a" : [ ] } ] ',
    b'"just a string"',
]


@pytest.mark.parametrize("data", SAME)
def test_fast_or_not_the_value_is_json_loads(data: bytes) -> None:
    value = safejson.loads(data)
    assert value == json.loads(data) and type(value) is type(json.loads(data))


def test_an_integer_beyond_64_bits_stays_an_integer() -> None:
    value = safejson.loads(b'{"n": 18446744073709551616}')  # orjson would read a float
    assert value == {"n": 18446744073709551616} and type(value["n"]) is int
    assert safejson.load_object_checked(b'{"n": 18446744073709551616}') == (value, False)


def test_floatless_is_claimed_only_without_floats() -> None:
    assert safejson.load_object_checked(b'{"a": [1, "1.5"]}') == ({"a": [1, "1.5"]}, True)
    assert safejson.load_object_checked(b'{"a": [1, 1.5]}') == ({"a": [1, 1.5]}, False)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a": "\\ud800"}', "json-invalid"),  # a lone surrogate
        (b'{"a": NaN}', "json-invalid"),
        (b'{"a": 1e400}', None),  # json.loads reads infinity, as before
        (b"\xef\xbb\xbf{}", None),  # a BOM is skipped, as before
        (b'{"a": "\xff"}', "json-invalid"),
        (b"[" * 65 + b"]" * 65, "json-too-deep"),
        (b"[" * 2000 + b"]" * 2000, "json-too-deep"),
    ],
)
def test_what_orjson_refuses_gets_the_slow_paths_answer(data: bytes, reason: str | None) -> None:
    if reason is None:
        safejson.loads(data)
        return
    with pytest.raises(InputError) as exc:
        safejson.loads(data)
    assert exc.value.reason == reason
