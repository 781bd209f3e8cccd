import json
from pathlib import Path

from tests.conftest import run_assay

D = "sha256:" + "d" * 64


def test_repo_pass_json(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM debian@{D} AS b\nRUN apt-get install -y curl=7.1\nFROM b\n")
    (tmp_path / "go.mod").write_text("module x\n")
    (tmp_path / "go.sum").write_text("")
    r = run_assay("checklist", "--repo", str(tmp_path), "-o", "json")
    assert r.code == 0, r.err
    rows = {x["item"]: x["status"] for x in json.loads(r.out)["rows"]}
    assert rows == {"base-images-pinned": "pass", "dependencies-locked": "pass"}


def test_repo_fail_table(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM debian\n")
    (tmp_path / "Cargo.toml").write_text("")
    r = run_assay("checklist", "--repo", str(tmp_path))
    assert r.code == 1
    assert "FROM debian" in r.out and "lockfile-missing" in r.out


def test_unparseable_dockerfile_exit_2(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM a b c d\n")
    r = run_assay("checklist", "--repo", str(tmp_path))
    assert r.code == 2 and "dockerfile-unparseable" in r.err


def test_sarif_and_registry_unknown(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM debian\n")
    r = run_assay("checklist", "--repo", str(tmp_path), "--registry", "127.0.0.1:5000", "-o", "sarif")
    doc = json.loads(r.out)
    assert doc["version"] == "2.1.0"
    assert [x["ruleId"] for x in doc["runs"][0]["results"]] == ["base-images-pinned"]
    r = run_assay("checklist", "--registry", "127.0.0.1:5000", "-o", "json")
    assert json.loads(r.out)["rows"][0]["status"] == "unknown"


def _rows(r) -> dict[str, dict]:
    assert r.code in (0, 1), r.err
    return {x["item"]: x for x in json.loads(r.out)["rows"]}


def test_image_rows_offline_layout(tmp_path: Path) -> None:
    from assay.oci.layout import Layout
    from tests.integration.conftest import build_image, tar_layer

    build_image(Layout(tmp_path / "layout", create=True), "", "v1", [tar_layer({"bin/app": b"x"})])
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    assert run_assay("keygen", "--output-prefix", "o", cwd=tmp_path).code == 0
    img = "oci:layout:v1"
    # nothing attached: each image row fails with the pipeline's reason
    rows = _rows(run_assay("checklist", "--image", img, "--key", "k.pub", "-o", "json", cwd=tmp_path))
    assert {k: v["status"] for k, v in rows.items()} == dict.fromkeys(
        ("image-signed", "image-provenance", "image-sbom"), "fail"
    )
    assert "no-signatures" in rows["image-signed"]["evidence"][0]
    # signed and with an SBOM: those pass, provenance still fails
    assert run_assay("sign", img, "--key", "k.key", cwd=tmp_path).code == 0
    (tmp_path / "bom.json").write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1}))
    assert run_assay("attach", "sbom", img, "--sbom", "bom.json", "--key", "k.key", cwd=tmp_path).code == 0
    r = run_assay("checklist", "--image", img, "--key", "k.pub", "-o", "json", cwd=tmp_path)
    rows = _rows(r)
    assert r.code == 1
    assert (rows["image-signed"]["status"], rows["image-sbom"]["status"], rows["image-provenance"]["status"]) == (
        "pass", "pass", "fail",
    )  # fmt: skip
    # the wrong key: nothing verifies
    rows = _rows(run_assay("checklist", "--image", img, "--key", "o.pub", "-o", "json", cwd=tmp_path))
    assert rows["image-signed"]["status"] == "fail" and "signature-mismatch" in rows["image-signed"]["evidence"][0]
    # no key or identity: unknown, never pass, with what is attached (sign writes a referrer and a .sig tag)
    rows = _rows(run_assay("checklist", "--image", img, "-o", "json", cwd=tmp_path))
    assert {v["status"] for v in rows.values()} == {"unknown"}
    assert "2 signature(s) attached" in rows["image-signed"]["evidence"][0]


def test_release_rows(tmp_path: Path) -> None:
    rel = tmp_path / "rel"
    rel.mkdir()
    for n in ("app-linux", "app-darwin"):
        (rel / n).write_bytes(n.encode() * 100)
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    # no checksums file at all
    rows = _rows(run_assay("checklist", "--release", str(rel), "-o", "json"))
    assert rows["release-checksums"]["status"] == "fail" and rows["release-signed"]["status"] == "fail"
    sums = run_assay("checksums", "create", "app-linux", "app-darwin", cwd=rel)
    assert sums.code == 0, sums.err
    (rel / "checksums.txt").write_text(sums.out)
    rows = _rows(run_assay("checklist", "--release", str(rel), "--key", str(tmp_path / "k.pub"), "-o", "json"))
    assert rows["release-checksums"]["status"] == "pass"
    assert (
        rows["release-signed"]["status"] == "fail"
        and "no checksums.txt.sigstore.json" in rows["release-signed"]["evidence"][0]
    )
    # signed with a bundle: passes with the key, unknown without one
    s = run_assay(
        "sign-blob",
        "checksums.txt",
        "--key",
        str(tmp_path / "k.key"),
        "--bundle",
        "checksums.txt.sigstore.json",
        cwd=rel,
    )
    assert s.code == 0, s.err
    r = run_assay("checklist", "--release", str(rel), "--key", str(tmp_path / "k.pub"), "-o", "json")
    assert r.code == 0, r.out
    assert _rows(run_assay("checklist", "--release", str(rel), "-o", "json"))["release-signed"]["status"] == "unknown"
    # a tampered artifact and an unlisted one both fail the checksums row
    (rel / "app-linux").write_bytes(b"evil")
    (rel / "extra.tar.gz").write_bytes(b"x")
    rows = _rows(run_assay("checklist", "--release", str(rel), "--key", str(tmp_path / "k.pub"), "-o", "json"))
    ev = rows["release-checksums"]["evidence"]
    assert rows["release-checksums"]["status"] == "fail"
    assert "checksums.txt: app-linux failed" in ev and "extra.tar.gz is in no checksums file" in ev
    # a tampered checksums file: the signature row fails with the pipeline's reason
    (rel / "checksums.txt").write_text(sums.out + "0" * 64 + "  extra.tar.gz\n")
    rows = _rows(run_assay("checklist", "--release", str(rel), "--key", str(tmp_path / "k.pub"), "-o", "json"))
    assert rows["release-signed"]["status"] == "fail"
    assert (
        "signature-mismatch" in rows["release-signed"]["evidence"][0]
        or "digest-mismatch" in rows["release-signed"]["evidence"][0]
    )


def test_cluster_manifest_rows(tmp_path: Path) -> None:
    from assay.admission.install import InstallSpec, generate_cert, render

    d = tmp_path / "k8s"
    d.mkdir()
    (d / "app.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
    rows = _rows(run_assay("checklist", "--cluster-manifests", str(d), "-o", "json"))
    assert rows["admission-enforcing"]["status"] == "fail"
    # a Kyverno verifyImages policy in Audit mode does not enforce
    (d / "kyverno.yaml").write_text(
        "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: sigs}\nspec:\n  rules:\n"
        "  - name: verify\n    verifyImages: [{imageReferences: ['*']}]\n"
    )
    rows = _rows(run_assay("checklist", "--cluster-manifests", str(d), "-o", "json"))
    assert rows["admission-enforcing"]["status"] == "fail" and "(Audit)" in rows["admission-enforcing"]["evidence"][0]
    # what `assay admission install` writes enforces
    tls = generate_cert("assay-admission", "assay-system")
    (d / "assay.yaml").write_text(render(InstallSpec("assay-system", "assay-admission", tls, "assay:dev")))
    r = run_assay("checklist", "--cluster-manifests", str(d), "-o", "json")
    rows = _rows(r)
    assert r.code == 0 and rows["admission-enforcing"]["status"] == "pass"
    assert any("assay.dev (failurePolicy Fail)" in e for e in rows["admission-enforcing"]["evidence"])
    (d / "broken.yaml").write_text("a: [\n")
    r = run_assay("checklist", "--cluster-manifests", str(d))
    assert r.code == 2 and "error[manifest-unparseable]" in r.err


CHECKLIST_POLICY = """apiVersion: assay.dev/v1
kind: Policy
metadata: {name: checklist}
spec:
  match: {images: ["*"]}
  require:
    - name: release-ready
      checklist:
        authorities: {keys: [KEY]}
ITEMS"""


def test_checklist_policy_rule(tmp_path: Path) -> None:
    from assay.oci.layout import Layout
    from tests.integration.conftest import build_image, tar_layer

    build_image(Layout(tmp_path / "layout", create=True), "", "v1", [tar_layer({"bin/app": b"y"})])
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    assert run_assay("keygen", "--output-prefix", "o", cwd=tmp_path).code == 0
    img = "oci:layout:v1"

    def evaluate(key: str, items: str = "") -> tuple[int, dict]:
        (tmp_path / "p.yaml").write_text(CHECKLIST_POLICY.replace("KEY", key).replace("ITEMS", items))
        r = run_assay("policy", "eval", img, "--policy", "p.yaml", "-o", "json", cwd=tmp_path)
        assert r.code in (0, 1), r.err
        (rule,) = json.loads(r.out)["evaluations"][0]["rules"]
        return r.code, rule

    code, rule = evaluate("k.pub")
    assert code == 1 and rule["kind"] == "checklist" and rule["reason"] == "no-signatures"
    assert rule["message"].startswith("image-signed:")
    assert run_assay("sign", img, "--key", "k.key", cwd=tmp_path).code == 0
    code, rule = evaluate("k.pub")
    assert code == 1 and rule["reason"] == "attestation-missing" and rule["message"].startswith("image-provenance:")
    found = {c["what"]: c["found"] for c in rule["checks"] if c["what"].startswith("image-")}
    assert found == {"image-signed": "pass", "image-provenance": "fail (attestation-missing)",
                     "image-sbom": "fail (attestation-missing)"}  # fmt: skip
    # only the items asked for
    assert evaluate("k.pub", "        items: [image-signed]\n")[0] == 0
    # another key's authority: the signature item fails as a signature rule would
    code, rule = evaluate("o.pub", "        items: [image-signed]\n")
    assert code == 1 and rule["reason"] == "threshold-not-met"
    # an unknown item is refused when the policy loads
    (tmp_path / "p.yaml").write_text(CHECKLIST_POLICY.replace("KEY", "k.pub").replace("ITEMS", "        items: [x]\n"))
    r = run_assay("policy", "eval", img, "--policy", "p.yaml", cwd=tmp_path)
    assert r.code == 2 and "error[policy-invalid]" in r.err
