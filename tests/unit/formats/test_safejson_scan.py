"""The strict JSON loader's pre-scans: same answers as a character-by-character scan, in linear time."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import InputError
from assay.formats import safejson


def _reference_depth_ok(text: str, limit: int) -> bool:
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='[]{}"\\a', max_size=60), st.integers(min_value=0, max_value=6))
def test_depth_scan_agrees_with_reference(text, limit):
    assert safejson._depth_ok(text, limit) == _reference_depth_ok(text, limit)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.text(alphabet='[]{}"\\a', max_size=5) | st.integers(),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(alphabet='[]{"\\', max_size=3), c, max_size=3),
        max_leaves=30,
    ),
    st.integers(min_value=0, max_value=8),
)
def test_depth_limit_on_json_documents(value, limit):
    import json

    text = json.dumps(value)
    assert safejson._value_depth_ok(value, limit) == _reference_depth_ok(text, limit)
    if _reference_depth_ok(text, limit):
        assert safejson.loads(text, max_depth=limit) == value
    else:
        with pytest.raises(InputError) as exc:
            safejson.loads(text, max_depth=limit)
        assert exc.value.reason == "json-too-deep"


def test_too_deep_wins_over_invalid():
    with pytest.raises(InputError) as exc:
        safejson.loads("[" * 100 + "x", max_depth=64)
    assert exc.value.reason == "json-too-deep"
    with pytest.raises(InputError) as exc:
        safejson.loads("[" * 5000 + "]" * 5000)
    assert exc.value.reason == "json-too-deep"


def test_depth_scan_is_linear_on_many_escaped_quotes():
    text = '"' + '\\"' * 500_000
    start = time.perf_counter()
    assert safejson._depth_ok(text, 64)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("doc", ['"\\ud800"', '{"a": "\\uDFFF"}', '["x", "\\udbff"]'])
def test_lone_surrogates_still_rejected(doc):
    with pytest.raises(InputError):
        safejson.loads(doc)


def test_pairs_and_escaped_backslashes_pass():
    assert safejson.loads('"\\ud83d\\ude00"') == "\U0001f600"
    assert safejson.loads('"\\\\ud800"') == "\\ud800"
