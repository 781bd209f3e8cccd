"""Alerts on transitions, against a loopback HTTP receiver that fails the first attempts: a signed generic
webhook and a Slack-compatible sink get exactly one alert per transition after retries with back-off; a sink
that always fails is dead-lettered after N attempts; ``dry_run`` records what would have been sent."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conftest import loopback_http, run_assay
from tests.integration.accesskit import fresh_database, new_project
from tests.integration.conftest import push_image
from tests.integration.profilekit import env_for, fast_server, key_profile, keypair, project_on, wait_for

SECRET = "s3cret-s3cret-s3cret"


class Receiver(BaseHTTPRequestHandler):
    """Answers 500 to the first ``FAIL_FIRST`` posts on each path (always on /dead); records every post."""

    FAIL_FIRST = 2
    seen: ClassVar[dict[str, list[dict[str, Any]]]] = {}
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.lock:
            got = self.seen.setdefault(self.path, [])
            fail = self.path == "/dead" or len(got) < self.FAIL_FIRST
            got.append({"headers": dict(self.headers), "body": body, "ok": not fail})
        self.send_response(500 if fail else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _delivered(path: str) -> list[dict[str, Any]]:
    with Receiver.lock:
        return [x for x in Receiver.seen.get(path, []) if x["ok"]]


@pytest.fixture
def receiver():
    Receiver.seen = {}
    with loopback_http(Receiver) as host:
        yield host


@pytest.mark.parametrize("database_kind", ["sqlite", "postgresql"])
def test_alerts_retry_sign_dead_letter_and_dry_run(database_kind, registry, receiver, tmp_path: Path) -> None:
    gen = fresh_database(database_kind)
    srv = fast_server(tmp_path, next(gen), "--alert-attempts", "3")
    try:
        _scenario(srv, registry, receiver, tmp_path)
    finally:
        srv.stop()
        gen.close()


def _scenario(srv: Any, registry: Any, receiver: str, tmp_path: Path) -> None:
    admin, project = project_on(srv)
    env = env_for(srv)
    base = f"/api/v1/projects/{project}"
    (tmp_path / "secret").write_text(SECRET)
    add = run_assay("alert", "sink", "add", "hook", "-p", project, "--webhook", f"http://{receiver}/hook",
                    "--secret-file", str(tmp_path / "secret"), env=env)  # fmt: skip
    assert add.code == 0 and "(signed)" in add.out, add.err
    assert (
        run_assay("alert", "sink", "add", "chat", "-p", project, "--slack", f"http://{receiver}/slack", env=env).code
        == 0
    )
    admin.ok("POST", f"{base}/sinks", {"name": "dead", "kind": "webhook", "url": f"http://{receiver}/dead"})
    # bad sinks are refused and nothing is written
    for body, reason in (
        ({"name": "x", "kind": "webhook", "url": "not a url"}, "sink-bad-url"),
        ({"name": "x", "kind": "webhook", "url": "ftp://example.com/hook"}, "sink-bad-url"),
        ({"name": "x", "kind": "email", "url": "http://example.com"}, "sink-bad-kind"),
        ({"name": "x", "kind": "webhook", "url": "http://example.com", "secret": "short"}, "sink-bad-secret"),
        ({"name": "X Y", "kind": "webhook", "url": "http://example.com"}, "profile-invalid"),
    ):
        r = admin("POST", f"{base}/sinks", body)
        assert (r.status_code, r.json()["reason"]) == (400, reason), r.text
    cli = run_assay("alert", "sink", "add", "x", "-p", project, "--webhook", "file:///etc/passwd", env=env)
    assert cli.code == 2 and "error[sink-bad-url]" in cli.err
    sinks = admin.ok("GET", f"{base}/sinks")["sinks"]
    assert [s["name"] for s in sinks] == ["chat", "dead", "hook"] and all("secret" not in s for s in sinks)

    push_image(registry.host, "team/app", "latest", b"unsigned")
    assert (
        run_assay("entity", "add", "-p", project, "image", f"{registry.host}/team/app", "--insecure", env=env).code == 0
    )
    (tmp_path / "p.json").write_text(key_profile("release", keypair(tmp_path)))
    assert run_assay("profile", "apply", "-f", str(tmp_path / "p.json"), "-p", project, env=env).code == 0

    first = wait_for("the failure alert after two refused attempts", lambda: _delivered("/hook"))
    assert len(Receiver.seen["/hook"]) == 3  # 500, 500, then 204
    ids = {x["headers"]["X-Assay-Delivery"] for x in Receiver.seen["/hook"]}
    assert len(ids) == 1  # the retries are the same delivery
    sent = first[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), sent["body"], hashlib.sha256).hexdigest()
    assert sent["headers"]["X-Assay-Signature"] == expected
    doc = json.loads(sent["body"])
    assert doc["status"] == "failure" and doc["previous"] is None and doc["rule"] == "signed"
    assert doc["target"] == f"{registry.host}/team/app:latest" and doc["reason"] == "no-signatures"
    assert doc["digest"].startswith("sha256:") and doc["project"] == project
    slack = wait_for("the Slack message", lambda: _delivered("/slack"))
    message = json.loads(slack[0]["body"])
    assert "FAILING" in message["text"] and message["blocks"][0]["type"] == "section"
    assert "X-Assay-Signature" not in slack[0]["headers"]  # that sink has no secret
    dead = wait_for("dead-lettering", lambda: _alerts(admin, base, "dead"))
    assert dead[0]["attempts"] == 3 and dead[0]["lastError"] == "HTTP 500" and len(Receiver.seen["/dead"]) == 3

    # still failing for several more rounds: no second alert
    import time

    time.sleep(3)
    assert len(_delivered("/hook")) == 1 and len(_delivered("/slack")) == 1 and len(Receiver.seen["/dead"]) == 3

    # signed: one alert back to success
    assert run_assay("sign", f"{registry.host}/team/app:latest", "--key", "k.key", "--insecure", cwd=tmp_path).code == 0
    back = wait_for("the recovery alert", lambda: len(_delivered("/hook")) == 2 and _delivered("/hook"))
    recovered = json.loads(back[1]["body"])
    assert recovered["status"] == "success" and recovered["previous"] == "failure"
    listed = run_assay("alert", "list", "-p", project, "--state", "sent", env=env)
    assert listed.code == 0 and listed.out.count("hook sent") == 2, listed.out

    # dry_run: the alert is recorded with its body, never sent
    dry = new_project(admin)
    admin.ok(
        "POST", f"/api/v1/projects/{dry}/sinks", {"name": "hook", "kind": "webhook", "url": f"http://{receiver}/dry"}
    )
    push_image(registry.host, "team/other", "latest", b"also unsigned")
    admin.ok("POST", f"/api/v1/projects/{dry}/entities", {"kind": "image", "name": f"{registry.host}/team/other",
                                                        "insecure": True})  # fmt: skip
    r = admin("POST", f"/api/v1/projects/{dry}/profiles",
              content=key_profile("release", keypair(tmp_path, "d"), alert="dry_run").encode())  # fmt: skip
    assert r.status_code == 201, r.text
    would = wait_for("a dry-run record", lambda: _alerts(admin, f"/api/v1/projects/{dry}", "dry-run"))
    assert would[0]["body"]["status"] == "failure" and would[0]["attempts"] == 0
    time.sleep(1.5)
    assert "/dry" not in Receiver.seen
    bad = admin("GET", f"{base}/alerts", params={"state": "lost"})
    assert (bad.status_code, bad.json()["reason"]) == (400, "bad-state")


def _alerts(admin: Any, base: str, state: str) -> list[dict[str, Any]]:
    r = admin("GET", f"{base}/alerts", params={"state": state})
    assert r.status_code == 200, r.text
    return list(r.json()["alerts"])
