"""Differential test: assay and sigstore-python must agree on accept/reject.

Seeds are the valid shared conformance bundles; each mutation tampers with one
part (signature, certificate, proof, checkpoint, body, promise, timestamp,
trust root, identity, artifact). Known, justified disagreements are listed in
``EXPECTED_DIFFERENCES`` with the reason; where assay is the stricter one,
``STRICTER_REASONS`` names the reason code it must give (sigstore-python 4.5
accepts a Rekor v2 entry whose logIndex differs from its inclusion proof's;
assay refuses it with ``tlog-index-mismatch``).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assay.errors import AssayError
from assay.formats import pep740
from assay.formats.bundle import parse_bundle
from assay.formats.trustroot import parse_trusted_root
from assay.verify.identity import IdentityPolicy
from assay.verify.model import Artifact
from assay.verify.pipeline import verify
from assay.verify.policy import Policy
from tests.conftest import CONFORMANCE

sigstore_models = pytest.importorskip("sigstore.models")
sigstore_verify = pytest.importorskip("sigstore.verify")
sigstore_hashes = pytest.importorskip("sigstore.hashes")

CASES = CONFORMANCE / "bundle-verify"
PUBLIC_GOOD = CONFORMANCE / "public-good" / "trusted_root.json"
IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
ISSUER = "https://token.actions.githubusercontent.com"
SEEDS = [
    "happy-path-v0.2",
    "happy-path-v0.3",
    "rekor2-happy-path",
    "rekor2-dsse-happy-path",
    "rekor2-timestamp-without-embedded-cert",
    "rekor2-checkpoint-cosigned",
    "trust-root-tlog-validity-end-inclusive",
]

# (seed, mutation) -> why assay and sigstore-python legitimately differ.
_INDEX_BINDING = (
    "assay is stricter: a Rekor v2 entry carries no promise, so its logIndex is bound to the inclusion proof's "
    "(tlog-index-mismatch); sigstore-python proves inclusion at the proof's index and accepts the entry's own"
)
EXPECTED_DIFFERENCES: dict[tuple[str, str], str] = {
    (seed, "entry-index-plus-one"): _INDEX_BINDING
    for seed in (
        "rekor2-happy-path",
        "rekor2-dsse-happy-path",
        "rekor2-timestamp-without-embedded-cert",
        "rekor2-checkpoint-cosigned",
    )
}
# Where assay is stricter, the reason it gives (sigstore-python accepts these).
STRICTER_REASONS = {"entry-index-plus-one": "tlog-index-mismatch"}

# Tampering both clients accept, because the field is not covered by any signature.
BENIGN: dict[tuple[str, str], str] = {
    (
        "trust-root-tlog-validity-end-inclusive",
        "other-trust-root",
    ): "its own root is public good with a shortened log window, so public good trusts it too",
}

Doc = dict[str, Any]


def _flip_b64(value: str, where: float) -> str:
    raw = bytearray(base64.b64decode(value))
    i = min(len(raw) - 1, int(len(raw) * where))
    raw[i] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _entry(d: Doc) -> Doc:
    return d["verificationMaterial"]["tlogEntries"][0]


def _cert(d: Doc) -> Doc:
    vm = d["verificationMaterial"]
    return vm["certificate"] if "certificate" in vm else vm["x509CertificateChain"]["certificates"][0]


def _sig_holder(d: Doc) -> tuple[Doc, str]:
    if "messageSignature" in d:
        return d["messageSignature"], "signature"
    return d["dsseEnvelope"]["signatures"][0], "sig"


def _set_sig(d: Doc) -> None:
    holder, key = _sig_holder(d)
    holder[key] = _flip_b64(holder[key], 0.5)


def _body(d: Doc, edit: Callable[[Doc], None]) -> None:
    e = _entry(d)
    body = json.loads(base64.b64decode(e["canonicalizedBody"]))
    edit(body)
    e["canonicalizedBody"] = base64.b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()


def _body_digest(body: Doc) -> None:
    spec = body["spec"]
    if "hashedRekordV002" in spec:
        spec["hashedRekordV002"]["data"]["digest"] = _flip_b64(spec["hashedRekordV002"]["data"]["digest"], 0.3)
    elif "data" in spec:
        v = spec["data"]["hash"]["value"]
        spec["data"]["hash"]["value"] = ("0" if v[0] != "0" else "1") + v[1:]
    else:
        holder = spec["content"] if "content" in spec else spec  # intoto 0.0.2 nests it
        v = holder["payloadHash"]["value"]
        holder["payloadHash"]["value"] = ("0" if v[0] != "0" else "1") + v[1:]


def _checkpoint(d: Doc, edit: Callable[[str], str]) -> None:
    cp = _entry(d)["inclusionProof"]["checkpoint"]
    cp["envelope"] = edit(cp["envelope"])


def _cp_sig_flip(text: str) -> str:
    body, _, sigs = text.partition("\n\n")
    first, *rest = sigs.split("\n")
    name_part, sig = first.rsplit(" ", 1)
    return body + "\n\n" + "\n".join([f"{name_part} {_flip_b64(sig, 0.7)}", *rest])


def _cp_size(text: str) -> str:
    lines = text.split("\n")
    lines[1] = str(int(lines[1]) + 1)
    return "\n".join(lines)


def _ts(d: Doc) -> list[Doc] | None:
    tvd = d["verificationMaterial"].get("timestampVerificationData")
    return tvd.get("rfc3161Timestamps") if tvd else None


def _flip_ts(d: Doc) -> None:
    stamps = _ts(d)
    assert stamps
    stamps[0]["signedTimestamp"] = _flip_b64(stamps[0]["signedTimestamp"], 0.9)


MUTATIONS: dict[str, tuple[Callable[[Doc], bool], Callable[[Doc], None]]] = {
    "none": (lambda d: True, lambda d: None),
    "signature-flip": (lambda d: True, _set_sig),
    "certificate-signature-flip": (
        lambda d: True,
        lambda d: _cert(d).update(rawBytes=_flip_b64(_cert(d)["rawBytes"], 0.98)),
    ),
    "certificate-tbs-flip": (lambda d: True, lambda d: _cert(d).update(rawBytes=_flip_b64(_cert(d)["rawBytes"], 0.4))),
    "proof-hash-flip": (
        lambda d: bool(_entry(d).get("inclusionProof", {}).get("hashes")),
        lambda d: _entry(d)["inclusionProof"]["hashes"].__setitem__(
            0, _flip_b64(_entry(d)["inclusionProof"]["hashes"][0], 0.5)
        ),
    ),
    "proof-root-flip": (
        lambda d: "inclusionProof" in _entry(d),
        lambda d: _entry(d)["inclusionProof"].update(rootHash=_flip_b64(_entry(d)["inclusionProof"]["rootHash"], 0.5)),
    ),
    "proof-index-plus-one": (
        lambda d: "inclusionProof" in _entry(d),
        lambda d: _entry(d)["inclusionProof"].update(logIndex=str(int(_entry(d)["inclusionProof"]["logIndex"]) + 1)),
    ),
    "proof-size-plus-one": (
        lambda d: "inclusionProof" in _entry(d),
        lambda d: _entry(d)["inclusionProof"].update(treeSize=str(int(_entry(d)["inclusionProof"]["treeSize"]) + 1)),
    ),
    "checkpoint-signature-flip": (
        lambda d: "checkpoint" in _entry(d).get("inclusionProof", {}),
        lambda d: _checkpoint(d, _cp_sig_flip),
    ),
    "checkpoint-size-change": (
        lambda d: "checkpoint" in _entry(d).get("inclusionProof", {}),
        lambda d: _checkpoint(d, _cp_size),
    ),
    "body-digest-change": (lambda d: True, lambda d: _body(d, _body_digest)),
    "promise-flip": (
        lambda d: "inclusionPromise" in _entry(d),
        lambda d: _entry(d)["inclusionPromise"].update(
            signedEntryTimestamp=_flip_b64(_entry(d)["inclusionPromise"]["signedEntryTimestamp"], 0.5)
        ),
    ),
    "integrated-time-plus-one": (
        lambda d: "inclusionPromise" in _entry(d),
        lambda d: _entry(d).update(integratedTime=str(int(_entry(d)["integratedTime"]) + 1)),
    ),
    "log-index-plus-one": (
        lambda d: "inclusionPromise" in _entry(d),
        lambda d: _entry(d).update(logIndex=str(int(_entry(d)["logIndex"]) + 1)),
    ),
    "entry-index-plus-one": (
        lambda d: "inclusionProof" in _entry(d) and "inclusionPromise" not in _entry(d),
        lambda d: _entry(d).update(logIndex=str(int(_entry(d)["logIndex"]) + 1)),
    ),
    "log-id-flip": (
        lambda d: True,
        lambda d: _entry(d)["logId"].update(keyId=_flip_b64(_entry(d)["logId"]["keyId"], 0.1)),
    ),
    "timestamp-flip": (lambda d: bool(_ts(d)), _flip_ts),
    "timestamps-dropped": (
        lambda d: bool(_ts(d)),
        lambda d: d["verificationMaterial"].pop("timestampVerificationData"),
    ),
    "tlog-dropped": (lambda d: True, lambda d: d["verificationMaterial"].update(tlogEntries=[])),
    "dsse-payload-change": (
        lambda d: "dsseEnvelope" in d,
        lambda d: d["dsseEnvelope"].update(payload=_flip_b64(d["dsseEnvelope"]["payload"], 0.95)),
    ),
}
CONTEXT_MUTATIONS = ["artifact-change", "wrong-identity", "wrong-issuer", "other-trust-root"]


def _trust_path(seed: str) -> Path:
    own = CASES / seed / "trusted_root.json"
    return own if own.exists() else PUBLIC_GOOD


def _other_trust_path(seed: str) -> Path:
    return PUBLIC_GOOD if _trust_path(seed) != PUBLIC_GOOD else CASES / "rekor2-happy-path" / "trusted_root.json"


def _assay(doc: Doc, artifact: bytes, trust: Path, identity: str, issuer: str) -> bool:
    """True when assay accepts."""
    return _assay_reason(doc, artifact, trust, identity, issuer) is None


def _assay_reason(doc: Doc, artifact: bytes, trust: Path, identity: str, issuer: str) -> str | None:
    """None when assay accepts, else its reason code."""
    try:
        bundle = parse_bundle(json.dumps(doc))
        art = None if bundle.dsse_envelope is not None else Artifact(hashlib.sha256(artifact).digest(), artifact)
        verify(
            bundle, art, Policy(identity=IdentityPolicy(identity, None, issuer)), parse_trusted_root(trust.read_bytes())
        )
    except AssayError as exc:
        return exc.reason
    return None


def _sigstore(doc: Doc, artifact: bytes, trust: Path, identity: str, issuer: str) -> bool:
    try:
        verifier = sigstore_verify.Verifier(trusted_root=sigstore_models.TrustedRoot.from_file(str(trust)))
        bundle = sigstore_models.Bundle.from_json(json.dumps(doc))
        policy = sigstore_verify.policy.Identity(identity=identity, issuer=issuer)
        if "dsseEnvelope" in doc:
            verifier.verify_dsse(bundle, policy)
        else:
            verifier.verify_artifact(artifact, bundle, policy)
    except Exception:  # any failure is a rejection for this comparison
        return False
    return True


def _cases() -> list[tuple[str, str]]:
    out = []
    for seed in SEEDS:
        doc = json.loads((CASES / seed / "bundle.sigstore.json").read_text())
        out += [(seed, name) for name, (applies, _) in MUTATIONS.items() if applies(doc)]
        out += [(seed, name) for name in CONTEXT_MUTATIONS if not (name == "artifact-change" and "dsseEnvelope" in doc)]
    return out


@pytest.mark.parametrize(("seed", "mutation"), _cases())
def test_assay_agrees_with_sigstore_python(seed, mutation):
    doc = json.loads((CASES / seed / "bundle.sigstore.json").read_text())
    artifact = (CASES / "a.txt").read_bytes()
    trust, identity, issuer = _trust_path(seed), IDENTITY, ISSUER
    if mutation in MUTATIONS:
        doc = copy.deepcopy(doc)
        MUTATIONS[mutation][1](doc)
    elif mutation == "artifact-change":
        artifact += b"!"
    elif mutation == "wrong-identity":
        identity = IDENTITY.replace("refs/heads/main", "refs/heads/evil")
    elif mutation == "wrong-issuer":
        issuer = "https://accounts.google.com"
    elif mutation == "other-trust-root":
        trust = _other_trust_path(seed)
    reason = _assay_reason(doc, artifact, trust, identity, issuer)
    ours = reason is None
    theirs = _sigstore(doc, artifact, trust, identity, issuer)
    if (seed, mutation) in EXPECTED_DIFFERENCES:
        assert ours != theirs, f"expected difference no longer occurs: {EXPECTED_DIFFERENCES[(seed, mutation)]}"
        if mutation in STRICTER_REASONS:
            assert theirs and reason == STRICTER_REASONS[mutation]
        return
    assert ours == theirs, (
        f"assay {'accepts' if ours else 'rejects'}, sigstore-python {'accepts' if theirs else 'rejects'}"
    )
    if mutation == "none":
        assert ours, "seed bundles are valid"
    elif (seed, mutation) not in BENIGN:
        assert not ours, "a tampered bundle must be rejected"


# ---- real published bundles (tests/data/realworld, sources in its README) ------------------------

REAL = Path(__file__).resolve().parents[1] / "data" / "realworld"
SHIPPED = Path(__file__).resolve().parents[2] / "src" / "assay" / "data"
GOOGLE = "https://accounts.google.com"
JAVA_SA = "untrusted-sa@sigstore-conformance.iam.gserviceaccount.com"
# name -> (bundle, artifact, identity, issuer, shipped root)
REAL_SEEDS: dict[str, tuple[str, str, str, str, str]] = {
    "npm-provenance": (
        "cli/sigstore-js-2.1.0-bundle.json",
        "cli/sigstore-js-2.1.0.tgz",
        "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
        ISSUER,
        "public-good",
    ),
    "npm-provenance-v0.1": (
        "cli/sigstore-js-2.1.0-bundle-v0.1.json",
        "cli/sigstore-js-2.1.0.tgz",
        "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
        ISSUER,
        "public-good",
    ),
    "reusable-workflow": (
        "cli/reusable-workflow-attestation.sigstore.json",
        "cli/reusable-workflow-artifact",
        "https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml"
        "@09b495c3f12c7881b3cc17209a327792065c1a1d",
        ISSUER,
        "public-good",
    ),
    "pypi-wheel-v0.2": (
        "python/bundle_v3_github.whl.sigstore",
        "python/bundle_v3_github.whl",
        "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2",
        ISSUER,
        "public-good",
    ),
    "github-instance": (
        "cli/github_provenance_demo-0.0.12-py3-none-any-bundle.jsonl",
        "cli/github_provenance_demo-0.0.12-py3-none-any.whl",
        "https://github.com/actions/attest-demo/.github/workflows/build-python.yml@refs/heads/main",
        ISSUER,
        "github",
    ),
    "pypi-gitlab-publish": (
        "pypi/gitlab_oidc_project-0.0.3.tar.gz.publish.attestation",
        "pypi/gitlab_oidc_project-0.0.3.tar.gz",
        "https://gitlab.com/facutuesca/gitlab-oidc-project//.gitlab-ci.yml@refs/heads/main",
        "https://gitlab.com",
        "public-good",
    ),
    "pypi-provenance": (
        "pypi/pypi_attestations-0.0.19.tar.gz.provenance",
        "pypi/pypi_attestations-0.0.19.tar.gz",
        "https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19",
        ISSUER,
        "public-good",
    ),
    **{
        f"java-{alg}": (f"java/PKIX_{alg}.sigstore.json", "java/artifact.txt", JAVA_SA, GOOGLE, "public-good")
        for alg in (
            "ECDSA_P256_SHA_256",
            "ECDSA_P384_SHA_384",
            "ECDSA_P521_SHA_512",
            "RSA_PKCS1V15_2048_SHA256",
            "RSA_PKCS1V15_3072_SHA256",
            "RSA_PKCS1V15_4096_SHA256",
        )
    },
}

# (seed, mutation) -> why assay and sigstore-python legitimately differ on real bundles.
REAL_DIFFERENCES: dict[tuple[str, str], str] = {
    ("github-instance", "none"): (
        "GitHub's instance has no transparency log and no CT log; assay follows the trusted root (a verified "
        "RFC 3161 timestamp gives the time, no SCT or entry is demanded), sigstore-python always demands both"
    ),
    **{
        (seed, "none"): (
            "npm provenance is logged as intoto 0.0.2; sigstore-python 4.5 takes integrated times only from "
            "dsse/hashedrekord entries ('Integrated time only supported for dsse/hashedrekord 0.0.1 types'), "
            "sigstore-go and gh accept the entry's signed promise as assay does"
        )
        for seed in ("npm-provenance", "npm-provenance-v0.1")
    },
    **{
        (seed, "none"): (
            "the algorithm registry pairs P-384 with SHA-384 and P-521 with SHA-512; sigstore-python 4.5 hashes "
            "every artifact with SHA-256 ('Bundle message digest mismatch'), sigstore-java and sigstore-go verify"
        )
        for seed in ("java-ECDSA_P384_SHA_384", "java-ECDSA_P521_SHA_512")
    },
    **{
        (seed, "none"): (
            "sigstore-python 4.5 fails on RSA signing certificates with a TypeError (RSAPublicKey.verify() is "
            "called without padding); sigstore-java and sigstore-go verify these RSA PKCS#1 v1.5 bundles"
        )
        for seed in ("java-RSA_PKCS1V15_2048_SHA256", "java-RSA_PKCS1V15_3072_SHA256", "java-RSA_PKCS1V15_4096_SHA256")
    },
}


def _real_doc(seed: str) -> Doc:
    rel = REAL_SEEDS[seed][0]
    text = (REAL / rel).read_text().strip()
    doc: Doc = json.loads(text.splitlines()[0] if rel.endswith(".jsonl") else text)
    converted = pep740.bundles_in(doc)  # PyPI's PEP 740 objects, as the same v0.3 bundle both clients read
    return converted[0] if converted else doc.get("bundle", doc)


def _applies(name: str, doc: Doc) -> bool:
    """The mutation applies and changes something (a bundle without a log entry has none to tamper with)."""
    applies, mutate = MUTATIONS[name]
    if name == "tlog-dropped":
        return bool(doc["verificationMaterial"].get("tlogEntries"))
    changed = copy.deepcopy(doc)
    try:
        if not applies(doc):
            return False
        mutate(changed)
    except (IndexError, KeyError):
        return False
    return name == "none" or changed != doc


def _real_cases() -> list[tuple[str, str]]:
    out = []
    for seed in REAL_SEEDS:
        doc = _real_doc(seed)
        out += [(seed, name) for name in MUTATIONS if _applies(name, doc)]
        out += [(seed, name) for name in ("wrong-identity", "wrong-issuer")]
        if "messageSignature" in doc:
            out.append((seed, "artifact-change"))
    return out


@pytest.mark.parametrize(("seed", "mutation"), _real_cases())
def test_real_bundles_agree_with_sigstore_python(seed: str, mutation: str) -> None:
    _, artifact_rel, identity, issuer, root = REAL_SEEDS[seed]
    doc = copy.deepcopy(_real_doc(seed))
    artifact = (REAL / artifact_rel).read_bytes()
    trust = SHIPPED / root / "trusted_root.json"
    if mutation in MUTATIONS:
        MUTATIONS[mutation][1](doc)
    elif mutation == "artifact-change":
        artifact += b"!"
    elif mutation == "wrong-identity":
        identity += "x"
    elif mutation == "wrong-issuer":
        issuer = "https://issuer.example.com"
    ours = _assay(doc, artifact, trust, identity, issuer)
    theirs = _sigstore(doc, artifact, trust, identity, issuer)
    if (seed, mutation) in REAL_DIFFERENCES:
        assert ours != theirs, f"expected difference no longer occurs: {REAL_DIFFERENCES[(seed, mutation)]}"
        return
    assert ours == theirs, (
        f"assay {'accepts' if ours else 'rejects'}, sigstore-python {'accepts' if theirs else 'rejects'}"
    )
    if mutation == "none":
        assert ours, "published bundles are valid"
    elif (seed, mutation) not in BENIGN:
        assert not ours, "a tampered bundle must be rejected"
