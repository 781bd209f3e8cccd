"""Entities and profiles on a real server (SQLite and PostgreSQL) over a real docker-registry: registration,
validation (nothing half-written), continuous evaluation with tag rediscovery, history and registry outages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_assay
from tests.integration.accesskit import Api as _Api
from tests.integration.accesskit import fresh_database, grant, session, unique
from tests.integration.conftest import push_image
from tests.integration.profilekit import (
    env_for,
    fast_server,
    key_profile,
    keypair,
    project_on,
    rows,
    tag_manifest,
    wait_for,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def srv(request, tmp_path: Path):
    gen = fresh_database(request.param)
    database = next(gen)
    s = fast_server(tmp_path, database)
    try:
        yield s
    finally:
        s.stop()
        gen.close()


def test_entities_add_list_delete_and_refusals(srv, registry, tmp_path: Path) -> None:
    admin, project = project_on(srv)
    push_image(registry.host, "team/app", "latest", b"one")
    env = env_for(srv)
    image = f"{registry.host}/team/app"
    r = run_assay("entity", "add", "--project", project, "image", image, "--tags", "latest,v*", "--insecure", env=env)
    assert r.code == 0, r.err
    assert run_assay("entity", "add", "-p", project, "blob", "app.bin", env=env).code == 0
    assert run_assay("entity", "add", "-p", project, "evidence-subject", "sha256:" + "a" * 64, env=env).code == 0
    listed = run_assay("entity", "list", "-p", project, env=env)
    assert listed.code == 0 and image in listed.out and "latest,v*" in listed.out and "app.bin" in listed.out
    base = f"/api/v1/projects/{project}/entities"
    ents = admin.ok("GET", base)["entities"]
    assert [e["kind"] for e in ents] == ["image", "blob", "evidence-subject"]

    def refused(body: dict, reason: str) -> None:
        r = admin("POST", base, body)
        assert (r.status_code, r.json()["reason"]) == (400, reason), r.text

    refused({"kind": "container", "name": "x"}, "entity-bad-kind")
    refused({"kind": "image", "name": image + ":v1", "insecure": True}, "entity-bad-name")
    refused({"kind": "image", "name": image, "insecure": True, "tags": ["a"], "tagRegExp": "b"}, "entity-bad-tags")
    refused({"kind": "image", "name": image, "insecure": True, "tagRegExp": "("}, "entity-bad-tags")
    refused({"kind": "evidence-subject", "name": "sha256:xyz"}, "entity-bad-name")
    refused({"kind": "blob", "name": "../etc"}, "entity-bad-name")
    refused({"kind": "image", "name": image, "insecure": True}, "entity-exists")
    refused({"kind": "image", "name": "127.0.0.1:9/team/app", "insecure": True}, "entity-registry-unreachable")
    refused({"kind": "image", "name": f"{registry.host}/team/none", "insecure": True}, "entity-not-found")
    refused({"kind": "image", "name": "registry.example.com/app", "insecure": True}, "insecure-not-loopback")
    refused({"kind": "image", "name": image, "color": "red"}, "entity-unknown-key")
    cli = run_assay("entity", "add", "-p", project, "image", "127.0.0.1:9/x/y", "--insecure", env=env)
    assert cli.code == 2 and "error[entity-registry-unreachable]" in cli.err
    assert len(admin.ok("GET", base)["entities"]) == 3  # nothing half-written
    # writing needs policy_writer: a publisher is refused, a viewer reads
    pub = unique("pub") + "@example.com"
    grant(admin, project, pub, "publisher")
    r = _Api(srv, session(srv, pub))("POST", base, {"kind": "blob", "name": "other"})
    assert (r.status_code, r.json()["reason"]) == (403, "insufficient-role")
    assert len(_Api(srv, session(srv, pub)).ok("GET", base)["entities"]) == 3
    gone = run_assay("entity", "delete", "-p", project, str(ents[1]["id"]), env=env)
    assert gone.code == 0, gone.err
    assert [e["name"] for e in admin.ok("GET", base)["entities"]] == [image, "sha256:" + "a" * 64]
    missing = admin("DELETE", f"{base}/{ents[1]['id']}")
    assert (missing.status_code, missing.json()["reason"]) == (404, "not-found")


BAD_PROFILES = {
    "profile-unknown-rule": '{"apiVersion":"assay.dev/v1","kind":"Profile","metadata":{"name":"x"},'
    '"spec":{"rules":[{"name":"a","isSigned":{}}]}}',
    "profile-selector-invalid": '{"apiVersion":"assay.dev/v1","kind":"Profile","metadata":{"name":"x"},'
    '"spec":{"selectors":["entity.type =="],"rules":[{"name":"a","provenance":{"sourceRepository":"r"}}]}}',
    "profile-interval-too-short": '{"apiVersion":"assay.dev/v1","kind":"Profile","metadata":{"name":"x"},'
    '"spec":{"interval":"500ms","rules":[{"name":"a","provenance":{"sourceRepository":"r"}}]}}',
    "profile-bad-alert": '{"apiVersion":"assay.dev/v1","kind":"Profile","metadata":{"name":"x"},'
    '"spec":{"alert":"loud","rules":[{"name":"a","provenance":{"sourceRepository":"r"}}]}}',
    "profile-rule-invalid": '{"apiVersion":"assay.dev/v1","kind":"Profile","metadata":{"name":"x"},'
    '"spec":{"rules":[{"name":"a","signature":{"authorities":{"keys":["release.pub"]}}}]}}',
    "profile-unknown-key": '{"apiVersion":"assay.dev/v1","kind":"Profile","metadata":{"name":"x"},'
    '"spec":{"match":{},"rules":[{"name":"a","provenance":{"sourceRepository":"r"}}]}}',
    "profile-invalid": '{"apiVersion":"assay.dev/v1","kind":"Policy","metadata":{"name":"x"},"spec":{}}',
    "profile-malformed": "a: [",
}


def test_profiles_apply_get_list_delete_and_refusals(srv, tmp_path: Path) -> None:
    admin, project = project_on(srv)
    env = env_for(srv)
    pem = keypair(tmp_path)
    (tmp_path / "p.json").write_text(key_profile("release", pem, interval="30s"))
    r = run_assay("profile", "apply", "-f", str(tmp_path / "p.json"), "--project", project, env=env)
    assert r.code == 0 and "version 1 applied" in r.out, r.err
    again = run_assay("profile", "apply", "-f", str(tmp_path / "p.json"), "--project", project, env=env)
    assert "version 1 unchanged" in again.out
    (tmp_path / "p.json").write_text(key_profile("release", pem, interval="45s"))
    assert (
        "version 2 applied" in run_assay("profile", "apply", "-f", str(tmp_path / "p.json"), "-p", project, env=env).out
    )
    got = run_assay("profile", "get", "release", "-p", project, env=env)
    assert got.code == 0 and '"45s"' in got.out
    listed = run_assay("profile", "list", "-p", project, env=env)
    assert listed.code == 0 and "release\tv2" in listed.out
    for reason, doc in BAD_PROFILES.items():
        (tmp_path / "bad.json").write_text(doc)
        cli = run_assay("profile", "apply", "-f", str(tmp_path / "bad.json"), "-p", project, env=env)
        assert cli.code == 2 and f"error[{reason}]" in cli.err, (reason, cli.err)
        http = admin("POST", f"/api/v1/projects/{project}/profiles", content=doc.encode())
        assert (http.status_code, http.json()["reason"]) == (400, reason), http.text
    assert [p["name"] for p in admin.ok("GET", f"/api/v1/projects/{project}/profiles")["profiles"]] == ["release"]
    assert admin.ok("GET", f"/api/v1/projects/{project}/profiles/release")["version"] == 2  # nothing half-written
    # the template, applied as is
    init = run_assay("profile", "init", "artifact-security", "--repository", "https://github.com/acme/app",
                     "--branch", "main", "--workflow", ".github/workflows/release.yml",
                     "--issuer", "https://token.actions.githubusercontent.com",
                     "--runner-environment", "github-hosted", "--out", str(tmp_path / "as.yaml"))  # fmt: skip
    assert init.code == 0, init.err
    assert run_assay("profile", "apply", "-f", str(tmp_path / "as.yaml"), "-p", project, env=env).code == 0
    text = run_assay("profile", "get", "artifact-security", "-p", project, env=env).out
    assert "runnerEnvironment: github-hosted" in text and "refs/heads/main" in text
    assert run_assay("profile", "delete", "release", "-p", project, env=env).code == 0
    gone = run_assay("profile", "get", "release", "-p", project, env=env)
    assert gone.code == 2 and "error[not-found]" in gone.err
    pub = unique("pub") + "@example.com"
    grant(admin, project, pub, "publisher")
    r = _Api(srv, session(srv, pub))("POST", f"/api/v1/projects/{project}/profiles", content=b"{}")
    assert (r.status_code, r.json()["reason"]) == (403, "insufficient-role")


def test_continuous_evaluation_tags_signing_history_and_outage(srv, registry, tmp_path: Path) -> None:
    admin, project = project_on(srv)
    env = env_for(srv)
    host = registry.host
    push_image(host, "team/app", "latest", b"unsigned")
    # 100 filler tags sort between "latest" and "zeta": zeta is only found by following the tag list's pages
    tag_manifest(host, "team/app", "latest", [f"m{i:03d}" for i in range(100)] + ["zeta"])
    add = run_assay("entity", "add", "-p", project, "image", f"{host}/team/app", "--tags", "latest,zeta",
                    "--insecure", env=env)  # fmt: skip
    assert add.code == 0, add.err
    pem = keypair(tmp_path)
    (tmp_path / "p.json").write_text(key_profile("release", pem))
    assert run_assay("profile", "apply", "-f", str(tmp_path / "p.json"), "-p", project, env=env).code == 0

    def targets_with(st: str) -> set[str]:
        return {r["target"] for r in rows(admin, project, "release") if r["status"] == st}

    wanted = {f"{host}/team/app:latest", f"{host}/team/app:zeta"}
    assert wait_for("both tags failing", lambda: targets_with("failure") == wanted)
    failing = rows(admin, project, "release")
    assert all(r["reason"] == "no-signatures" or r["reason"] for r in failing)
    out = run_assay("profile", "status", "-p", project, "--name", "release", "--detailed", env=env)
    assert out.code == 0 and "failure" in out.out and ":zeta signed: failure" in out.out, out.out

    # sign the image (both tags name the same digest): the next evaluation passes
    signed = run_assay("sign", f"{host}/team/app:latest", "--key", "k.key", "--insecure", cwd=tmp_path)
    assert signed.code == 0, signed.err
    assert wait_for("both tags passing", lambda: targets_with("success") == wanted)

    # a new tag matching the globs is rediscovered, unsigned: it fails, the others keep passing
    push_image(host, "team/app", "zeta", b"moved and unsigned")
    assert wait_for("zeta failing again", lambda: targets_with("failure") == {f"{host}/team/app:zeta"})

    hist = run_assay("history", "list", "-p", project, "--status", "failure", "--json", env=env)
    assert hist.code == 0, hist.err
    import json

    failures = [json.loads(x) for x in hist.out.splitlines()]
    assert {f["target"] for f in failures} == wanted and all(f["status"] == "failure" for f in failures)
    everything = admin.ok("GET", f"/api/v1/projects/{project}/history?entity={host}/team/app&limit=1000")["items"]
    latest_seq = [r["status"] for r in everything if r["target"].endswith(":latest")]
    assert latest_seq[:2] == ["success", "failure"]  # newest first; unchanged results add no rows
    assert len(latest_seq) == 2
    future = run_assay("history", "list", "-p", project, "--since", "2999-01-01T00:00:00Z", env=env)
    assert future.code == 0 and future.out == ""
    by_entity = run_assay("history", "list", "-p", project, "--entity", f"{host}/team/app", env=env)
    assert by_entity.code == 0 and by_entity.out.count(":latest signed: ") == 2, by_entity.out
    yesterday = run_assay("history", "list", "-p", project, "--since", "yesterday", env=env)
    assert yesterday.code == 2 and "error[invalid-parameter]" in yesterday.err  # the server's one strict parser
    bad = admin("GET", f"/api/v1/projects/{project}/history", params={"status": "ok"})
    assert (bad.status_code, bad.json()["reason"]) == (400, "bad-status")
    bad = admin("GET", f"/api/v1/projects/{project}/history", params={"since": "yesterday"})
    assert (bad.status_code, bad.json()["reason"]) == (400, "invalid-parameter")  # the one strict parser

    # the registry goes away: every result becomes error, never success
    registry.stop()
    assert wait_for(
        "errors during the outage",
        lambda: {r["status"] for r in rows(admin, project, "release")} == {"error"},
    )
    reasons = {r["reason"] for r in rows(admin, project, "release")}
    assert reasons <= {"registry-unreachable", "registry-error"}, reasons
