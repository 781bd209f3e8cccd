"""The evidence store on a real server (SQLite and PostgreSQL): upload, verify, find, refuse, index the log."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_assay
from tests.integration.accesskit import ProjectServer, grant, project_server
from tests.integration.conftest import dev_token

P = "acme"
CI = "ci@acme.test"


@pytest.fixture
def server(tmp_path: Path, database: str | None) -> Iterator[ProjectServer]:
    """A --dev server with project ``acme``: the administrator sets trust, ``ci@acme.test`` (publisher) uploads."""
    ps = project_server(tmp_path, database, P, CI)
    try:
        yield ps
    finally:
        ps.srv.stop()


dev_server = server


def _api(srv, path: str) -> str:
    return f"{srv.url}/api/v1/projects/{P}{path}"


def _trust(srv, **doc: object) -> None:
    r = httpx.put(_api(srv, "/trust"), json=doc, headers=srv.auth(), timeout=30)
    assert r.status_code == 200, r.text


def _put(srv, data: bytes, **params: str) -> httpx.Response:
    return httpx.post(_api(srv, "/evidence"), content=data, params=params, timeout=60,
                      headers=srv.auth(srv.publisher))  # fmt: skip


def _search(srv, **params: str) -> dict:
    r = httpx.get(_api(srv, "/evidence"), params=params, headers=srv.auth(), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "app.bin").write_bytes(b"release artifact 1")
    for k in ("k1", "k2"):
        assert run_assay("keygen", "--output-prefix", k, cwd=tmp_path).code == 0
    (tmp_path / "prov.json").write_text(json.dumps({
        "buildDefinition": {"buildType": "https://example.com/b", "externalParameters": {},
                            "resolvedDependencies": [{"uri": "git+https://example.com/src",
                                                      "digest": {"sha256": "ab" * 32}}]},
        "runDetails": {"builder": {"id": "https://example.com/builder"}},
    }))  # fmt: skip
    r = run_assay("attest-blob", "app.bin", "--predicate", "prov.json", "--type", "slsaprovenance1", "--key", "k1.key",
                  "--bundle", "app.prov.json", cwd=tmp_path)  # fmt: skip
    assert r.code == 0, r.err
    return tmp_path


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_store_verify_find_and_get(server, work: Path):
    bundle = (work / "app.prov.json").read_bytes()
    # not trusted yet: refused with the verification reason, nothing stored
    r = _put(server, bundle)
    assert r.status_code == 422 and r.json()["reason"] == "no-trusted-key"
    assert _search(server, subject=_sha(work / "app.bin"))["items"] == []
    _trust(server, keys=[(work / "k2.pub").read_text()])
    r = _put(server, bundle)
    assert r.status_code == 422 and r.json()["reason"] == "signature-mismatch"

    _trust(server, keys=[(work / "k1.pub").read_text(), (work / "k2.pub").read_text()])
    r = _put(server, bundle)
    assert r.status_code == 201, r.text
    item = r.json()["items"][0]
    assert item["verified"] and item["created"] and item["kind"] == "bundle"
    assert item["digest"] == "sha256:" + hashlib.sha256(bundle).hexdigest()
    # idempotent
    r = _put(server, bundle)
    assert r.status_code == 200 and r.json()["items"][0]["created"] is False

    found = _search(server, subject=_sha(work / "app.bin"))["items"]
    assert len(found) == 1
    assert found[0]["predicateType"] == "https://slsa.dev/provenance/v1"
    assert found[0]["signer"]["identity"].startswith("key:")
    assert found[0]["uploadedBy"] == f"{CI} ({server.url}/dev/oidc)"  # the real principal, issuer included
    assert _search(server, subject=_sha(work / "app.bin"), predicateType="https://spdx.dev/Document")["items"] == []
    assert len(_search(server, signer=found[0]["signer"]["identity"])["items"]) == 1
    assert _search(server, subject="sha256:" + "00" * 32)["items"] == []
    assert _search(server, since="2999-01-01T00:00:00Z")["items"] == []
    got = httpx.get(_api(server, f"/evidence/{item['digest']}"), headers=server.auth(), timeout=30)
    assert got.status_code == 200 and got.content == bundle

    # a bare DSSE envelope and an .intoto.jsonl with two envelopes (one about another artifact)
    env = json.loads(bundle)["dsseEnvelope"]
    (work / "other.bin").write_bytes(b"other")
    r = run_assay("attest-blob", "other.bin", "--predicate", "prov.json", "--type", "slsaprovenance1", "--key",
                  "k2.key", "--bundle", "other.json", cwd=work)  # fmt: skip
    env2 = json.loads((work / "other.json").read_text())["dsseEnvelope"]
    jsonl = (json.dumps(env) + "\n" + json.dumps(env2) + "\n").encode()
    # one item that does not verify refuses the whole batch: nothing of it is stored
    forged = dict(env2, signatures=[{"sig": env["signatures"][0]["sig"]}])
    r = _put(server, (json.dumps(env2) + "\n" + json.dumps(forged) + "\n").encode())
    assert r.status_code == 422 and r.json()["reason"] == "signature-mismatch"
    assert r.json()["message"].startswith("item 2:")
    assert _search(server, subject=_sha(work / "other.bin"))["items"] == []
    r = _put(server, jsonl)
    assert r.status_code == 201, r.text
    assert [i["kind"] for i in r.json()["items"]] == ["dsse", "dsse"]
    assert len(_search(server, subject=_sha(work / "app.bin"))["items"]) == 2
    assert len(_search(server, subject=_sha(work / "other.bin"))["items"]) == 1

    # cursor pagination walks every item exactly once
    seen, cursor = [], None
    while True:
        page = _search(server, limit="1", **({"cursor": cursor} if cursor else {}))
        seen += [i["digest"] for i in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 3


def test_unverified_is_kept_apart_and_expires(server, work: Path):
    bundle = (work / "app.prov.json").read_bytes()
    r = _put(server, bundle, accept="unverified")
    assert r.status_code == 201 and r.json()["items"][0]["verified"] is False
    assert r.json()["items"][0]["reason"] == "no-trusted-key"
    assert _search(server, subject=_sha(work / "app.bin"))["items"] == []
    unverified = _search(server, subject=_sha(work / "app.bin"), status="unverified")["items"]
    assert len(unverified) == 1 and unverified[0]["reason"] == "no-trusted-key"
    # a later verified upload of the same bytes (trust added) upgrades the row
    _trust(server, keys=[(work / "k1.pub").read_text()])
    (work / "b.bin").write_bytes(b"b")
    run_assay("attest-blob", "b.bin", "--predicate", "prov.json", "--type", "slsaprovenance1", "--key", "k2.key",
              "--bundle", "b.json", cwd=work)  # fmt: skip
    assert _put(server, (work / "b.json").read_bytes(), accept="unverified").json()["items"][0]["verified"] is False
    r = _put(server, bundle)
    assert r.json()["items"][0]["verified"] is True
    # retention 0 days: unverified evidence goes, verified stays
    r = httpx.put(_api(server, "/retention"), json={"unverifiedRetentionDays": 0}, headers=server.auth(), timeout=30)
    assert r.status_code == 200, r.text
    assert _search(server, status="unverified")["items"] == []
    assert len(_search(server)["items"]) == 1
    b_digest = "sha256:" + hashlib.sha256((work / "b.json").read_bytes()).hexdigest()
    assert httpx.get(_api(server, f"/evidence/{b_digest}"), headers=server.auth(), timeout=30).status_code == 404
    r = httpx.put(_api(server, "/retention"), json={"unverifiedRetentionDays": -1}, headers=server.auth(), timeout=30)
    assert r.status_code == 400 and r.json()["reason"] == "bad-retention"


def _statement(subjects: list[dict]) -> bytes:
    st = {"_type": "https://in-toto.io/Statement/v1", "subject": subjects, "predicateType": "https://x.test/p",
          "predicate": {}}  # fmt: skip
    env = {"payloadType": "application/vnd.in-toto+json", "payload": base64.b64encode(json.dumps(st).encode()).decode(),
           "signatures": [{"sig": base64.b64encode(b"x" * 64).decode()}]}  # fmt: skip
    return json.dumps(env).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "json-invalid"),
        (b"[]", "json-invalid"),
        (b'{"hello": 1}', "evidence-unrecognised"),
        (b'{"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}', "dsse-no-signatures"),
        (_statement([{"name": "a"}]), "subject-no-digest"),
        (_statement([{"name": "a", "digest": {}}]), "subject-no-digest"),
        (b'{"signed": {"_type": "layout"}, "signatures": [{"sig": "00"}]}', "evidence-unrecognised"),
        (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {}}', None),
        (_statement([{"name": "a", "digest": {"sha256": "ab" * 32}}]), "no-trusted-key"),
    ],
)
def test_malformed_uploads_are_refused_and_leave_nothing(server, body: bytes, reason: str | None):
    untrusted = reason == "no-trusted-key"
    if untrusted:
        reason = "signature-mismatch"  # bare DSSE with no key that verifies: untrusted (422), not malformed
    r = _put(server, body)
    assert r.status_code == (422 if untrusted else 400), r.text
    doc = r.json()
    assert set(doc) == {"code", "reason", "message"}
    if reason:
        assert doc["reason"] == reason, doc
    assert _search(server)["items"] == [] and _search(server, status="unverified")["items"] == []


def test_oversize_and_bad_names(server, work: Path):
    r = _put(server, b"{" + b" " * (5 * 1024 * 1024) + b"}")
    assert r.status_code == 413 and r.json()["reason"] == "request-too-large"
    r = httpx.get(f"{server.url}/api/v1/projects/Bad%00Name/evidence", headers=server.auth(), timeout=30)
    assert r.status_code == 400 and r.json()["reason"] == "bad-project-name"
    r = httpx.get(_api(server, "/evidence/sha256:xyz"), headers=server.auth(), timeout=30)
    assert r.status_code == 400 and r.json()["reason"] == "bad-digest"
    r = httpx.get(_api(server, "/evidence"), params={"subject": "nocolon"}, headers=server.auth(), timeout=30)
    assert r.status_code == 400 and r.json()["reason"] == "bad-digest"


def test_in_toto_reference_links(server, tmp_path: Path):
    in_toto_run = Path(sys.executable).parent / "in-toto-run"
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    (tmp_path / "src.txt").write_text("source")
    subprocess.run([str(in_toto_run), "--step-name", "build", "--signing-key", "k.key", "--materials", "src.txt",
                    "--products", "out.txt", "--", "sh", "-c", "cp src.txt out.txt"],
                   cwd=tmp_path, check=True, capture_output=True)  # fmt: skip
    link = next(tmp_path.glob("build.*.link")).read_bytes()
    r = _put(server, link)
    assert r.status_code == 422 and r.json()["reason"] == "signature-mismatch"
    _trust(server, keys=[(tmp_path / "k.pub").read_text()])
    r = _put(server, link)
    assert r.status_code == 201, r.text
    assert r.json()["items"][0]["kind"] == "link"
    found = _search(server, subject=_sha(tmp_path / "out.txt"))["items"]
    assert len(found) == 1 and found[0]["predicateType"] == "https://in-toto.io/Link/v1"
    # a tampered link (product digest changed) no longer verifies
    doc = json.loads(link)
    doc["signed"]["products"]["out.txt"]["sha256"] = "00" * 32
    r = _put(server, json.dumps(doc).encode())
    assert r.status_code == 422 and r.json()["reason"] == "signature-mismatch"


def test_keyless_evidence_and_log_index(dev_server, tmp_path: Path):
    srv = dev_server
    (tmp_path / "app.bin").write_bytes(b"keyless artifact")
    (tmp_path / "pred.json").write_text("{}")
    token = dev_token(srv, email="dev@acme.test")
    r = run_assay("attest-blob", "app.bin", "--predicate", "pred.json", "--type", "custom", "--identity-token", token,
                  "--server", srv.url, "--bundle", "app.att.json", cwd=tmp_path)  # fmt: skip
    assert r.code == 0, r.err
    # default trust is the server's own root; any identity it certified is accepted and recorded
    resp = _put(srv, (tmp_path / "app.att.json").read_bytes())
    assert resp.status_code == 201, resp.text
    found = _search(srv, subject=_sha(tmp_path / "app.bin"))["items"][0]
    assert found["signer"]["identity"] == "dev@acme.test"
    assert found["signer"]["issuer"] == srv.url + "/dev/oidc"
    assert found["logEntry"] is not None
    # a project pinned to another identity refuses it
    _trust(srv, identities=[{"identity": "release@acme.test", "issuer": srv.url + "/dev/oidc"}])
    (tmp_path / "b.bin").write_bytes(b"b")
    run_assay("attest-blob", "b.bin", "--predicate", "pred.json", "--type", "custom", "--identity-token", token,
              "--server", srv.url, "--bundle", "b.att.json", cwd=tmp_path)  # fmt: skip
    resp = _put(srv, (tmp_path / "b.att.json").read_bytes())
    assert resp.status_code == 422 and resp.json()["reason"] == "identity-mismatch"

    # the DSSE entries the log took were indexed as evidence of the "tlog" project automatically
    # (readable once the access layer knows the project: the administrator creates it)
    srv.admin.ok("POST", "/api/v1/projects", {"name": "tlog"})
    tl = httpx.get(
        f"{srv.url}/api/v1/projects/tlog/evidence", params={"subject": _sha(tmp_path / "app.bin")}, headers=srv.auth()
    )
    assert tl.status_code == 200 and len(tl.json()["items"]) == 1
    assert tl.json()["items"][0]["signer"]["identity"] == "dev@acme.test"

    # Rekor search: by email, by hash, and both
    def retrieve(doc: dict) -> list[str]:
        resp = httpx.post(srv.url + "/api/v1/index/retrieve", json=doc, timeout=30)
        assert resp.status_code == 200, resp.text
        return list(resp.json())

    by_email = retrieve({"email": "dev@acme.test"})
    assert len(by_email) == 2 and all(len(u) == 80 for u in by_email)
    by_hash = retrieve({"hash": _sha(tmp_path / "app.bin")})
    assert len(by_hash) == 1 and by_hash[0] in by_email
    assert retrieve({"email": "dev@acme.test", "hash": _sha(tmp_path / "app.bin"), "operator": "and"}) == by_hash
    assert retrieve({"email": "nobody@acme.test", "hash": _sha(tmp_path / "app.bin"), "operator": "or"}) == by_hash
    assert retrieve({"email": "nobody@acme.test"}) == []
    entry = httpx.get(f"{srv.url}/api/v1/log/entries/{by_hash[0]}", timeout=30)
    assert entry.status_code == 200 and by_hash[0][16:] in entry.json()


def test_rekor_search_by_public_key(server, work: Path):
    r = run_assay("sign-blob", "app.bin", "--key", "k1.key", "--server", server.url, cwd=work)
    assert r.code == 0, r.err
    pem = (work / "k1.pub").read_bytes()
    url = server.url + "/api/v1/index/retrieve"
    by_key = httpx.post(url, json={"publicKey": {"format": "x509", "content": base64.b64encode(pem).decode()}}).json()
    by_hash = httpx.post(url, json={"hash": _sha(work / "app.bin")}).json()
    assert len(by_key) == 1 and by_key == by_hash
    other = base64.b64encode((work / "k2.pub").read_bytes()).decode()
    assert httpx.post(url, json={"publicKey": {"format": "x509", "content": other}}).json() == []
    for bad, reason in [
        ({}, "bad-search"),
        ({"hash": "md5:abc"}, "bad-search"),
        ({"publicKey": {"format": "ssh", "content": "AAAA"}}, "unsupported-key-format"),
        ({"publicKey": {"format": "x509", "content": "bm90IGEga2V5"}}, "bad-search"),
        ({"email": "x@y", "operator": "xor"}, "bad-search"),
    ]:
        resp = httpx.post(url, json=bad)
        assert resp.status_code == 400 and resp.json()["reason"] == reason, (bad, resp.text)


def test_cli_put_search_get_graph(server, work: Path):
    # without credentials the CLI is refused with the server's reason
    r = run_assay("evidence", "search", "--server", server.url, "--project", P, cwd=work, env={"ASSAY_TOKEN": ""})
    assert r.code == 2 and "error[credentials-missing]" in r.err, r.err
    # the administrator's session with --token, the publisher's from ASSAY_TOKEN
    assert run_assay("evidence", "trust", "--key", "k1.pub", "--server", server.url, "--project", P, "--token",
                     str(server.admin.bearer), cwd=work).code == 0  # fmt: skip
    common = ("--server", server.url, "--project", P)
    ci = {"ASSAY_TOKEN": str(server.publisher.bearer)}
    # the source the provenance names has its own attestation: the graph walks to it
    (work / "src.tgz").write_bytes(b"source")
    dep_digest = "sha256:" + hashlib.sha256(b"source").hexdigest()
    prov = json.loads((work / "prov.json").read_text())
    prov["buildDefinition"]["resolvedDependencies"][0]["digest"]["sha256"] = dep_digest.split(":")[1]
    (work / "prov.json").write_text(json.dumps(prov))
    for subject, out in (("app.bin", "a.json"), ("src.tgz", "s.json")):
        r = run_assay("attest-blob", subject, "--predicate", "prov.json", "--type", "slsaprovenance1", "--key",
                      "k1.key", "--bundle", out, cwd=work)  # fmt: skip
        assert r.code == 0, r.err
    r = run_assay("evidence", "put", "a.json", "s.json", *common, cwd=work, env=ci)
    assert r.code == 0 and r.out.count(" verified") == 2, r.out + r.err
    r = run_assay("evidence", "search", "--subject", _sha(work / "app.bin"), "--type", "slsaprovenance1", *common,
                  cwd=work, env=ci)  # fmt: skip
    assert r.code == 0 and len(r.out.splitlines()) == 1
    digest = r.out.split()[0]
    r = run_assay("evidence", "get", digest, "--out", "copy.json", *common, cwd=work, env=ci)
    assert r.code == 0 and (work / "copy.json").read_bytes() == (work / "a.json").read_bytes()
    r = run_assay("evidence", "graph", _sha(work / "app.bin"), "--depth", "2", *common, cwd=work, env=ci)
    assert r.code == 0, r.err
    g = json.loads(r.out)
    assert {"from": f"evidence:{digest}", "to": dep_digest, "relation": "resolvedDependency"} in g["edges"]
    assert any(e["from"] == dep_digest and e["relation"] == "attested-by" for e in g["edges"])
    r = run_assay("evidence", "graph", _sha(work / "app.bin"), "--format", "dot", *common, cwd=work, env=ci)
    assert r.code == 0 and r.out.startswith("digraph evidence") and "resolvedDependency" in r.out
    r = run_assay("evidence", "graph", _sha(work / "app.bin"), "--format", "svg", "-o", "g.svg", *common, cwd=work,
                  env=ci)  # fmt: skip
    assert r.code == 0 and b"<svg" in (work / "g.svg").read_bytes()
    # refused upload: exit 1 with the reason; malformed: exit 2
    server.admin.ok("POST", "/api/v1/projects", {"name": "other"})
    grant(server.admin, "other", CI, "publisher")
    r = run_assay("evidence", "put", "app.prov.json", "--server", server.url, "--project", "other", cwd=work, env=ci)
    assert r.code == 1 and "error[no-trusted-key]" in r.err
    (work / "junk.json").write_text("{}")
    r = run_assay("evidence", "put", "junk.json", *common, cwd=work, env=ci)
    assert r.code == 2 and "error[evidence-unrecognised]" in r.err


def test_put_harvests_an_image(server, registry, tmp_path: Path):
    from tests.integration.conftest import push_image

    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    digest = push_image(registry.host, "app", "v1", b"layer")
    ref = f"{registry.host}/app@{digest}"
    (tmp_path / "pred.json").write_text("{}")
    r = run_assay("attest", ref, "--key", "k.key", "--predicate", "pred.json", "--type", "custom", "--insecure",
                  cwd=tmp_path)  # fmt: skip
    assert r.code == 0, r.err
    common = ("--server", server.url, "--project", P)
    admin = {"ASSAY_TOKEN": str(server.admin.bearer)}
    assert run_assay("evidence", "trust", "--key", "k.pub", *common, cwd=tmp_path, env=admin).code == 0
    r = run_assay("evidence", "put", ref, "--insecure", *common, cwd=tmp_path,
                  env={"ASSAY_TOKEN": str(server.publisher.bearer)})  # fmt: skip
    assert r.code == 0, r.err
    found = _search(server, subject=digest)["items"]
    assert found and all(i["predicateType"] == "https://cosign.sigstore.dev/attestation/v1" for i in found)
