"""Rule locations in JSON layouts found by the token scan agree with the YAML composer's."""

from __future__ import annotations

import json

import pytest

from assay.layout import jsonlocate, yamlform

STEP = {
    "_type": "step",
    "name": "build",
    "expected_materials": [["MATCH", "*", "WITH", "PRODUCTS", "FROM", "fetch"], ["DISALLOW", "*"]],
    "expected_products": [["CREATE", "app"], ["DISALLOW", "*"]],
    "pubkeys": ["ab"],
    "threshold": 1,
}
LAYOUT = {
    "_type": "layout",
    "expires": "2035-01-01T00:00:00Z",
    "keys": {"ab": {"keyval": {"public": "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"}}},
    "steps": [{**STEP, "name": "fetch", "expected_materials": []}, STEP],
    "inspect": [{"_type": "inspection", "name": "untar", "run": ["tar", "x"], "expected_materials": [["ALLOW", "*"]]}],
    "readme": 'a "quoted" {readme} [with] brackets, and: commas',
}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"signatures": [{"keyid": "ab", "sig": "00"}], "signed": LAYOUT}, indent=1, sort_keys=True),
        json.dumps({"signed": LAYOUT, "signatures": []}, indent=4),
        json.dumps({"signed": LAYOUT, "signatures": []}),
        json.dumps(LAYOUT, indent=2),
        '{\n "signed": ' + json.dumps(LAYOUT, indent=2, ensure_ascii=True).replace("\n", "\r\n") + "}",
        json.dumps({"payload": "e30=", "payloadType": "application/vnd.in-toto+json", "signatures": []}),
    ],
)
def test_token_scan_agrees_with_yaml(text: str) -> None:
    assert jsonlocate.json_locations(text, "root.layout") == yamlform.json_locations(text, "root.layout")


def test_a_signed_layout_finds_every_rule() -> None:
    text = json.dumps({"signatures": [], "signed": LAYOUT}, indent=1, sort_keys=True)
    found = jsonlocate.json_locations(text, "root.layout")
    assert sorted(found) == [
        ("build", "materials", 0), ("build", "materials", 1), ("build", "products", 0), ("build", "products", 1),
        ("fetch", "products", 0), ("fetch", "products", 1), ("untar", "materials", 0),
    ]  # fmt: skip
    line = int(found[("build", "materials", 1)].rsplit(":", 1)[1])
    lines = text.splitlines()
    assert lines[line - 1].strip() == "[" and lines[line].strip() == '"DISALLOW",'  # the rule starts there


@pytest.mark.parametrize("text", ["", "{", '{"signed": [1, 2', "[1,,2]", '{"a" 1}', "not json"])
def test_text_it_cannot_follow_gives_no_locations(text: str) -> None:
    assert jsonlocate.json_locations(text, "x") == {}
