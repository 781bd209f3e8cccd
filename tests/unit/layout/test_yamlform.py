"""The YAML layout: conversion to the in-toto document, locations, and rejection of bad layouts (file:line)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from assay.crypto import keys
from assay.errors import InputError
from assay.layout import yamlform
from assay.layout.envelope import key_dict_from_public

PUB = ec.generate_private_key(ec.SECP256R1()).public_key()
OTHER = ec.generate_private_key(ec.SECP256R1()).public_key()
KEYS = {"alice.pub": PUB, "bob.pub": OTHER}

GOOD = """\
expires: 2030-01-01T00:00:00Z
functionaries:
  alice: {key: alice.pub}
  bob: {key: bob.pub}
  ci:
    issuer: https://token.actions.githubusercontent.com
    subject_regexp: https://github.com/acme/.*
    claims: {githubWorkflowRepository: acme/app}
steps:
  - name: build
    functionaries: [alice, ci]
    threshold: 2
    expected_command: make all
    expected_products:
      - CREATE dist/*
      - DISALLOW *
  - name: package
    functionaries: [bob]
    expected_materials:
      - "MATCH dist/* WITH PRODUCTS FROM build"
      - [DISALLOW, "*"]
inspections:
  - name: unpack
    run: [tar, xf, app.tar]
    expected_materials: ["MATCH * WITH PRODUCTS FROM package"]
"""


def convert(text: str):
    return yamlform.convert(text, "root.yaml", lambda name: KEYS[name])


def test_converts_to_in_toto_layout_with_lines():
    doc, layout = convert(GOOD)
    alice = key_dict_from_public(PUB)["keyid"]
    assert doc["expires"] == "2030-01-01T00:00:00Z"
    build = doc["steps"][0]
    assert build["pubkeys"][0] == alice and build["threshold"] == 2 and build["expected_command"] == ["make", "all"]
    ci = doc["keys"][build["pubkeys"][1]]
    assert ci["keytype"] == "sigstore-oidc" and ci["keyval"]["claims"] == {"githubWorkflowRepository": "acme/app"}
    assert doc["steps"][1]["expected_materials"][1] == ["DISALLOW", "*"]
    assert doc["inspect"][0]["run"] == ["tar", "xf", "app.tar"]
    assert layout.locations[("build", "products", 1)] == "root.yaml:16"
    assert layout.locations[("package", "materials", 0)] == "root.yaml:20"


@pytest.mark.parametrize(
    ("change", "reason", "line"),
    [
        (("      - DISALLOW *\n  - name: package", "      - DENY *\n  - name: package"), "rule-unknown-keyword", 16),
        (('"MATCH dist/* WITH PRODUCTS FROM build"', '"MATCH dist/* WITH FROM build"'), "rule-invalid", 20),
        (("    threshold: 2\n", "    threshold: 2\n    thresold: 3\n"), "layout-unknown-field", 13),
        (("name: package", "name: build"), "duplicate-step-name", None),
        (("functionaries: [bob]", "functionaries: [carol]"), "unknown-functionary", 18),
        (("threshold: 2", "threshold: 3"), "threshold-above-functionaries", None),
        (("    subject_regexp: https://github.com/acme/.*\n", ""), "functionary-incomplete", 6),
        (("expires: 2030-01-01T00:00:00Z", "expires: tomorrow"), "layout-malformed", 1),
    ],
)
def test_bad_layouts(change, reason, line):
    old, new = change
    assert old in GOOD
    with pytest.raises(InputError) as exc:
        convert(GOOD.replace(old, new, 1))
    assert exc.value.reason == reason
    if line is not None:
        assert f"root.yaml:{line}" in exc.value.message


def test_invalid_yaml_is_input_error():
    with pytest.raises(InputError) as exc:
        convert("steps: [\n")
    assert exc.value.reason == "yaml-invalid"


def test_json_locations_of_a_signed_layout():
    text = '{\n "signed": {\n  "steps": [\n   {\n    "name": "a",\n    "expected_materials": [\n     ["ALLOW", "*"]\n    ]\n   }\n  ]\n }\n}\n'
    assert yamlform.json_locations(text, "root.layout") == {("a", "materials", 0): "root.layout:7"}


def test_template_converts():
    text = yamlform.template("2030-01-01T00:00:00Z", {"alice": "alice.pub"})
    doc, _ = convert(text)
    assert [s["name"] for s in doc["steps"]] == ["checkout", "build"]


def test_inline_public_key():
    pem = keys.public_pem(PUB).decode()
    text = "expires: 2030-01-01T00:00:00Z\nfunctionaries:\n  a:\n    public_key: |\n" + "".join(
        f"      {line}\n" for line in pem.splitlines()
    )
    doc, _ = convert(text)
    assert list(doc["keys"]) == [key_dict_from_public(PUB)["keyid"]]
