"""The transparency log over HTTP, against a real server process (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from assay.clients.rekor import entry_from_response
from assay.formats.checkpoint import parse_checkpoint
from assay.formats.dsse import Envelope, Signature
from assay.formats.trustroot import parse_trusted_root
from assay.log.entries import dsse_proposal, hashedrekord_proposal
from assay.log.tiles import encode_index
from assay.verify import merkle
from assay.verify.tlog import verify_checkpoint, verify_inclusion, verify_log_signature, verify_promise
from tests.conftest import run_assay

KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def proposal(data: bytes) -> dict:
    digest = hashlib.sha256(data).digest()
    sig = KEY.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    return hashedrekord_proposal(sig, digest, PEM)


def post(srv, doc, **kw) -> httpx.Response:
    return httpx.post(srv.url + "/api/v1/log/entries", json=doc, timeout=30, **kw)


def _log(srv):
    return parse_trusted_root(httpx.get(srv.url + "/api/v1/trustedRoot").content).tlogs[0]


def test_append_returns_verifiable_entry(server):
    r = post(server, proposal(b"one"))
    assert r.status_code == 201, r.text
    doc = r.json()
    ((uuid, e),) = doc.items()
    assert r.headers["Location"] == f"/api/v1/log/entries/{uuid}"
    body = base64.b64decode(e["body"])
    assert uuid == merkle.leaf_hash(body).hex()
    assert json.loads(body)["kind"] == "hashedrekord"
    pub = httpx.get(server.url + "/api/v1/log/publicKey").content
    spki = serialization.load_pem_public_key(pub).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert e["logID"] == hashlib.sha256(spki).hexdigest()
    entry = entry_from_response(doc)
    log = _log(server)
    verify_promise(entry, log)
    verify_inclusion(entry)
    verify_checkpoint(entry, log)


def test_duplicates_and_reads(server):
    first = post(server, proposal(b"dup"))
    again = post(server, proposal(b"dup"))  # a new ECDSA signature: a different entry
    assert again.status_code == 201
    replay = post(server, json.loads(json.dumps(_same(first))))
    assert replay.status_code == 409 and replay.json()["reason"] == "entry-exists"
    ((uuid, e),) = first.json().items()
    assert replay.headers["Location"] == f"/api/v1/log/entries/{uuid}"
    by_uuid = httpx.get(server.url + f"/api/v1/log/entries/{uuid}").json()
    by_index = httpx.get(server.url + "/api/v1/log/entries", params={"logIndex": e["logIndex"]}).json()
    assert by_uuid[uuid]["body"] == by_index[uuid]["body"] == e["body"]
    digest = json.loads(base64.b64decode(e["body"]))["spec"]["data"]["hash"]["value"]
    found = httpx.post(server.url + "/api/v1/log/entries/retrieve", json={"hash": f"sha256:{digest}"}).json()
    assert {next(iter(x)) for x in found} >= {uuid}
    found = httpx.post(
        server.url + "/api/v1/log/entries/retrieve", json={"entryUUIDs": [uuid], "logIndexes": [e["logIndex"]]}
    ).json()
    assert len(found) == 2


def _same(resp: httpx.Response) -> dict:
    e = next(iter(resp.json().values()))
    body = json.loads(base64.b64decode(e["body"]))
    return {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": body["spec"]}


def test_dsse_entries(server):
    payload = b'{"_type":"https://in-toto.io/Statement/v1"}'
    env = Envelope(payload, "application/vnd.in-toto+json")
    sig = KEY.sign(env.pae(), ec.ECDSA(hashes.SHA256()))
    signed = Envelope(payload, env.payload_type, (Signature(sig),))
    r = post(server, dsse_proposal(signed, PEM))
    assert r.status_code == 201, r.text
    body = json.loads(base64.b64decode(next(iter(r.json().values()))["body"]))
    assert body["kind"] == "dsse" and body["spec"]["payloadHash"]["value"] == hashlib.sha256(payload).hexdigest()
    bad = Envelope(payload + b" ", env.payload_type, (Signature(sig),))
    r = post(server, dsse_proposal(bad, PEM))
    assert r.status_code == 400 and r.json()["reason"] == "entry-signature-invalid"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.update(kind="rekord"), "entry-kind-unsupported"),
        (lambda d: d.update(apiVersion="0.0.2"), "entry-kind-unsupported"),
        (lambda d: d["spec"]["signature"].update(content="!!!notbase64"), "malformed-base64"),
        (
            lambda d: d["spec"]["signature"].update(content=d["spec"]["signature"]["content"][:-4]),
            "entry-signature-invalid",
        ),
        (lambda d: d["spec"]["data"]["hash"].update(value="00" * 32), "entry-signature-invalid"),
        (lambda d: d["spec"]["data"]["hash"].update(value="abc"), "entry-malformed"),
        (
            lambda d: d["spec"]["signature"]["publicKey"].update(content=base64.b64encode(b"junk").decode()),
            "entry-malformed",
        ),
        (lambda d: d.pop("spec"), "entry-malformed"),
    ],
)
def test_bad_entries_get_400_with_reason(server, mutate, reason):
    doc = proposal(b"bad")
    mutate(doc)
    r = post(server, doc)
    assert r.status_code == 400, r.text
    assert r.json()["reason"] == reason


def test_malformed_and_oversize_requests(server):
    r = httpx.post(
        server.url + "/api/v1/log/entries", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["reason"] == "json-invalid"
    big = b'{"kind":"' + b"x" * (4 * 1024 * 1024 + 10) + b'"}'
    r = httpx.post(server.url + "/api/v1/log/entries", content=big)
    assert r.status_code == 413 and r.json()["reason"] == "request-too-large"

    def chunks():
        for _ in range(5):
            yield b"x" * (1024 * 1024)

    r = httpx.post(server.url + "/api/v1/log/entries", content=chunks())
    assert r.status_code == 413
    assert httpx.get(server.url + "/api/v1/log/entries/zz").status_code == 400
    assert httpx.get(server.url + "/api/v1/log/entries/" + "00" * 32).status_code == 404
    assert httpx.get(server.url + "/api/v1/log/entries", params={"logIndex": -1}).status_code == 400
    assert httpx.get(server.url + "/api/v1/log/proof", params={"firstSize": 5, "lastSize": 99999}).status_code == 400
    assert httpx.get(server.url + "/healthz").json()["status"] == "ok"
    assert "/api/v1/log/entries" in httpx.get(server.url + "/openapi.json").json()["paths"]


def test_concurrent_appends_consistency_and_tiles(server):
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda i: post(server, proposal(f"c{i}".encode())), range(300)))
    assert all(r.status_code == 201 for r in responses)
    indexes = sorted(next(iter(r.json().values()))["logIndex"] for r in responses)
    assert indexes == list(range(300))
    log = _log(server)
    info = httpx.get(server.url + "/api/v1/log").json()
    cp = parse_checkpoint(info["signedTreeHead"])
    assert cp.size == info["treeSize"] == 300 and cp.root_hash.hex() == info["rootHash"]
    assert verify_log_signature(log, cp.signatures[0].signature, cp.signed_text)
    # every answer's checkpoint is consistent with the final tree
    for r in responses[::25]:
        p = next(iter(r.json().values()))["verification"]["inclusionProof"]
        proof = httpx.get(server.url + "/api/v1/log/proof", params={"firstSize": p["treeSize"], "lastSize": 300}).json()
        assert merkle.verify_consistency(
            p["treeSize"], 300, bytes.fromhex(p["rootHash"]), cp.root_hash, [bytes.fromhex(h) for h in proof["hashes"]]
        )
    # tiles: full level-0 tile = the first 256 leaf hashes; a partial tile and an entry bundle
    bodies = {
        next(iter(r.json().values()))["logIndex"]: base64.b64decode(next(iter(r.json().values()))["body"])
        for r in responses
    }
    tile0 = httpx.get(server.url + "/tile/0/000").content
    assert tile0 == b"".join(merkle.leaf_hash(bodies[i]) for i in range(256))
    part = httpx.get(server.url + "/tile/0/001.p/44").content
    assert part == b"".join(merkle.leaf_hash(bodies[i]) for i in range(256, 300))
    level1 = httpx.get(server.url + "/tile/1/000.p/1").content
    layer = [tile0[i : i + 32] for i in range(0, len(tile0), 32)]
    while len(layer) > 1:
        layer = [merkle.node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
    assert level1 == layer[0]  # the level-8 node covering leaves 0-255
    assert httpx.get(server.url + "/tile/0/001").status_code == 404
    assert httpx.get(server.url + "/tile/0/1").status_code == 400
    bundle = httpx.get(server.url + "/tile/entries/000").content
    decoded, off = [], 0
    while off < len(bundle):
        n = int.from_bytes(bundle[off : off + 2], "big")
        decoded.append(bundle[off + 2 : off + 2 + n])
        off += 2 + n
    assert decoded == [bodies[i] for i in range(256)]
    assert httpx.get(server.url + "/checkpoint").text == info["signedTreeHead"]
    assert encode_index(1234067) == "x001/x234/067"


def test_cli_sign_and_verify_against_server(server, tmp_path: Path):
    (tmp_path / "a.txt").write_text("artifact")
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    r = run_assay("sign-blob", "a.txt", "--key", "k.key", "--server", server.url, cwd=tmp_path)
    assert r.code == 0, r.err
    b = json.loads((tmp_path / "a.txt.sigstore.json").read_text())
    e = b["verificationMaterial"]["tlogEntries"][0]
    assert e["inclusionPromise"]["signedEntryTimestamp"] and e["inclusionProof"]["checkpoint"]["envelope"]
    ok = run_assay("verify-blob", "a.txt", "--key", "k.pub", "--server", server.url, "-o", "json", cwd=tmp_path)
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)["tlog"][0]["inclusionProof"] is True
    (tmp_path / "tr.json").write_bytes(httpx.get(server.url + "/api/v1/trustedRoot").content)
    assert (
        run_assay(
            "verify-blob", "a.txt", "--key", "k.pub", "--trusted-root", "tr.json", "--require-tlog", cwd=tmp_path
        ).code
        == 0
    )
    # a bundle without the entry is refused when a log is required
    b["verificationMaterial"]["tlogEntries"] = []
    (tmp_path / "nolog.json").write_text(json.dumps(b))
    r = run_assay(
        "verify-blob", "a.txt", "--bundle", "nolog.json", "--key", "k.pub", "--server", server.url, cwd=tmp_path
    )
    assert r.code == 1 and "error[missing-tlog-entry]" in r.err
    # tampering with the logged body is caught
    b2 = json.loads((tmp_path / "a.txt.sigstore.json").read_text())
    body = json.loads(base64.b64decode(b2["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]))
    body["spec"]["data"]["hash"]["value"] = "00" * 32
    b2["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"] = base64.b64encode(
        json.dumps(body).encode()
    ).decode()
    (tmp_path / "tampered.json").write_text(json.dumps(b2))
    r = run_assay(
        "verify-blob", "a.txt", "--bundle", "tampered.json", "--key", "k.pub", "--server", server.url, cwd=tmp_path
    )
    assert r.code == 1 and "error[inclusion-promise-invalid]" in r.err
    # attestations are logged as dsse entries
    (tmp_path / "p.json").write_text("{}")
    r = run_assay(
        "attest-blob",
        "a.txt",
        "--predicate",
        "p.json",
        "--type",
        "custom",
        "--key",
        "k.key",
        "--bundle",
        "att.json",
        "--server",
        server.url,
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    assert (
        run_assay(
            "verify-blob-attestation",
            "a.txt",
            "--bundle",
            "att.json",
            "--key",
            "k.pub",
            "--server",
            server.url,
            cwd=tmp_path,
        ).code
        == 0
    )
    v = run_assay("log", "verify-entry", "--server", server.url, "--index", "0", cwd=tmp_path)
    assert v.code == 0, v.err
