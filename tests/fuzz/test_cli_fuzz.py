"""The CLI on a seeded sample of fuzzed files: every run ends with exit 0, 1 or 2 — never ``error[internal]``
(exit 3) and never a traceback."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import Run, run_assay
from tests.fuzz.mutate import mutate
from tests.fuzz.targets import targets

SAMPLES = 5  # mutants per command; benchmarks/fuzz.py runs the parsers on a million
TARGETS = targets()


def _prepare(work: Path) -> None:
    (work / "a.txt").write_bytes(b"release 1.0\n")
    (work / "app.bin").write_bytes(b"app\n")
    assert run_assay("keygen", "--output-prefix", "k", cwd=work).code == 0
    assert run_assay("sign-blob", "a.txt", "--key", "k.key", "--bundle", "good.json", cwd=work).code == 0
    (work / "SUMS").write_text(f"{'0' * 64}  a.txt\n")
    osv = {"id": "OSV-1", "modified": "2024-01-01T00:00:00Z", "affected": []}
    (work / "osv.json").write_text(json.dumps(osv))
    assert run_assay("vulndb", "import", "osv.json", "--db", "db", cwd=work).code == 0


def _layout(work: Path, name: str, index: bytes) -> str:
    root = work / name
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_bytes(index)
    return f"oci:{name}"


def _cases(work: Path) -> list[tuple[str, ...]]:
    rng = random.Random(14)
    good_bundle = (work / "good.json").read_bytes()
    cases: list[tuple[str, ...]] = []
    for i in range(SAMPLES):
        name = f"bundle-{i}.json"
        (work / name).write_bytes(mutate(rng.choice([good_bundle, *TARGETS["bundle"].seeds]), rng))
        cases.append(("verify-blob", "a.txt", "--bundle", name, "--key", "k.pub"))

        name = f"root-{i}.json"
        (work / name).write_bytes(mutate(rng.choice(TARGETS["trusted-root"].seeds), rng))
        identity = ("--certificate-identity", "x", "--certificate-oidc-issuer", "y")
        cases.append(("verify-blob", "a.txt", "--bundle", "good.json", "--trusted-root", name, *identity))

        name = f"policy-{i}.yaml"
        (work / name).write_bytes(mutate(rng.choice(TARGETS["policy"].seeds), rng))
        cases.append(("policy", "eval", "--policy", name, "app.bin"))

        for lock in ("package-lock.json", "Pipfile.lock"):
            folder = work / f"tree-{lock}-{i}"
            folder.mkdir()
            (folder / lock).write_bytes(mutate(TARGETS[f"sbom:{lock}"].seeds[0], rng))
            cases.append(("sbom", folder.name))

        cases.append(("sbom", _layout(work, f"layout-{i}", mutate(TARGETS["oci-layout"].seeds[0], rng))))

        name = f"sbom-{i}.json"
        (work / name).write_bytes(mutate(rng.choice(TARGETS["sbom-document"].seeds), rng))
        cases.append(("scan", name, "--db", "db"))

        name = f"SUMS-{i}"
        (work / name).write_bytes(mutate(TARGETS["checksums"].seeds[0], rng))
        cases.append(("checksums", "verify", name, "--ignore-missing"))
    return cases


@pytest.mark.slow
def test_cli_never_reports_internal_errors_on_fuzzed_files(tmp_path: Path) -> None:
    _prepare(tmp_path)
    cases = _cases(tmp_path)

    def run(args: tuple[str, ...]) -> tuple[tuple[str, ...], Run]:
        return args, run_assay(*args, cwd=tmp_path)

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(run, cases))
    failures = [
        (args, r.code, r.err[-300:])
        for args, r in results
        if r.code not in (0, 1, 2) or "error[internal]" in r.err or "Traceback" in r.err
    ]
    assert not failures, failures
    refused = [r for _, r in results if r.code == 2]
    assert refused and all("error[" in r.err for r in refused)  # bad input is refused with a reason code
