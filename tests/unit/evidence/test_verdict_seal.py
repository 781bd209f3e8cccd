"""Only the verification pipeline marks evidence verified (issue 22 item 0)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from assay.errors import VerificationError
from assay.evidence.parse import parse_item
from assay.evidence.store import EvidenceStore
from assay.evidence.trust import Verdict
from assay.store.db import migrate, open_engine

SRC = Path(__file__).resolve().parents[3] / "src" / "assay"
BUNDLE = b'{"payloadType": "application/vnd.in-toto+json", "payload": "%s", "signatures": [{"sig": "AA=="}]}'


def test_a_verdict_made_outside_verify_item_is_refused_by_the_store(tmp_path: Path):
    import base64
    import json

    st = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "x",
          "subject": [{"name": "a", "digest": {"sha256": "ab" * 32}}]}  # fmt: skip
    item = parse_item(BUNDLE % base64.b64encode(json.dumps(st).encode()))
    engine = open_engine(f"sqlite:///{tmp_path}/db.sqlite")
    migrate(engine)
    store = EvidenceStore(engine, lambda: None)
    with pytest.raises(VerificationError) as exc:
        store.put("p", [(item, Verdict("admin@example.com", "https://issuer"), None)], "someone")
    assert exc.value.reason == "verdict-not-verified"
    assert store.search("p", verified=True)[0] == [] and store.search("p", verified=False)[0] == []


def test_no_module_but_evidence_trust_constructs_a_verdict():
    offenders = []
    for path in SRC.rglob("*.py"):
        if path == SRC / "evidence" / "trust.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        imported = {
            a.asname or a.name
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module == "assay.evidence.trust"
            for a in n.names
            if a.name == "Verdict"
        }
        for n in ast.walk(tree):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in imported:
                offenders.append(f"{path.relative_to(SRC)}:{n.lineno}")
    assert offenders == [], "evidence verdicts are made only by evidence.trust.verify_item"
