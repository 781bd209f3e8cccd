"""The dashboard's view models on a real log (SQLite and PostgreSQL): "verified" only when verify.tlog says so.

An entry page checks the signed entry timestamp, the inclusion proof and the signed checkpoint on every
request; stored data that was tampered with, or a trusted root naming another log, shows the reason instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sqlalchemy import Engine, update

from assay.crypto.signer import KeyFileSigner
from assay.log.entries import hashedrekord_proposal
from assay.log.note import LogIdentity
from assay.log.service import LogService
from assay.store.schema import log_checkpoints, log_nodes
from assay.web import csrf, views
from assay.web.render import render
from tests.integration.conftest import migrated_engine

KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _proposal(data: bytes) -> bytes:
    digest = hashlib.sha256(data).digest()
    sig = KEY.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    return json.dumps(hashedrekord_proposal(sig, digest, PEM)).encode()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request.param, tmp_path)


def _root(key: ec.EllipticCurvePrivateKey, log_id: bytes) -> dict[str, Any]:
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{
            "baseUrl": "http://127.0.0.1:1",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": base64.b64encode(spki).decode(), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "validFor": {"start": "2000-01-01T00:00:00Z"}},
            "logId": {"keyId": base64.b64encode(log_id).decode()},
        }],
        "certificateAuthorities": [], "ctlogs": [], "timestampAuthorities": [],
    }  # fmt: skip


@pytest.fixture
def log(engine: Engine) -> Iterator[tuple[LogService, dict[str, Any]]]:
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    log_id = hashlib.sha256(spki).digest()
    svc = LogService(engine, LogIdentity("test - 1", "test", log_id, KeyFileSigner(key)))
    for i in range(3):
        svc.receipt(svc.enqueue(_proposal(b"entry %d" % i)).result(timeout=30))
    try:
        yield svc, _root(key, log_id)
    finally:
        svc.close()


def test_entries_verify_against_the_signed_checkpoint(log: tuple[LogService, dict[str, Any]]) -> None:
    svc, root = log
    for index in range(3):
        view = views.entry_view(svc, root, index)
        assert view is not None and view.verified, (view.reason, view.message) if view else None
        assert view.steps == ["signed entry timestamp", "inclusion proof", "signed checkpoint"]
        assert view.tree_size == 3 and view.kind == "hashedrekord" and view.version == "0.0.1"
    assert views.entry_view(svc, root, 3) is None


def test_a_trusted_root_for_another_log_is_not_verified(log: tuple[LogService, dict[str, Any]]) -> None:
    svc, _ = log
    other = ec.generate_private_key(ec.SECP256R1())
    view = views.entry_view(svc, _root(other, b"\x07" * 32), 0)
    assert view is not None and not view.verified and view.reason == "tlog-unknown-log"
    # the right log ID, another key: the signed entry timestamp does not verify
    view = views.entry_view(svc, _root(other, svc.identity.log_id), 0)
    assert view is not None and not view.verified and view.reason
    assert "tlog-unknown-log" != view.reason


def test_a_tampered_checkpoint_is_not_verified(log: tuple[LogService, dict[str, Any]], engine: Engine) -> None:
    svc, root = log
    head = svc.head()
    text, _, line = head.checkpoint.partition("\n\n")
    name, blob = line.strip().rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 0x01  # the signature, not the key hint
    forged = f"{text}\n\n{name} {base64.b64encode(bytes(raw)).decode()}\n"
    with engine.begin() as conn:
        conn.execute(update(log_checkpoints).where(log_checkpoints.c.size == head.size).values(note=forged))
    view = views.entry_view(svc, root, 1)
    assert view is not None and not view.verified
    assert view.reason == "checkpoint-signature-invalid"


def test_a_tampered_tree_node_is_not_verified(log: tuple[LogService, dict[str, Any]], engine: Engine) -> None:
    svc, root = log
    with engine.begin() as conn:
        conn.execute(update(log_nodes).where(log_nodes.c.level == 0, log_nodes.c.idx == 1).values(hash=b"\x00" * 32))
    view = views.entry_view(svc, root, 0)  # entry 0's audit path starts with leaf 1
    assert view is not None and not view.verified and view.reason == "inclusion-proof-invalid"


def test_size_history_and_chart(log: tuple[LogService, dict[str, Any]]) -> None:
    svc, _ = log
    samples = svc.size_history()
    assert samples and samples[-1][1] == 3 and [n for _, n in samples] == sorted(n for _, n in samples)
    chart = views.tree_chart(samples)
    assert chart is not None
    for point in chart.points.split():
        x, y = (float(v) for v in point.split(","))
        assert chart.pad <= x <= chart.width - chart.pad and chart.pad <= y <= chart.height - chart.pad
    assert views.tree_chart([]) is None
    assert len(views.tree_chart([(100, 5)]).points.split()) == 2  # type: ignore[union-attr]
    assert [e.index for e in svc.recent(2)] == [2, 1]


def test_csrf_tokens() -> None:
    key = b"k" * 32
    a, b = csrf.new_binding(), csrf.new_binding()
    assert a != b
    assert csrf.valid(key, a, csrf.token(key, a))
    assert not csrf.valid(key, b, csrf.token(key, a))
    assert not csrf.valid(key, a, csrf.token(b"x" * 32, a))
    assert not csrf.valid(key, None, csrf.token(key, a)) and not csrf.valid(key, a, None) and not csrf.valid(key, a, "")
    signed = csrf.sign(key, "state")
    assert csrf.unsign(key, signed) == "state"
    assert csrf.unsign(key, signed[:-1] + ("0" if signed[-1] != "0" else "1")) is None
    assert csrf.unsign(key, "no-tag") is None and csrf.unsign(key, None) is None


def test_templates_escape_what_they_show() -> None:
    page = render("error.html", title="<t>", user=None, csrf="c", version="v", crumbs=[], section="",
                  status_code=404, reason="<r>", message="<script>alert(1)</script>")  # fmt: skip
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "&lt;r&gt;" in page
