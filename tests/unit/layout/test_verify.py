"""Layout verification order: signatures, expiry, functionaries, thresholds, rules, sublayouts, inspections."""

from __future__ import annotations

import json

import pytest

from assay.errors import InputError, VerificationError
from assay.layout import envelope
from assay.layout.model import Link
from assay.layout.verify import Options, verify_layout

from .conftest import NOW, MemStore, digest, layout_doc, party, signed_layout

SRC = {"src/a.c": digest("1")}
BIN = {"app": digest("2")}


def _chain(alice, bob, **build):
    steps = [
        {"name": "checkout", "pubkeys": [alice.keyid], "expected_products": [["CREATE", "src/*"], ["DISALLOW", "*"]]},
        {
            "name": "build",
            "pubkeys": [bob.keyid],
            "expected_materials": [["MATCH", "src/*", "WITH", "PRODUCTS", "FROM", "checkout"], ["DISALLOW", "*"]],
            "expected_products": [["CREATE", "app"], ["DISALLOW", "*"]],
            **build,
        },
    ]
    return layout_doc(steps, [alice, bob])


def _links(alice, bob, product=BIN):
    store = MemStore()
    store.add_link(alice, Link("checkout", ["git", "clone"], {}, dict(SRC)))
    store.add_link(bob, Link("build", ["make"], dict(SRC), dict(product)), dsse=True)
    return store


def verify(sd, keys, store, **kw):
    return verify_layout(sd, keys, store, Options(NOW, **kw))


def test_good_chain(owner, alice, bob):
    result = verify(signed_layout(_chain(alice, bob), owner), [owner.key], _links(alice, bob))
    assert [s.name for s in result.steps] == ["checkout", "build"]
    assert result.steps[1].materials[0].consumed == ["src/a.c"] and result.summary.products == BIN
    assert json.loads(json.dumps(result.to_json()))["steps"][1]["links"] == [f"build.{bob.keyid[:8]}.link"]


def test_every_layout_key_must_sign(owner, alice, bob):
    second = party()
    with pytest.raises(VerificationError) as exc:
        verify(signed_layout(_chain(alice, bob), owner), [owner.key, second.key], _links(alice, bob))
    assert exc.value.reason == "layout-signature-invalid"
    verify(signed_layout(_chain(alice, bob), owner, second), [owner.key, second.key], _links(alice, bob))


def test_tampered_layout_signature(owner, alice, bob):
    sd = signed_layout(_chain(alice, bob), owner)
    sd.document["steps"][1]["expected_products"] = [["ALLOW", "*"]]
    sd.message = envelope.canonical(sd.document)
    with pytest.raises(VerificationError) as exc:
        verify(sd, [owner.key], _links(alice, bob))
    assert exc.value.reason == "layout-signature-invalid"


def test_expired_layout(owner, alice, bob):
    doc = _chain(alice, bob)
    doc["expires"] = "2026-01-01T00:00:00Z"
    with pytest.raises(VerificationError) as exc:
        verify(signed_layout(doc, owner), [owner.key], _links(alice, bob))
    assert exc.value.reason == "layout-expired"


def test_changed_product_is_caught_with_digests(owner, alice, bob):
    store = _links(alice, bob)
    store.add_link(alice, Link("checkout", [], {}, {"src/a.c": digest("9")}))
    with pytest.raises(VerificationError) as exc:
        verify(signed_layout(_chain(alice, bob), owner), [owner.key], store)
    assert exc.value.reason == "disallowed-artifact" and "1" * 64 in exc.value.message and "9" * 64 in exc.value.message


def test_missing_link(owner, alice, bob):
    store = _links(alice, bob)
    del store.files[f"build.{bob.keyid[:8]}.link"]
    with pytest.raises(VerificationError) as exc:
        verify(signed_layout(_chain(alice, bob), owner), [owner.key], store)
    assert exc.value.reason == "link-missing" and exc.value.step == "build"


def test_wrong_functionary(owner, alice, bob):
    mallory = party()
    store = _links(alice, bob)
    del store.files[f"build.{bob.keyid[:8]}.link"]
    store.add_link(mallory, Link("build", [], dict(SRC), dict(BIN)))
    with pytest.raises(VerificationError) as exc:
        verify(signed_layout(_chain(alice, bob), owner), [owner.key], store)
    assert exc.value.reason == "link-signer-not-authorised" and mallory.keyid[:16] in exc.value.message


def test_link_for_unknown_step_is_ignored_with_a_note(owner, alice, bob):
    store = _links(alice, bob)
    name = store.add_link(alice, Link("deploy", [], {}, {"anything": digest("6")}))
    result = verify(signed_layout(_chain(alice, bob), owner), [owner.key], store)
    assert [s.name for s in result.steps] == ["checkout", "build"]
    assert any(name in n and "'deploy'" in n and "ignored" in n for n in result.notes), result.notes
    store.files["notes.link"] = store.files.pop(name)  # any file name: still ignored
    assert any("notes.link" in n for n in verify(signed_layout(_chain(alice, bob), owner), [owner.key], store).notes)


def test_link_for_unknown_step_filed_as_a_layout_step_is_refused(owner, alice, bob):
    store = _links(alice, bob)
    doc = envelope.sign_metablock([alice.signer], Link("deploy", [], {}, {}).to_dict())
    store.files[f"checkout.{alice.keyid[:8]}.extra.link"] = json.dumps(doc).encode()
    with pytest.raises(InputError) as exc:
        verify(signed_layout(_chain(alice, bob), owner), [owner.key], store)
    assert exc.value.reason == "link-for-unknown-step" and "'checkout'" in exc.value.message


def test_threshold(owner, alice, bob):
    carol = party()
    doc = _chain(alice, bob, threshold=2)
    doc["steps"][1]["pubkeys"] = [bob.keyid, carol.keyid]
    doc["keys"][carol.keyid] = carol.key
    sd = signed_layout(doc, owner)
    store = _links(alice, bob)
    with pytest.raises(VerificationError) as exc:
        verify(sd, [owner.key], store)
    assert exc.value.reason == "threshold-not-met"
    store.add_link(carol, Link("build", [], dict(SRC), {"app": digest("3")}))
    with pytest.raises(VerificationError) as exc:
        verify(sd, [owner.key], store)
    assert exc.value.reason == "threshold-links-disagree" and "2" * 64 in exc.value.message
    store.add_link(carol, Link("build", [], dict(SRC), dict(BIN)))
    assert set(verify(sd, [owner.key], store).steps[1].functionaries) == {bob.keyid, carol.keyid}


def test_same_functionary_twice_counts_once(owner, alice, bob):
    doc = _chain(alice, bob, threshold=1)
    store = _links(alice, bob)
    store.files[f"build.{bob.keyid[:8]}.copy.link"] = store.files[f"build.{bob.keyid[:8]}.link"]
    result = verify(signed_layout(doc, owner), [owner.key], store)
    assert result.steps[1].functionaries == [bob.keyid] and any("counted once" in n for n in result.notes)


def test_sublayout(owner, alice, bob):
    dave = party()
    sub = layout_doc([{"name": "compile", "pubkeys": [dave.keyid], "expected_products": [["CREATE", "app"]]}], [dave])
    store = _links(alice, bob)
    del store.files[f"build.{bob.keyid[:8]}.link"]
    store.files[f"build.{bob.keyid[:8]}.link"] = json.dumps(envelope.sign_metablock([bob.signer], sub)).encode()
    substore = store.sub(f"build.{bob.keyid[:8]}")
    substore.add_link(dave, Link("compile", [], dict(SRC), dict(BIN)))
    result = verify(signed_layout(_chain(alice, bob), owner), [owner.key], store)
    assert result.steps[1].sublayout is not None and result.steps[1].sublayout.steps[0].name == "compile"
    substore.add_link(dave, Link("compile", [], dict(SRC), {**BIN, "evil": digest("7")}))
    with pytest.raises(VerificationError) as exc:
        verify(signed_layout(_chain(alice, bob), owner), [owner.key], store)
    assert exc.value.reason == "disallowed-artifact" and exc.value.step == "build" and "evil" in exc.value.message


def test_inspections_need_consent_and_run(owner, alice, bob):
    doc = _chain(alice, bob)
    doc["inspect"] = [
        {
            "_type": "inspection",
            "name": "unpack",
            "run": ["true"],
            "expected_materials": [["MATCH", "app", "WITH", "PRODUCTS", "FROM", "build"], ["DISALLOW", "*"]],
            "expected_products": [],
        }
    ]
    sd = signed_layout(doc, owner)
    with pytest.raises(InputError) as exc:
        verify(sd, [owner.key], _links(alice, bob))
    assert exc.value.reason == "inspections-not-enabled"
    ran = []

    def runner(item, product=BIN):
        ran.append(item.run)
        return Link(item.name, item.run, dict(product), {})

    result = verify(sd, [owner.key], _links(alice, bob), run_inspection=runner)
    assert ran == [["true"]] and result.steps[-1].kind == "inspection"
    with pytest.raises(VerificationError):
        verify(sd, [owner.key], _links(alice, bob), run_inspection=lambda i: runner(i, {"app": digest("8")}))


def test_link_name_must_match_step(owner, alice, bob):
    store = _links(alice, bob)
    doc = envelope.sign_metablock([bob.signer], Link("other", [], dict(SRC), dict(BIN)).to_dict())
    store.files[f"build.{bob.keyid[:8]}.link"] = json.dumps(doc).encode()
    with pytest.raises(InputError) as exc:
        verify(signed_layout(_chain(alice, bob), owner), [owner.key], store)
    assert exc.value.reason == "link-for-unknown-step"


def test_malformed_link_is_bad_input(owner, alice, bob):
    store = _links(alice, bob)
    store.files["x.link"] = b'{"signed": {"_type": "link"}, "signatures": "no"}'
    with pytest.raises(InputError):
        verify(signed_layout(_chain(alice, bob), owner), [owner.key], store)
