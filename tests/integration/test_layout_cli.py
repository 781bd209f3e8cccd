"""``assay run``, ``record``, ``layout init|sign``, ``verify-layout`` and ``rebuild-check`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.formats.bundle import parse_bundle
from assay.layout.envelope import parse_signed
from tests.conftest import require_tool, run_assay
from tests.integration.conftest import ServerProcess, dev_token

pytestmark = pytest.mark.slow  # every test runs the CLI several times

LAYOUT = """\
expires: "2035-01-01T00:00:00Z"
functionaries:
  dev: {key: dev.pub}
steps:
  - name: write
    functionaries: [dev]
    expected_products:
      - CREATE src/*
      - DISALLOW *
  - name: package
    functionaries: [dev]
    expected_command: [tar, -cf, app.tar, src]
    expected_materials:
      - MATCH src/* WITH PRODUCTS FROM write
      - DISALLOW *
    expected_products:
      - CREATE app.tar
      - ALLOW src/*
      - DISALLOW *
"""


def _ok(r):
    assert r.code == 0, r.err
    return r


@pytest.fixture
def project(tmp_path: Path) -> Path:
    _ok(run_assay("keygen", "--output-prefix", "dev", cwd=tmp_path))
    _ok(run_assay("keygen", "--output-prefix", "owner", cwd=tmp_path))
    (tmp_path / "root.yaml").write_text(LAYOUT)
    _ok(run_assay("layout", "sign", "root.yaml", "--key", "owner.key", cwd=tmp_path))
    return tmp_path


def _record_chain(d: Path, *extra: str) -> None:
    _ok(
        run_assay(
            "run",
            "--step",
            "write",
            "--key",
            "dev.key",
            "-p",
            "src",
            *extra,
            "--",
            "sh",
            "-c",
            "mkdir -p src && echo hi > src/a",
            cwd=d,
        )
    )
    _ok(
        run_assay(
            "run",
            "--step",
            "package",
            "--key",
            "dev.key",
            "-m",
            "src",
            "-p",
            "src",
            "-p",
            "app.tar",
            *extra,
            "--",
            "tar",
            "-cf",
            "app.tar",
            "src",
            cwd=d,
        )
    )


def _verify(d: Path, *extra: str):
    return run_assay(
        "verify-layout", "--layout", "root.layout", "--layout-key", "owner.pub", "--links", ".", *extra, cwd=d
    )


def test_chain_verifies_and_explains(project: Path):
    _record_chain(project)
    r = _ok(_verify(project, "-o", "json"))
    doc = json.loads(r.out)
    package = doc["steps"][1]
    assert package["expected_materials"][0] == {
        "rule": "MATCH src/* WITH PRODUCTS FROM write",
        "location": "root.layout:" + package["expected_materials"][0]["location"].split(":")[1],
        "consumed": ["src/a"],
        "remaining": 0,
    }
    dist = project / "dist"
    dist.mkdir()
    (dist / "app.tar").write_bytes((project / "app.tar").read_bytes())
    _ok(_verify(project, "--artifacts", "dist"))
    (dist / "notes.txt").write_text("not built by the chain")
    r = _verify(project, "--artifacts", "dist")
    assert r.code == 1 and "error[artifact-not-produced]" in r.err


def test_rule_failure_cites_yaml_line_and_digests(project: Path):
    _record_chain(project)
    (project / "src" / "a").write_text("changed")
    _ok(
        run_assay(
            "run",
            "--step",
            "package",
            "--key",
            "dev.key",
            "-m",
            "src",
            "-p",
            "src",
            "-p",
            "app.tar",
            "--",
            "true",
            cwd=project,
        )
    )
    r = _verify(project, "--layout-source", "root.yaml")
    assert r.code == 1 and "error[disallowed-artifact]" in r.err
    assert "root.yaml:15" in r.err and "src/a" in r.err
    j = _verify(project, "-o", "json")
    assert j.code == 1 and json.loads(j.out)["reason"] == "disallowed-artifact"


def test_final_artifacts_must_match(project: Path):
    _record_chain(project)
    (project / "dist").mkdir()
    (project / "dist" / "app.tar").write_bytes(b"swapped")
    r = _verify(project, "--artifacts", "dist")
    assert r.code == 1 and "error[artifact-digest-mismatch]" in r.err


def test_layout_source_must_match_signed_layout(project: Path):
    _record_chain(project)
    (project / "other.yaml").write_text(LAYOUT.replace("CREATE app.tar", "CREATE app.tgz"))
    r = _verify(project, "--layout-source", "other.yaml")
    assert r.code == 2 and "error[layout-source-mismatch]" in r.err


def test_run_keeps_exit_code_and_streams(project: Path):
    r = run_assay(
        "run",
        "--step",
        "write",
        "--key",
        "dev.key",
        "--record-streams",
        "-p",
        "out",
        "--",
        "sh",
        "-c",
        "echo made > out; echo oops >&2; exit 3",
        cwd=project,
    )
    assert r.code == 3 and "oops" in r.err
    link_file = next(project.glob("write.*.link.sigstore.json"))
    bundle = parse_bundle(link_file.read_bytes())
    assert bundle.dsse_envelope is not None
    link = parse_signed(link_file.read_bytes(), "x").link("x")
    assert link.byproducts["return-value"] == 3 and link.byproducts["stdout"] == ""
    assert link.byproducts["stderr"] == "oops\n" and "out" in link.products


def test_record_start_stop(project: Path):
    (project / "in.txt").write_text("x")
    _ok(run_assay("record", "start", "--step", "write", "-m", "in.txt", cwd=project))
    (project / "src").mkdir()
    (project / "src" / "b").write_text("y")
    _ok(run_assay("record", "stop", "--step", "write", "-p", "src", "--key", "dev.key", "--legacy", cwd=project))
    link = parse_signed(next(project.glob("write.*.link")).read_bytes(), "x").link("x")
    assert set(link.materials) == {"in.txt"} and set(link.products) == {"src/b"}
    r = run_assay("record", "stop", "--step", "write", "-p", "src", "--key", "dev.key", cwd=project)
    assert r.code == 2 and "error[record-not-started]" in r.err


def test_bad_materials(project: Path):
    (project / "loop1").symlink_to("loop2")
    (project / "loop2").symlink_to("loop1")
    (project / "d").mkdir()
    (project / "d" / "up").symlink_to("..")
    (project / "mem").symlink_to("/proc/self/mem")  # outside the tree: never followed (issue 22.4)
    for args, reason in (
        (["-m", "loop1"], "symlink-loop"),
        (["-m", "d"], "symlink-loop"),
        (["-m", "mem"], "artifact-path-escapes"),
        (["-m", "../elsewhere"], "artifact-path-escapes"),
        (["-p", "/etc/hostname"], "artifact-path-escapes"),
    ):
        r = run_assay("run", "--step", "write", "--key", "dev.key", *args, "--", "true", cwd=project)
        assert r.code == 2 and f"error[{reason}]" in r.err, (args, r.err)


def test_exclude_and_lstrip(project: Path):
    (project / "build" / "obj").mkdir(parents=True)
    (project / "build" / "obj" / "a.o").write_text("o")
    (project / "build" / "a.tmp").write_text("t")
    _ok(
        run_assay(
            "run",
            "--step",
            "write",
            "--key",
            "dev.key",
            "--legacy",
            "-p",
            "build",
            "--exclude",
            "*.tmp",
            "--lstrip-paths",
            "build/",
            "--",
            "true",
            cwd=project,
        )
    )
    link = parse_signed(next(project.glob("write.*.link")).read_bytes(), "x").link("x")
    assert list(link.products) == ["obj/a.o"]


def test_layout_init_sign_and_bad_layouts(tmp_path: Path):
    _ok(run_assay("keygen", "--output-prefix", "alice", cwd=tmp_path))
    _ok(run_assay("layout", "init", "--functionary", "alice=alice.pub", cwd=tmp_path))
    _ok(run_assay("layout", "sign", "root.yaml", "--key", "alice.key", cwd=tmp_path))
    assert json.loads((tmp_path / "root.layout").read_text())["signed"]["_type"] == "layout"
    r = run_assay("layout", "init", cwd=tmp_path)
    assert r.code == 2 and "error[file-exists]" in r.err
    text = (tmp_path / "root.yaml").read_text()
    for bad, reason in (
        (text.replace('"DISALLOW *"', '"FORBID *"'), "rule-unknown-keyword"),
        (text.replace("name: build", "name: checkout"), "duplicate-step-name"),
        (text.replace("threshold: 1", "threshold: 2"), "threshold-above-functionaries"),
    ):
        (tmp_path / "bad.yaml").write_text(bad)
        r = run_assay("layout", "sign", "bad.yaml", "--key", "alice.key", cwd=tmp_path)
        assert r.code == 2 and f"error[{reason}]" in r.err, r.err
    r = run_assay("layout", "sign", "root.yaml", "--key", "alice.pub", cwd=tmp_path)
    assert r.code == 2


def test_inspections_opt_in(project: Path):
    text = (
        LAYOUT
        + "inspections:\n  - name: list\n    run: [tar, -tf, app.tar]\n    expected_materials:\n      - MATCH app.tar WITH PRODUCTS FROM package\n      - ALLOW *\n"
    )
    (project / "root.yaml").write_text(text)
    _ok(run_assay("layout", "sign", "root.yaml", "--key", "owner.key", cwd=project))
    _record_chain(project)
    r = _verify(project)
    assert r.code == 2 and "error[inspections-not-enabled]" in r.err
    _ok(_verify(project, "--run-inspections"))
    (project / "app.tar").write_bytes(b"not the packaged tar")
    r = _verify(project, "--run-inspections")
    assert r.code == 1, r.err


def _two_builds(d: Path, same: bool) -> tuple[Path, Path]:
    outs = []
    for n, who in ((1, "dev"), (2, "owner")):
        b = d / f"b{n}"
        b.mkdir()
        content = "fixed" if same or n == 1 else "fixed but different"
        _ok(
            run_assay(
                "run",
                "--step",
                "build",
                "--key",
                str(d / f"{who}.key"),
                "--legacy",
                "-p",
                "out.txt",
                "--",
                "sh",
                "-c",
                f"printf '{content}' > out.txt",
                cwd=b,
            )
        )
        outs.append(b)
    return outs[0], outs[1]


def test_rebuild_check_reproducible_with_attestation(project: Path):
    b1, b2 = _two_builds(project, same=True)
    l1, l2 = next(b1.glob("*.link")), next(b2.glob("*.link"))
    r = _ok(
        run_assay(
            "rebuild-check",
            "--link",
            str(l1),
            "--link",
            str(l2),
            "--link-key",
            "dev.pub",
            "--link-key",
            "owner.pub",
            "--key",
            "owner.key",
            "--attestation",
            "repro.json",
            cwd=project,
        )
    )
    assert "Reproducible" in r.out
    bundle = parse_bundle((project / "repro.json").read_bytes())
    assert bundle.dsse_envelope is not None
    stmt = json.loads(bundle.dsse_envelope.payload)
    assert stmt["predicateType"] == "https://assay.dev/attestation/reproducible/v1"
    assert stmt["predicate"]["verdict"] == "reproducible" and len(stmt["predicate"]["builders"]) == 2
    _ok(
        run_assay(
            "verify-blob-attestation", str(b1 / "out.txt"), "--bundle", "repro.json", "--key", "owner.pub", cwd=project
        )
    )


def test_rebuild_check_differs_runs_diffoscope(project: Path):
    require_tool("diffoscope")
    b1, b2 = _two_builds(project, same=False)
    l1, l2 = next(b1.glob("*.link")), next(b2.glob("*.link"))
    r = run_assay(
        "rebuild-check",
        "--link",
        str(l1),
        "--link",
        str(l2),
        "--artifacts",
        str(b1),
        "--artifacts",
        str(b2),
        cwd=project,
    )
    assert r.code == 1 and "NOT reproducible" in r.out
    assert "first difference at byte 5" in r.err and "diffoscope:" in r.err and "fixed but different" in r.err
    r = run_assay("rebuild-check", "--link", str(l1), "--link", str(l2), "--link-key", "dev.pub", cwd=project)
    assert r.code == 1 and "error[link-signature-invalid]" in r.err


def test_keyless_functionary(tmp_path: Path):
    srv = ServerProcess(tmp_path / "data", None, extra=["--dev"]).start()
    try:
        _ok(run_assay("keygen", "--output-prefix", "owner", cwd=tmp_path))
        issuer = srv.url + "/dev/oidc"
        text = f"""\
expires: "2035-01-01T00:00:00Z"
functionaries:
  ci: {{issuer: "{issuer}", subject: alice@example.com}}
steps:
  - name: build
    functionaries: [ci]
    expected_products: [CREATE out.txt, DISALLOW *]
"""
        (tmp_path / "root.yaml").write_text(text)
        _ok(run_assay("layout", "sign", "root.yaml", "--key", "owner.key", cwd=tmp_path))
        token = dev_token(srv, email="alice@example.com")
        links = tmp_path / "links"
        _ok(
            run_assay(
                "run",
                "--step",
                "build",
                "--identity-token",
                token,
                "--server",
                srv.url,
                "--links-dir",
                str(links),
                "-p",
                "out.txt",
                "--",
                "sh",
                "-c",
                "echo x > out.txt",
                cwd=tmp_path,
            )
        )
        args = ["verify-layout", "--layout", "root.layout", "--layout-key", "owner.pub", "--links", str(links)]
        r = run_assay(*args, cwd=tmp_path)  # no trusted root: the keyless link cannot be checked
        assert r.code == 1 and "keyless links need a trusted root" in r.err
        _ok(run_assay(*args, "--server", srv.url, cwd=tmp_path))
        (tmp_path / "root.yaml").write_text(text.replace("alice@example.com", "mallory@example.com"))
        _ok(run_assay("layout", "sign", "root.yaml", "--key", "owner.key", cwd=tmp_path))
        r = run_assay(*args, "--server", srv.url, cwd=tmp_path)
        assert r.code == 1 and "error[link-signer-not-authorised]" in r.err and "identity-mismatch" in r.err
    finally:
        srv.stop()


POLICY = """\
apiVersion: assay.dev/v1
kind: Policy
metadata: {name: built-by-our-chain}
spec:
  match: {blobs: ["*"]}
  require:
    - name: chain
      layout:
        layout: root.layout
        keys: [owner.pub]
        links: .
"""


def test_policy_layout_rule(project: Path):
    _record_chain(project)
    (project / "policy.yaml").write_text(POLICY)
    r = run_assay("policy", "eval", "--policy", "policy.yaml", "app.tar", "-o", "json", cwd=project)
    assert r.code == 0, r.err + r.out
    (project / "other.bin").write_text("not built here")
    r = run_assay("policy", "eval", "--policy", "policy.yaml", "other.bin", "-o", "json", cwd=project)
    assert r.code == 1 and "artifact-not-produced" in r.out
    (project / "bad.yaml").write_text(POLICY.replace("root.layout", "missing.layout"))
    r = run_assay("policy", "eval", "--policy", "bad.yaml", "app.tar", cwd=project)
    assert r.code == 2 and "error[policy-layout-unreadable]" in r.err


def test_layout_signed_with_hsm_and_file_keys(hsm, project: Path):
    uri = "hsm:2?label=assay-test"
    _ok(run_assay("public-key", "--key", uri, "--out", "hsm.pub", cwd=project, env=hsm))
    _ok(run_assay("layout", "sign", "root.yaml", "--key", uri, "--key", "owner.key", cwd=project, env=hsm))
    _record_chain(project)
    args = ["verify-layout", "--layout", "root.layout", "--links", ".", "--layout-key", "owner.pub"]
    _ok(run_assay(*args, "--layout-key", "hsm.pub", cwd=project))
    _ok(run_assay("keygen", "--output-prefix", "stranger", cwd=project))
    r = run_assay(*args, "--layout-key", "stranger.pub", cwd=project)
    assert r.code == 1 and "error[layout-signature-invalid]" in r.err


def test_rebuild_check_on_provenance_bundles(project: Path):
    pred = project / "pred.json"
    pred.write_text(
        json.dumps({"buildDefinition": {"buildType": "x"}, "runDetails": {"builder": {"id": "https://ci.example/a"}}})
    )
    bundles = []
    for n, (who, content) in enumerate((("dev", "same"), ("owner", "same"))):
        d = project / f"p{n}"
        d.mkdir()
        (d / "app.bin").write_text(content)
        _ok(
            run_assay(
                "attest-blob",
                "app.bin",
                "--predicate",
                str(pred),
                "--type",
                "slsaprovenance1",
                "--key",
                str(project / f"{who}.key"),
                "--bundle",
                "prov.json",
                cwd=d,
            )
        )
        bundles.append(str(d / "prov.json"))
    r = run_assay(
        "rebuild-check",
        "--link",
        bundles[0],
        "--link",
        bundles[1],
        "--link-key",
        "dev.pub",
        "--link-key",
        "owner.pub",
        "-o",
        "json",
        cwd=project,
    )
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["verdict"] == "reproducible" and list(doc["builders"][0]["products"]) == ["app.bin"]
    (project / "p1" / "app.bin").write_text("other")
    _ok(
        run_assay(
            "attest-blob",
            "app.bin",
            "--predicate",
            str(pred),
            "--type",
            "slsaprovenance1",
            "--key",
            str(project / "owner.key"),
            "--bundle",
            "prov.json",
            cwd=project / "p1",
        )
    )
    r = run_assay("rebuild-check", "--link", bundles[0], "--link", bundles[1], "-o", "json", cwd=project)
    assert r.code == 1 and json.loads(r.out)["differences"][0]["name"] == "app.bin"
