"""PEP 740 (PyPI) attestations and provenance files, read as bundles and verified as published."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path

import pytest

from assay.errors import AssayError, InputError
from assay.formats import pep740
from assay.formats.bundle import parse_bundle
from assay.service import trust
from assay.verify.identity import IdentityPolicy
from assay.verify.model import Artifact
from assay.verify.pipeline import verify
from assay.verify.policy import Policy

PYPI = Path(__file__).resolve().parents[2] / "data" / "realworld" / "pypi"
GITLAB = PYPI / "gitlab_oidc_project-0.0.3.tar.gz.publish.attestation"
GITLAB_ID = "https://gitlab.com/facutuesca/gitlab-oidc-project//.gitlab-ci.yml@refs/heads/main"
PROVENANCE = PYPI / "pypi_attestations-0.0.19.tar.gz.provenance"
PUBLISH = "https://docs.pypi.org/attestations/publish/v1"


def _verify(doc: dict, artifact: Path, identity: IdentityPolicy) -> None:
    bundle = parse_bundle(pep740.to_bundle(doc))
    policy = Policy(identity=identity, predicate_type=PUBLISH, expect_statement=True)
    verify(bundle, Artifact(hashlib.sha256(artifact.read_bytes()).digest()), policy, trust.shipped_root_for(bundle))


def test_gitlab_publish_attestation_verifies() -> None:
    doc = json.loads(GITLAB.read_text())
    assert pep740.is_attestation(doc) and not pep740.is_provenance(doc)
    _verify(doc, PYPI / "gitlab_oidc_project-0.0.3.tar.gz", IdentityPolicy(GITLAB_ID, None, "https://gitlab.com"))


def test_provenance_file_verifies() -> None:
    doc = json.loads(PROVENANCE.read_text())
    (att,) = pep740.provenance_attestations(doc)
    identity = IdentityPolicy(
        None, r"https://github\.com/trailofbits/pypi-attestations/.*", "https://token.actions.githubusercontent.com"
    )
    _verify(att, PYPI / "pypi_attestations-0.0.19.tar.gz", identity)


def test_tampered_statement_is_refused() -> None:
    doc = copy.deepcopy(json.loads(GITLAB.read_text()))
    statement = json.loads(base64.b64decode(doc["envelope"]["statement"]))
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    doc["envelope"]["statement"] = base64.b64encode(json.dumps(statement).encode()).decode()
    with pytest.raises(AssayError) as exc:
        _verify(doc, PYPI / "gitlab_oidc_project-0.0.3.tar.gz", IdentityPolicy(GITLAB_ID, None, "https://gitlab.com"))
    assert exc.value.reason == "tlog-body-mismatch"  # the logged payload hash no longer matches


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda d: d.update(version=2), "pep740-unsupported-version"),
        (lambda d: d["verification_material"].update(transparency_entries={}), "malformed-field"),
        (lambda d: d["envelope"].pop("signature"), "malformed-field"),
    ],
)
def test_malformed_attestations(edit, reason: str) -> None:
    doc = copy.deepcopy(json.loads(GITLAB.read_text()))
    edit(doc)
    with pytest.raises(InputError) as exc:
        pep740.to_bundle(doc)
    assert exc.value.reason == reason
