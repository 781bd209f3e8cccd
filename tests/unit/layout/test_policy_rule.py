"""The policy ``layout`` rule over an already-loaded layout and links."""

from __future__ import annotations

from assay.layout.model import Link
from assay.policy.layout_rule import evaluate_layout

from .conftest import NOW, MemStore, digest, layout_doc, signed_layout


def _setup(owner, alice, bob):
    doc = layout_doc(
        [
            {"name": "build", "pubkeys": [alice.keyid], "expected_products": [["CREATE", "*"]]},
            {
                "name": "package",
                "pubkeys": [bob.keyid],
                "expected_materials": [["MATCH", "*", "WITH", "PRODUCTS", "FROM", "build"]],
                "expected_products": [["CREATE", "app.tar"], ["ALLOW", "*"]],
            },
        ],
        [alice, bob],
    )
    store = MemStore()
    store.add_link(alice, Link("build", [], {}, {"app": digest("a")}))
    store.add_link(bob, Link("package", [], {"app": digest("a")}, {"app": digest("a"), "app.tar": digest("b")}))
    return signed_layout(doc, owner), store


def test_artifact_of_last_step_passes(owner, alice, bob):
    sd, store = _setup(owner, alice, bob)
    res = evaluate_layout("chain", "b" * 64, sd, [owner.key], store, NOW)
    assert res.status == "pass" and res.checks[-1].found == "app.tar"
    res = evaluate_layout("chain", "a" * 64, sd, [owner.key], store, NOW, step="build")
    assert res.status == "pass"


def test_artifact_not_produced(owner, alice, bob):
    sd, store = _setup(owner, alice, bob)
    res = evaluate_layout("chain", "c" * 64, sd, [owner.key], store, NOW)
    assert (res.status, res.reason) == ("fail", "artifact-not-produced")


def test_unknown_step(owner, alice, bob):
    sd, store = _setup(owner, alice, bob)
    res = evaluate_layout("chain", "b" * 64, sd, [owner.key], store, NOW, step="deploy")
    assert (res.status, res.reason) == ("fail", "layout-step-unknown")


def test_layout_that_does_not_verify_fails_the_rule(owner, alice, bob):
    sd, store = _setup(owner, alice, bob)
    res = evaluate_layout("chain", "b" * 64, sd, [alice.key], store, NOW)
    assert (res.status, res.reason) == ("fail", "layout-signature-invalid")
    del store.files[f"build.{alice.keyid[:8]}.link"]
    res = evaluate_layout("chain", "b" * 64, sd, [owner.key], store, NOW)
    assert (res.status, res.reason) == ("fail", "link-missing")
