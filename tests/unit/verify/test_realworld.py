"""Real bundles published by npm, GitHub (public good and GitHub's instance), PyPI producers and sigstore-java.

Sources are listed in ``tests/data/realworld/README.md``. Each bundle verifies as
published; each mutation fails with its reason code.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from assay.errors import AssayError, InputError
from assay.formats.bundle import parse_bundle
from assay.formats.trustroot import TrustedRoot, parse_trusted_root
from assay.service import trust
from assay.verify.identity import IdentityPolicy
from assay.verify.model import Artifact
from assay.verify.pipeline import verify
from assay.verify.policy import Policy
from tests.conftest import CONFORMANCE, require

DATA = Path(__file__).resolve().parents[2] / "data" / "realworld"
GH = "https://token.actions.githubusercontent.com"
GOOGLE = "https://accounts.google.com"
JAVA_SA = "untrusted-sa@sigstore-conformance.iam.gserviceaccount.com"
CONFORMANCE_ID = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
ALGORITHMS = [
    "ECDSA_P256_SHA_256",
    "ECDSA_P384_SHA_384",
    "ECDSA_P521_SHA_512",
    "RSA_PKCS1V15_2048_SHA256",
    "RSA_PKCS1V15_3072_SHA256",
    "RSA_PKCS1V15_4096_SHA256",
]


def bundle_doc(rel: str, line: int = 0) -> dict[str, Any]:
    """A bundle from the data directory (the ``line``-th of a JSON Lines file)."""
    text = (DATA / rel).read_text().strip()
    doc = json.loads(text.splitlines()[line]) if rel.endswith(".jsonl") else json.loads(text)
    return doc.get("bundle", doc)


def file_artifact(rel: str, *algs: str) -> Artifact:
    data = (DATA / rel).read_bytes()
    digests = {a: hashlib.new(a, data).digest() for a in algs or ("sha256",)}
    return Artifact(digests.get("sha256"), None, None, digests)


def digest_artifact(alg: str, hexdigest: str) -> Artifact:
    raw = bytes.fromhex(hexdigest)
    return Artifact(raw if alg == "sha256" else None, None, None, {alg: raw})


def ident(regexp: str, issuer: str = GH) -> Policy:
    return Policy(identity=IdentityPolicy(identity_regexp=regexp, issuer=issuer))


def run(doc: dict[str, Any], artifact: Artifact, policy: Policy, root: TrustedRoot | None = None) -> Any:
    bundle = parse_bundle(doc)
    return verify(bundle, artifact, policy, root or trust.shipped_root_for(bundle))


def reason(fn: Any) -> str:
    with pytest.raises(AssayError) as exc:
        fn()
    return exc.value.reason


NPM = "cli/sigstore-js-2.1.0-bundle.json"
NPM_TGZ = "cli/sigstore-js-2.1.0.tgz"
NPM_ID = ident(r"https://github\.com/sigstore/sigstore-js/.*")
GH_DEMO = "cli/github_provenance_demo-0.0.12-py3-none-any-bundle.jsonl"
GH_DEMO_WHL = "cli/github_provenance_demo-0.0.12-py3-none-any.whl"
GH_DEMO_ID = ident(r"https://github\.com/actions/attest-demo/.*")
REUSABLE = "cli/reusable-workflow-attestation.sigstore.json"
REUSABLE_ID = ident(r"https://github\.com/github/artifact-attestations-workflows/.*")


# ---- every published bundle verifies ------------------------------------------------------------


def test_npm_provenance_matches_its_sha512_subject() -> None:
    result = run(bundle_doc(NPM), file_artifact(NPM_TGZ, "sha256", "sha512"), NPM_ID)
    assert next(s.detail for s in result.steps if s.step == "subject").startswith("subject sha512 matches")
    assert result.claims["sourceRepositoryURI"] == "https://github.com/sigstore/sigstore-js"


def test_npm_provenance_v01_bundle_and_digest_argument() -> None:
    sha512 = hashlib.sha512((DATA / NPM_TGZ).read_bytes()).hexdigest()
    run(bundle_doc("cli/sigstore-js-2.1.0-bundle-v0.1.json"), digest_artifact("sha512", sha512), NPM_ID)


def test_npm_provenance_rejects_another_tarball() -> None:
    other = file_artifact(GH_DEMO_WHL, "sha256", "sha512")
    assert reason(lambda: run(bundle_doc(NPM), other, NPM_ID)) == "subject-digest-mismatch"


def test_npm_provenance_given_only_a_sha256_names_the_missing_algorithm() -> None:
    sha256 = hashlib.sha256((DATA / NPM_TGZ).read_bytes()).hexdigest()
    assert reason(lambda: run(bundle_doc(NPM), digest_artifact("sha256", sha256), NPM_ID)) == (
        "subject-digest-unavailable"
    )


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_algorithm_registry_fixtures_from_sigstore_java(alg: str) -> None:
    doc = bundle_doc(f"java/PKIX_{alg}.sigstore.json")
    result = run(doc, file_artifact("java/artifact.txt", "sha256", "sha384", "sha512"), ident(JAVA_SA, GOOGLE))
    expected = {"P384": "sha384", "P521": "sha512"}.get(alg.split("_")[1], "sha256")
    assert f"over {expected}:" in next(s.detail for s in result.steps if s.step == "signature")


@pytest.mark.parametrize(("alg", "hashname"), [("ECDSA_P384_SHA_384", "sha384"), ("ECDSA_P521_SHA_512", "sha512")])
def test_wider_curves_verify_from_their_digest_alone(alg: str, hashname: str) -> None:
    data = (DATA / "java/artifact.txt").read_bytes()
    art = digest_artifact(hashname, hashlib.new(hashname, data).hexdigest())
    run(bundle_doc(f"java/PKIX_{alg}.sigstore.json"), art, ident(JAVA_SA, GOOGLE))
    sha256_only = digest_artifact("sha256", hashlib.sha256(data).hexdigest())
    with pytest.raises(InputError) as exc:
        run(bundle_doc(f"java/PKIX_{alg}.sigstore.json"), sha256_only, ident(JAVA_SA, GOOGLE))
    assert exc.value.reason == "artifact-digest-unavailable"


def test_p384_signature_claimed_over_sha256_does_not_match_its_entry() -> None:
    # P-384 keys may sign SHA-256 (cosign, sigstore-python); this one signed SHA-384, which its entry records.
    doc = bundle_doc("java/PKIX_ECDSA_P384_SHA_384.sigstore.json")
    data = (DATA / "java/artifact.txt").read_bytes()
    doc["messageSignature"]["messageDigest"] = {
        "algorithm": "SHA2_256",
        "digest": base64.b64encode(hashlib.sha256(data).digest()).decode(),
    }
    art = file_artifact("java/artifact.txt", "sha256")
    assert reason(lambda: run(doc, art, ident(JAVA_SA, GOOGLE))) == "tlog-body-mismatch"


@pytest.mark.parametrize(
    ("alg", "claimed", "hashname"),
    [
        ("ECDSA_P384_SHA_384", "SHA2_512", "sha512"),
        ("ECDSA_P256_SHA_256", "SHA2_384", "sha384"),
        ("RSA_PKCS1V15_2048_SHA256", "SHA2_512", "sha512"),
    ],
)
def test_unpaired_digest_algorithm_is_refused(alg: str, claimed: str, hashname: str) -> None:
    doc = bundle_doc(f"java/PKIX_{alg}.sigstore.json")
    data = (DATA / "java/artifact.txt").read_bytes()
    doc["messageSignature"]["messageDigest"] = {
        "algorithm": claimed,
        "digest": base64.b64encode(hashlib.new(hashname, data).digest()).decode(),
    }
    art = file_artifact("java/artifact.txt", hashname)
    assert reason(lambda: run(doc, art, ident(JAVA_SA, GOOGLE))) == "digest-algorithm-not-allowed"


def test_p521_log_entry_checked_with_sha512() -> None:
    """Another artifact's digest: the hashedrekord body (sha512) no longer matches."""
    art = file_artifact(GH_DEMO_WHL, "sha512")
    doc = bundle_doc("java/PKIX_ECDSA_P521_SHA_512.sigstore.json")
    del doc["messageSignature"]["messageDigest"]
    assert reason(lambda: run(doc, art, ident(JAVA_SA, GOOGLE))) == "tlog-body-mismatch"


@pytest.mark.parametrize(
    ("rel", "artifact", "policy"),
    [
        (GH_DEMO, GH_DEMO_WHL, GH_DEMO_ID),
        (REUSABLE, "cli/reusable-workflow-artifact", REUSABLE_ID),
        (
            "python/bundle_v3_github.whl.sigstore",
            "python/bundle_v3_github.whl",
            ident(r"https://github\.com/trailofbits/.*"),
        ),
    ],
)
def test_github_actions_bundles(rel: str, artifact: str, policy: Policy) -> None:
    run(bundle_doc(rel), file_artifact(artifact), policy)


@pytest.mark.parametrize(
    ("rel", "digest"),
    [
        (
            "automata/actions-attest-build-provenance-attestation-13531551.sigstore.json",
            "b03d18ed0a16864ef2d2e559c660159a2170b9d086a1f42f570b1679326b90e6",
        ),
        (
            "automata/actions-attest-build-provenance-attestation-13532655.sigstore.json",
            "bb030cb9e028ff6d4051f2103b3b08f7e3928aa80a7d3626cef6e2553dc714b8",
        ),
    ],
)
def test_attest_build_provenance_probers(rel: str, digest: str) -> None:
    run(
        bundle_doc(rel),
        digest_artifact("sha256", digest),
        ident(r"https://github\.com/actions/attest-build-provenance/.*"),
    )


def test_github_private_repository_attestation() -> None:
    doc = bundle_doc("java/github-private-no-tlog.sigstore.json")
    art = digest_artifact("sha256", "caa015ef69e9bc31a41322d6c71563ed9600c75bb988e4d639b1edc578580551")
    result = run(doc, art, ident(r"https://github\.com/neverendingsupport/.*"))
    skipped = {s.step for s in result.steps if s.status == "skip"}
    assert skipped == {"sct", "tlog"}
    assert [t["source"] for t in result.verified_times] == ["tsa"]


# ---- the trusted root decides what is mandatory ------------------------------------------------


def root_with(root: TrustedRoot, **lists: list[Any]) -> TrustedRoot:
    raw = copy.deepcopy(root.raw)
    raw.update(lists)
    return parse_trusted_root(raw)


def test_shipped_root_is_picked_by_issuer() -> None:
    assert trust.shipped_root_for(parse_bundle(bundle_doc(GH_DEMO))) is trust.github_root()
    assert trust.shipped_root_for(parse_bundle(bundle_doc(NPM))) is trust.public_good_root()


def test_github_bundle_against_public_good_does_not_chain() -> None:
    doc = bundle_doc(GH_DEMO)
    art = file_artifact(GH_DEMO_WHL)
    assert reason(lambda: run(doc, art, GH_DEMO_ID, trust.public_good_root())) == "timestamp-untrusted"


def test_github_root_naming_a_ct_log_demands_an_sct() -> None:
    gh = trust.github_root()
    with_ct = root_with(gh, ctlogs=trust.public_good_root().raw["ctlogs"])
    assert reason(lambda: run(bundle_doc(GH_DEMO), file_artifact(GH_DEMO_WHL), GH_DEMO_ID, with_ct)) == "sct-missing"


def test_github_root_naming_a_log_demands_an_entry() -> None:
    with_log = root_with(trust.github_root(), tlogs=trust.public_good_root().raw["tlogs"])
    assert reason(lambda: run(bundle_doc(GH_DEMO), file_artifact(GH_DEMO_WHL), GH_DEMO_ID, with_log)) == (
        "missing-tlog-entry"
    )


def test_without_a_log_the_timestamp_is_mandatory() -> None:
    doc = bundle_doc(GH_DEMO)
    del doc["verificationMaterial"]["timestampVerificationData"]
    assert reason(lambda: run(doc, file_artifact(GH_DEMO_WHL), GH_DEMO_ID)) == "no-verified-time"


def test_a_root_naming_a_log_still_demands_the_entry() -> None:
    """A conformance bundle with a Rekor v2 entry and a TSA timestamp: without the entry it is refused."""
    case = CONFORMANCE / "bundle-verify" / "rekor2-happy-path"
    require(case.is_dir(), "the shared sigstore-conformance cases")
    doc = json.loads((case / "bundle.sigstore.json").read_text())
    root = parse_trusted_root((case / "trusted_root.json").read_bytes())
    art = Artifact(hashlib.sha256((CONFORMANCE / "bundle-verify" / "a.txt").read_bytes()).digest())
    policy = Policy(identity=IdentityPolicy(identity=CONFORMANCE_ID, issuer=GH))
    run(doc, art, policy, root)
    doc["verificationMaterial"]["tlogEntries"] = []
    assert reason(lambda: run(doc, art, policy, root)) == "missing-tlog-entry"


def test_public_good_still_demands_the_sct() -> None:
    """The certificate's SCT is from a CT log the root no longer names: refused, not skipped."""
    pg = trust.public_good_root()
    other_ct = copy.deepcopy(pg.raw["ctlogs"][-1])
    other_ct["logId"] = {"keyId": base64.b64encode(b"\x01" * 32).decode()}
    root = root_with(pg, ctlogs=[other_ct])
    assert reason(
        lambda: run(bundle_doc(REUSABLE), file_artifact("cli/reusable-workflow-artifact"), REUSABLE_ID, root)
    ) == ("sct-invalid")


def test_trusted_root_ca_without_validity_window_is_malformed() -> None:
    raw = copy.deepcopy(trust.github_root().raw)
    del raw["certificateAuthorities"][0]["validFor"]
    with pytest.raises(InputError) as exc:
        parse_trusted_root(raw)
    assert exc.value.reason == "trusted-root-malformed"


# ---- bundle structure ------------------------------------------------------------------------------


def test_v03_bundle_with_a_certificate_chain_is_refused() -> None:
    doc = bundle_doc(NPM)
    vm = doc["verificationMaterial"]
    vm["x509CertificateChain"] = {"certificates": [vm.pop("certificate")]}
    with pytest.raises(InputError) as exc:
        parse_bundle(doc)
    assert exc.value.reason == "bundle-v03-certificate-chain"


def test_v02_chain_with_superfluous_intermediate_and_root_verifies() -> None:
    doc = bundle_doc("python/bundle_v3_github.whl.sigstore")
    ca = trust.public_good_root().raw["certificateAuthorities"][-1]["certChain"]["certificates"]
    doc["verificationMaterial"]["x509CertificateChain"]["certificates"] += ca
    assert len(parse_bundle(doc).certificates) == 1 + len(ca)
    run(doc, file_artifact("python/bundle_v3_github.whl"), ident(r"https://github\.com/trailofbits/.*"))


def test_statement_with_only_unknown_digest_algorithms_is_refused() -> None:
    from assay.crypto import keys
    from assay.crypto.signer import KeyFileSigner
    from assay.formats import intoto
    from assay.sign.blob import sign_statement

    key = keys.generate("ecdsa-p256")
    statement = intoto.Statement(
        (intoto.Subject("src", {"gitCommit": "a" * 40, "sha3_256": "b" * 64}),), intoto.STATEMENT_V1, {}
    )
    bundle = sign_statement(KeyFileSigner(key), statement)
    art = Artifact(hashlib.sha256(b"x").digest(), b"x")
    with pytest.raises(AssayError) as exc:
        verify(bundle, art, Policy(key=key.public_key()))
    assert exc.value.reason == "subject-digest-unsupported"


@pytest.mark.parametrize("count", [0, 2])
def test_dsse_envelope_needs_exactly_one_signature(count: int) -> None:
    doc = bundle_doc(NPM)
    sig = doc["dsseEnvelope"]["signatures"][0]
    doc["dsseEnvelope"]["signatures"] = [copy.deepcopy(sig) for _ in range(count)]
    with pytest.raises(InputError) as exc:
        parse_bundle(doc)
    assert exc.value.reason == ("dsse-no-signatures" if count == 0 else "bundle-dsse-signature-count")


def test_cpython_release_bundle_p384_over_sha256_reaches_the_log_step() -> None:
    """CPython 3.12.5's v0.1 bundle: a P-384 key over SHA-256 is accepted; its proof lacks a checkpoint.

    sigstore-python refuses the bundle for the same reason (its ``plumbing fix-bundle`` adds the checkpoint).
    """
    doc = bundle_doc("python/Python-3.12.5.tgz.sigstore")
    digest = base64.b64decode(doc["messageSignature"]["messageDigest"]["digest"])
    art = Artifact(digest, None, None, {"sha256": digest})
    assert reason(lambda: run(doc, art, ident("thomas@python.org", GOOGLE))) == "checkpoint-missing"
