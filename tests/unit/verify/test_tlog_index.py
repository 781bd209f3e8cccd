"""Entry/proof binding: where no promise signs a log entry's logIndex, it must be the leaf its inclusion proof proves.

Seeds are valid shared conformance bundles (Rekor v1 on bundle v0.1/v0.2/v0.3, Rekor v2 with a message signature
and with a DSSE envelope); each test edits one index and asserts the reason code.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import replace
from typing import Any

import pytest

from assay.errors import AssayError
from assay.formats.bundle import parse_bundle
from assay.formats.trustroot import parse_trusted_root
from assay.verify.identity import IdentityPolicy
from assay.verify.model import Artifact, Result
from assay.verify.pipeline import verify
from assay.verify.policy import Policy
from assay.verify.tlog import check_index_binding
from tests.conftest import CONFORMANCE

CASES = CONFORMANCE / "bundle-verify"
IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
ISSUER = "https://token.actions.githubusercontent.com"
V1_SEEDS = ["trust-root-tlog-validity-end-inclusive", "happy-path-v0.2", "happy-path-v0.3"]  # bundle v0.1, v0.2, v0.3
V2_SEEDS = ["rekor2-happy-path", "rekor2-dsse-happy-path"]

Doc = dict[str, Any]


def _doc(seed: str) -> Doc:
    return copy.deepcopy(json.loads((CASES / seed / "bundle.sigstore.json").read_text()))


def _entry(doc: Doc) -> Doc:
    return doc["verificationMaterial"]["tlogEntries"][0]


def _verify(seed: str, doc: Doc) -> Result:
    own = CASES / seed / "trusted_root.json"
    trust = parse_trusted_root(
        (own if own.exists() else CONFORMANCE / "public-good" / "trusted_root.json").read_bytes()
    )
    bundle = parse_bundle(json.dumps(doc))
    data = (CASES / "a.txt").read_bytes()
    artifact = None if bundle.dsse_envelope is not None else Artifact(hashlib.sha256(data).digest(), data)
    return verify(bundle, artifact, Policy(identity=IdentityPolicy(IDENTITY, None, ISSUER)), trust)


def _reason(seed: str, doc: Doc) -> str:
    with pytest.raises(AssayError) as exc:
        _verify(seed, doc)
    return exc.value.reason


@pytest.mark.parametrize("seed", V1_SEEDS + V2_SEEDS)
def test_bound_indices_verify(seed):
    doc = _doc(seed)
    result = _verify(seed, doc)
    assert result.tlog[0]["logIndex"] == int(_entry(doc)["logIndex"])
    assert result.to_json()["verified"] is True


def test_sharded_v1_entries_carry_the_shard_start():
    entry = _entry(_doc("happy-path-v0.2"))
    assert int(entry["logIndex"]) != int(entry["inclusionProof"]["logIndex"]), "seed must be from a sharded log"


@pytest.mark.parametrize("seed", V1_SEEDS)
@pytest.mark.parametrize("delta", [1, -1])
def test_v1_proof_moved_to_another_leaf(seed, delta):
    # The promise signs the entry's index and stays valid; the proof moved to another leaf no longer reaches the root.
    doc = _doc(seed)
    proof = _entry(doc)["inclusionProof"]
    proof["logIndex"] = str(int(proof["logIndex"]) + delta)
    assert _reason(seed, doc) == "inclusion-proof-invalid"


@pytest.mark.parametrize("seed", V1_SEEDS)
@pytest.mark.parametrize("delta", [1, -1])
def test_v1_proof_only_entry_index_bound(seed, delta):
    # Without its promise a v1 entry's index is authenticated by nothing but the proof: it must agree (plus the
    # known shard start). The seeds' v0.1 bundle cannot drop its promise (the format requires one), so times come
    # from nowhere and the seed is refused earlier; the binding is checked on the entry itself.
    entry = parse_bundle(json.dumps(_doc(seed))).tlog_entries[0]
    bare = replace(entry, inclusion_promise=None)
    check_index_binding(bare)
    with pytest.raises(AssayError) as exc:
        check_index_binding(replace(bare, log_index=entry.log_index + delta))
    assert exc.value.reason == "tlog-index-mismatch"


def test_v1_entry_index_change_is_rejected():
    doc = _doc("happy-path-v0.3")
    _entry(doc)["logIndex"] = str(int(_entry(doc)["logIndex"]) + 1)
    # The signed promise covers the entry's index and is checked first, when the integrated time is established.
    assert _reason("happy-path-v0.3", doc) == "inclusion-promise-invalid"


@pytest.mark.parametrize("seed", V2_SEEDS)
@pytest.mark.parametrize("delta", [1, -1])
def test_v2_entry_index_not_bound_to_proof(seed, delta):
    # Rekor v2 entries carry no promise: without the binding the entry's index would be unauthenticated.
    doc = _doc(seed)
    assert "inclusionPromise" not in _entry(doc)
    _entry(doc)["logIndex"] = str(int(_entry(doc)["logIndex"]) + delta)
    assert _reason(seed, doc) == "tlog-index-mismatch"


@pytest.mark.parametrize("seed", V2_SEEDS)
def test_v2_proof_index_not_bound_to_entry(seed):
    doc = _doc(seed)
    proof = _entry(doc)["inclusionProof"]
    proof["logIndex"] = str(int(proof["logIndex"]) + 1)
    assert _reason(seed, doc) == "tlog-index-mismatch"


def test_dsse_kind_entry_index_not_bound():
    # A dsse/0.0.1 entry: the seed fails later (its envelope signature), so the log step must fire first.
    seed = "dsse-mismatch-sig_fail"
    assert _reason(seed, _doc(seed)) not in {"tlog-index-mismatch", "inclusion-proof-invalid"}
    doc = _doc(seed)
    assert _entry(doc)["kindVersion"]["kind"] == "dsse"
    proof = _entry(doc)["inclusionProof"]
    proof["logIndex"] = str(int(proof["logIndex"]) + 1)
    assert _reason(seed, doc) == "inclusion-proof-invalid"
    entry = replace(parse_bundle(json.dumps(_doc(seed))).tlog_entries[0], inclusion_promise=None)
    with pytest.raises(AssayError) as exc:
        check_index_binding(replace(entry, log_index=entry.log_index + 1))
    assert exc.value.reason == "tlog-index-mismatch"


def test_unknown_shard_must_use_one_index():
    # Same log key, a checkpoint origin that is not a known shard: no offset applies, so the indices must agree.
    # (Without a promise: with one, the promise authenticates the index and any shard offset is accepted.)
    signed = parse_bundle((CASES / "happy-path-v0.2" / "bundle.sigstore.json").read_bytes()).tlog_entries[0]
    entry = replace(signed, inclusion_promise=None)
    assert entry.inclusion_proof is not None and entry.inclusion_proof.checkpoint is not None
    check_index_binding(entry)
    other = replace(
        entry.inclusion_proof,
        checkpoint=entry.inclusion_proof.checkpoint.replace("2605736670972794746", "1111111111111111111", 1),
    )
    with pytest.raises(AssayError) as exc:
        check_index_binding(replace(entry, inclusion_proof=other))
    assert exc.value.reason == "tlog-index-mismatch"
    check_index_binding(replace(signed, inclusion_proof=other))


def test_intoto_kind_entry_index_not_bound():
    # A real intoto/0.0.2 entry from an unsharded log whose index (5475922) is not its proof's (0). Its bundle
    # fails earlier in the pipeline (certificate validity), so the binding is checked on the entry directly.
    bundle = parse_bundle(
        (CASES / "intoto-set-outside-signing-cert-validity_fail" / "bundle.sigstore.json").read_bytes()
    )
    entry = replace(bundle.tlog_entries[0], inclusion_promise=None)
    assert entry.kind == "intoto" and entry.inclusion_proof is not None
    with pytest.raises(AssayError) as exc:
        check_index_binding(entry)
    assert exc.value.reason == "tlog-index-mismatch"
    assert entry.inclusion_proof is not None
    check_index_binding(replace(entry, log_index=entry.inclusion_proof.log_index))
