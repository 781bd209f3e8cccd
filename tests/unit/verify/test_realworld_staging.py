"""Real bundles from a log assay's shard table does not place: sigstore-python's staging test assets.

Staging Rekor v1 entries carry a global ``logIndex`` that differs from their proof's shard-local index by an
offset assay cannot know (two shards here: 14,819 and 31,682,412); their signed entry timestamp authenticates the
global index. ``bundle.txt`` is signed by a P-384 key over a SHA-256 digest, as sigstore-python signs. The TSA
bundle is verified against a custom trusted root: staging plus sigstore-python's local test TSA. Sources are listed
in ``tests/data/realworld/README.md``; mutations are made in memory.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.crypto import keys
from assay.errors import AssayError
from assay.formats.bundle import parse_bundle
from assay.formats.trustroot import TrustedRoot, parse_trusted_root
from assay.verify.identity import IdentityPolicy
from assay.verify.model import Artifact, Result
from assay.verify.pipeline import verify
from assay.verify.policy import Policy

DATA = Path(__file__).resolve().parents[2] / "data" / "realworld" / "staging"
GITHUB_LOGIN = "https://github.com/login/oauth"
ACTIONS = "https://token.actions.githubusercontent.com"
Doc = dict[str, Any]


def staging_root() -> TrustedRoot:
    return parse_trusted_root((DATA / "staging-trusted-root.json").read_bytes())


def tsa_root() -> TrustedRoot:
    """A custom trusted root: staging's CAs and logs, with sigstore-python's local test TSA as the only TSA."""
    doc = json.loads((DATA / "staging-trusted-root.json").read_text())
    doc["timestampAuthorities"] = [json.loads((DATA / "tsa-ca.json").read_text())]
    return parse_trusted_root(doc)


def doc_of(name: str) -> Doc:
    return copy.deepcopy(json.loads((DATA / name).read_text()))


def entry(doc: Doc) -> Doc:
    return doc["verificationMaterial"]["tlogEntries"][0]


def file_artifact(name: str) -> Artifact:
    data = (DATA / name).read_bytes()
    return Artifact(hashlib.sha256(data).digest(), data, None, {a: hashlib.new(a, data).digest() for a in keys_algs()})


def keys_algs() -> tuple[str, ...]:
    return ("sha256", "sha384", "sha512")


GOOGLE = "https://accounts.google.com"
ALEXIS = "alexis.challande@trailofbits.com"
ISSUERS = {ALEXIS: GOOGLE}


def policy(identity: str) -> Policy:
    return Policy(identity=IdentityPolicy(identity_regexp=f"^{identity}$", issuer=ISSUERS.get(identity, GITHUB_LOGIN)))


def run(doc: Doc, artifact: Artifact | None, who: str, root: TrustedRoot | None = None) -> Result:
    return verify(parse_bundle(json.dumps(doc)), artifact, policy(who), root or staging_root())


def reason(doc: Doc, artifact: Artifact | None, who: str, root: TrustedRoot | None = None) -> str:
    with pytest.raises(AssayError) as exc:
        run(doc, artifact, who, root)
    return exc.value.reason


def tsa_doc() -> Doc:
    """The TSA bundle with its one verifiable timestamp (its second covers another message, on purpose)."""
    doc = doc_of("tsa-bundle.txt.sigstore")
    stamps = doc["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    del stamps[1:]
    return doc


# ---- as published, they verify ------------------------------------------------------------------


def test_p384_key_over_sha256_on_an_unplaced_shard() -> None:
    doc = doc_of("bundle.txt.sigstore")
    assert int(entry(doc)["logIndex"]) - int(entry(doc)["inclusionProof"]["logIndex"]) == 14_819
    result = run(doc, file_artifact("bundle.txt"), "a@tny.town")
    assert "ecdsa-p384 signature over sha256:" in next(s.detail for s in result.steps if s.step == "signature")
    assert result.tlog[0]["logIndex"] == 7_390_977


def test_p256_v03_bundle_on_an_unplaced_shard() -> None:
    run(doc_of("bundle_v3.txt.sigstore"), file_artifact("bundle_v3.txt"), "william@yossarian.net")


def test_custom_trust_root_with_a_local_tsa_on_a_second_shard() -> None:
    doc = tsa_doc()
    assert int(entry(doc)["logIndex"]) - int(entry(doc)["inclusionProof"]["logIndex"]) == 31_682_412
    result = run(doc, file_artifact("tsa-bundle.txt"), ALEXIS, tsa_root())
    assert {t["source"] for t in result.verified_times} == {"tsa", "tlog"}


def test_staging_rekor_v2_bundles() -> None:
    run(doc_of("staging-rekor-v2.txt.sigstore.json"), file_artifact("staging-rekor-v2.txt"), "jku@goto.fi")
    dsse = doc_of("a.dsse.staging-rekor-v2.txt.sigstore.json")
    beacon = IdentityPolicy(identity_regexp=r"^https://github\.com/sigstore-conformance/.*", issuer=ACTIONS)
    result = verify(parse_bundle(json.dumps(dsse)), None, Policy(identity=beacon), staging_root())
    assert result.statement is not None and result.statement["subjects"] == ["a.txt"]


# ---- mutations fail -----------------------------------------------------------------------------


@pytest.mark.parametrize("delta", [1, -1, 14_819])
def test_mutated_entry_index_breaks_the_promise(delta: int) -> None:
    doc = doc_of("bundle.txt.sigstore")
    entry(doc)["logIndex"] = str(int(entry(doc)["logIndex"]) + delta)
    assert reason(doc, file_artifact("bundle.txt"), "a@tny.town") == "inclusion-promise-invalid"


def test_mutated_proof_index_breaks_the_proof() -> None:
    doc = doc_of("bundle_v3.txt.sigstore")
    proof = entry(doc)["inclusionProof"]
    proof["logIndex"] = str(int(proof["logIndex"]) + 1)
    assert reason(doc, file_artifact("bundle_v3.txt"), "william@yossarian.net") == "inclusion-proof-invalid"


def test_without_its_promise_the_proof_must_authenticate_the_index() -> None:
    # The TSA gives the time, so the promise can go; then nothing signs the global index and the offset is refused.
    doc = tsa_doc()
    del entry(doc)["inclusionPromise"]
    del entry(doc)["integratedTime"]
    assert reason(doc, file_artifact("tsa-bundle.txt"), ALEXIS, tsa_root()) == "tlog-index-mismatch"
    entry(doc)["logIndex"] = entry(doc)["inclusionProof"]["logIndex"]
    run(doc, file_artifact("tsa-bundle.txt"), ALEXIS, tsa_root())


def test_the_second_timestamp_covers_another_message() -> None:
    doc = doc_of("tsa-bundle.txt.sigstore")
    got = reason(doc, file_artifact("tsa-bundle.txt"), ALEXIS, tsa_root())
    assert got == "timestamp-message-mismatch"


def test_rekor_v2_index_is_bound_to_its_proof() -> None:
    doc = doc_of("staging-rekor-v2.txt.sigstore.json")
    entry(doc)["logIndex"] = str(int(entry(doc)["logIndex"]) + 1)
    assert reason(doc, file_artifact("staging-rekor-v2.txt"), "jku@goto.fi") == "tlog-index-mismatch"


def test_p384_over_sha256_still_needs_the_artifact_it_signed() -> None:
    other = Artifact(hashlib.sha256(b"another file").digest(), b"another file")
    assert reason(doc_of("bundle.txt.sigstore"), other, "a@tny.town") in {
        "artifact-digest-mismatch",
        "tlog-body-mismatch",
    }


def test_v02_bundle_without_a_checkpoint_is_refused() -> None:
    # sigstore-python refuses it too ("expected checkpoint in inclusion proof").
    got = reason(
        doc_of("bundle_no_checkpoint.txt.sigstore"), file_artifact("bundle_no_checkpoint.txt"), "william@yossarian.net"
    )
    assert got == "checkpoint-missing"


# ---- a P-384 managed key signing DSSE over SHA-256, as sigstore-python's DSSE signer does -----


def _dsse_bundle(key: ec.EllipticCurvePrivateKey, digest: hashes.HashAlgorithm) -> tuple[Doc, bytes]:
    data = b"hello, p-384\n"
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "f", "digest": {"sha256": hashlib.sha256(data).hexdigest()}}],
        "predicateType": "https://example.com/p/v1",
        "predicate": {},
    }
    payload = json.dumps(statement).encode()
    ptype = "application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %b %d %b" % (len(ptype), ptype.encode(), len(payload), payload)
    sig = key.sign(pae, ec.ECDSA(digest))
    doc = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": "k"}},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": ptype,
            "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}],
        },
    }
    return doc, data


@pytest.mark.parametrize(("digest", "ok"), [(hashes.SHA384(), True), (hashes.SHA256(), True), (hashes.SHA512(), False)])
def test_p384_dsse_digest_pairings(digest: hashes.HashAlgorithm, ok: bool) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    public = keys.parse_public(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), "k"
    )
    doc, data = _dsse_bundle(key, digest)
    artifact = Artifact(hashlib.sha256(data).digest(), data)
    bundle = parse_bundle(json.dumps(doc))
    if ok:
        verify(bundle, artifact, Policy(key=public))
    else:
        with pytest.raises(AssayError) as exc:
            verify(bundle, artifact, Policy(key=public))
        assert exc.value.reason == "signature-mismatch"
