"""Issue 14's CLI findings, one regression each: the bad file gives ``error[reason]`` and exit 2, not
``error[internal]`` and exit 3."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from tests.conftest import CONFORMANCE, run_assay
from tests.fuzz.targets import ALIAS_BOMB, INDEX

POLICY_HEAD = """apiVersion: assay.dev/v1
kind: Policy
metadata: {name: release}
spec:
  match: {blobs: ["*.bin"]}
  require:
    - name: built
      attestation:
        predicateType: https://slsa.dev/provenance/v1
        authorities: {keys: [k.pub]}
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("findings")
    (d / "a.txt").write_bytes(b"release 1.0\n")
    (d / "app.bin").write_bytes(b"app\n")
    assert run_assay("keygen", "--output-prefix", "k", cwd=d).code == 0
    assert run_assay("sign-blob", "a.txt", "--key", "k.key", "--bundle", "good.json", cwd=d).code == 0
    return d


def _exit2(work: Path, *args: str, reason: str) -> str:
    r = run_assay(*args, cwd=work)
    last = [ln for ln in r.err.splitlines() if ln.strip()][-1] if r.err.strip() else ""
    assert r.code == 2, (r.code, r.err)
    assert last.startswith(f"error[{reason}]:"), r.err
    assert "error[internal]" not in r.err and "Traceback" not in r.err
    return last


def _write(work: Path, name: str, data: str | bytes) -> str:
    (work / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    return name


def _good_bundle(work: Path) -> dict:
    return json.loads((work / "good.json").read_text())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda b: b.update(verificationMaterial=[]), "malformed-field"),
        (lambda b: b.update(mediaType=["x"]), "unknown-bundle-media-type"),
        (lambda b: b["messageSignature"].update(messageDigest="sha256"), "malformed-field"),
        (lambda b: b["verificationMaterial"].update(tlogEntries={"0": 1}), "malformed-field"),
    ],
    ids=["material-list", "media-type-list", "digest-string", "entries-object"],
)
def test_bundle_wrong_json_types(work: Path, change, reason: str) -> None:
    bundle = _good_bundle(work)
    change(bundle)
    name = _write(work, "typed.json", json.dumps(bundle))
    _exit2(work, "verify-blob", "a.txt", "--bundle", name, "--key", "k.pub", reason=reason)


def test_deeply_nested_bundle(work: Path) -> None:
    name = _write(work, "deep.json", "[" * 100_000)
    _exit2(work, "verify-blob", "a.txt", "--bundle", name, "--key", "k.pub", reason="json-too-deep")


def test_integrated_time_beyond_datetime(work: Path) -> None:
    bundle = json.loads((CONFORMANCE / "bundle-verify" / "happy-path-v0.3" / "bundle.sigstore.json").read_text())
    bundle["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = str(2**53 + 1)
    name = _write(work, "late.json", json.dumps(bundle))
    line = _exit2(work, "verify-blob", "a.txt", "--bundle", name, "--key", "k.pub", reason="malformed-field")
    assert "integratedTime" in line


def test_superscript_digit_in_a_bundle_integer(work: Path) -> None:
    bundle = json.loads((CONFORMANCE / "bundle-verify" / "happy-path-v0.3" / "bundle.sigstore.json").read_text())
    bundle["verificationMaterial"]["tlogEntries"][0]["logIndex"] = "\u00b2"
    name = _write(work, "super.json", json.dumps(bundle))
    _exit2(work, "verify-blob", "a.txt", "--bundle", name, "--key", "k.pub", reason="malformed-field")


def _root() -> dict:
    return json.loads((CONFORMANCE / "bundle-verify" / "rekor2-dsse-happy-path" / "trusted_root.json").read_text())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda r: r.update(tlogs=5), "trusted-root-malformed"),
        (lambda r: r.update(certificateAuthorities=[None]), "malformed-field"),
        (lambda r: r["tlogs"][0]["publicKey"].update(validFor=[]), "malformed-field"),
        (lambda r: r.update(mediaType=7), "malformed-field"),
    ],
    ids=["tlogs-number", "ca-null", "validity-list", "media-type-number"],
)
def test_trusted_root_wrong_json_types(work: Path, change, reason: str) -> None:
    root = _root()
    change(root)
    name = _write(work, "root.json", json.dumps(root))
    args = ("--certificate-identity", "x", "--certificate-oidc-issuer", "y", "--trusted-root", name)
    _exit2(work, "verify-blob", "a.txt", "--bundle", "good.json", *args, reason=reason)


def test_unknown_key_algorithm_in_trusted_root_is_not_an_internal_error(work: Path) -> None:
    """A well-formed key of an unknown algorithm (OID) is unusable, like an unsupported one: the log it
    names is then untrusted (exit 1, a reason), never a crash."""
    root = json.loads((Path(__file__).parents[2] / "src/assay/data/public-good/trusted_root.json").read_text())
    bent_keys = 0
    for log in root["tlogs"] + root["ctlogs"]:
        der = base64.b64decode(log["publicKey"]["rawBytes"])
        bent = der.replace(bytes.fromhex("2a8648ce3d0201"), bytes.fromhex("2a8648ce3d0209"))  # ecPublicKey -> .9
        bent_keys += bent != der
        log["publicKey"]["rawBytes"] = base64.b64encode(bent).decode()
    assert bent_keys
    name = _write(work, "oid-root.json", json.dumps(root))
    case = CONFORMANCE / "bundle-verify" / "happy-path-v0.3"
    r = run_assay(
        "verify-blob",
        str(CONFORMANCE / "bundle-verify" / "a.txt"),
        "--bundle",
        str(case / "bundle.sigstore.json"),
        "--trusted-root",
        name,
        "--certificate-identity-regexp",
        ".*",
        "--certificate-oidc-issuer-regexp",
        ".*",
        cwd=work,
    )
    assert r.code == 1 and "error[tlog-unknown-log]" in r.err, r.err
    assert "error[internal]" not in r.err


def test_package_lock_of_a_list(work: Path) -> None:
    (work / "npm").mkdir(exist_ok=True)
    _write(work, "npm/package-lock.json", "[]")
    _exit2(work, "sbom", "npm", reason="sbom-lockfile-malformed")


def test_pipfile_lock_with_nulls(work: Path) -> None:
    (work / "pipenv").mkdir(exist_ok=True)
    _write(work, "pipenv/Pipfile.lock", json.dumps({"default": {"six": None}, "develop": None}))
    line = _exit2(work, "sbom", "pipenv", reason="sbom-lockfile-malformed")
    assert "default.six" in line


def test_poetry_lock_with_a_string_package(work: Path) -> None:
    (work / "poetry").mkdir(exist_ok=True)
    _write(work, "poetry/poetry.lock", 'package = "click"\n')
    _exit2(work, "sbom", "poetry", reason="sbom-lockfile-malformed")


def test_oci_index_with_a_number_for_a_descriptor(work: Path) -> None:
    layout = work / "layout"
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    _write(work, "layout/oci-layout", '{"imageLayoutVersion": "1.0.0"}')
    _write(work, "layout/index.json", json.dumps({"schemaVersion": 2, "manifests": [1]}))
    _exit2(work, "sbom", "oci:layout", reason="layout-malformed")
    bad = dict(INDEX, manifests=[dict(INDEX["manifests"][0], annotations={"a": 1})])
    _write(work, "layout/index.json", json.dumps(bad))
    _exit2(work, "sbom", "oci:layout", reason="layout-malformed")


@pytest.fixture(scope="module")
def vulndb(work: Path) -> str:
    record = {"id": "OSV-1", "modified": "2024-01-01T00:00:00Z", "affected": []}
    _write(work, "osv.json", json.dumps(record))
    assert run_assay("vulndb", "import", "osv.json", "--db", "db", cwd=work).code == 0
    return "db"


@pytest.mark.parametrize(
    "doc",
    [
        {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [1]},
        {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": {"a": 1}},
        {"spdxVersion": "SPDX-2.3", "packages": [{"externalRefs": "pkg:npm/x@1"}]},
        {"spdxVersion": "SPDX-2.3", "packages": 5},
    ],
    ids=["cdx-number", "cdx-object", "spdx-refs-string", "spdx-number"],
)
def test_sbom_documents_of_wrong_types(work: Path, vulndb: str, doc: dict) -> None:
    name = _write(work, "sbom.json", json.dumps(doc))
    _exit2(work, "scan", name, "--db", vulndb, reason="sbom-malformed")


def test_osv_record_of_wrong_types(work: Path) -> None:
    _write(work, "bad-osv.json", json.dumps({"id": "OSV-2", "affected": [{"package": 5}]}))
    _exit2(work, "vulndb", "import", "bad-osv.json", "--db", "db2", reason="osv-malformed")


def test_cel_with_5000_nested_parentheses(work: Path) -> None:
    cel = "(" * 5000 + "true" + ")" * 5000
    name = _write(work, "cel.yaml", POLICY_HEAD + f'        conditions: ["{cel}"]\n')
    _exit2(work, "policy", "eval", "--policy", name, "app.bin", reason="policy-cel-too-complex")


@pytest.mark.parametrize("cel", ["!" * 3000 + "true", "+".join(["1"] * 1500) + " == 1"], ids=["unary", "sum"])
def test_cel_long_operator_chains(work: Path, cel: str) -> None:
    name = _write(work, "chain.yaml", POLICY_HEAD + f'        conditions: ["{cel}"]\n')
    _exit2(work, "policy", "eval", "--policy", name, "app.bin", reason="policy-cel-too-complex")


def test_max_age_beyond_timedelta(work: Path) -> None:
    name = _write(work, "age.yaml", POLICY_HEAD + "        maxAge: 99999999999999999999999h\n")
    line = _exit2(work, "policy", "eval", "--policy", name, "app.bin", reason="policy-invalid")
    assert "age.yaml:11:" in line


def test_policy_alias_bomb_is_refused_quickly(work: Path) -> None:
    assert len(ALIAS_BOMB) < 500
    name = _write(work, "bomb.yaml", ALIAS_BOMB)
    start = time.monotonic()
    _exit2(work, "policy", "eval", "--policy", name, "app.bin", reason="policy-yaml-alias-budget")
    assert time.monotonic() - start < 30  # loosely: it used to take gigabytes and minutes


def test_deeply_nested_policy(work: Path) -> None:
    name = _write(work, "deep.yaml", "[" * 5000)
    _exit2(work, "policy", "eval", "--policy", name, "app.bin", reason="policy-yaml-too-deep")


def test_policy_spec_of_the_wrong_type(work: Path) -> None:
    name = _write(work, "spec.yaml", "apiVersion: assay.dev/v1\nkind: Policy\nmetadata: {name: x}\nspec: [1]\n")
    _exit2(work, "policy", "eval", "--policy", name, "app.bin", reason="policy-invalid")


def test_checksums_file_with_superscript_and_nul(work: Path) -> None:
    name = _write(work, "SUMS", "\u00b2" * 64 + "  a.txt\n\x00\n")
    _exit2(work, "checksums", "verify", name, reason="checksums-malformed")
