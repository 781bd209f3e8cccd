"""Profile documents: what is accepted, and each refusal's reason code (pure; no server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assay.errors import InputError
from assay.profiles import templates
from assay.profiles.alerts import sign, slack_payload
from assay.profiles.evaluate import matching_tags
from assay.profiles.model import Entity
from assay.profiles.parse import parse_profile
from assay.profiles.records import check_entity, check_sink_url

RULE = {"name": "signed", "signature": {"authorities": {"keyless": [{"issuer": "https://i", "subject": "s"}]}}}


def doc(**spec: Any) -> bytes:
    body = {"rules": [RULE], **spec}
    return json.dumps(
        {"apiVersion": "assay.dev/v1", "kind": "Profile", "metadata": {"name": "p"}, "spec": body}
    ).encode()


def test_a_profile_compiles_with_defaults_and_yaml_on() -> None:
    p = parse_profile(doc(), 30)
    assert (p.name, p.alert, p.interval, p.trust, p.rules) == ("p", "on", 300, "server", ("signed",))
    yaml_doc = b"apiVersion: assay.dev/v1\nkind: Profile\nmetadata: {name: p}\nspec:\n  alert: on\n  interval: 1m\n"
    yaml_doc += b"  rules: [{name: a, provenance: {sourceRepository: https://github.com/a/b}}]\n"
    assert parse_profile(yaml_doc, 30).alert == "on"
    assert parse_profile(doc(alert="dry_run", trust={"publicGood": True}), 30).trust == "public-good"


def test_selectors_see_entity_properties() -> None:
    p = parse_profile(doc(selectors=["entity.type == 'image'", "entity.repository.startsWith('team/')"]), 30)
    assert p.selects(Entity(1, "x", "image", "127.0.0.1:5000/team/app"))
    assert not p.selects(Entity(1, "x", "image", "127.0.0.1:5000/other/app"))
    assert not p.selects(Entity(2, "x", "blob", "app.bin"))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (doc(rules=[{"name": "a", "isSigned": {}}]), "profile-unknown-rule"),
        (doc(rules=[{"name": "a", "layout": {"layout": "l", "keys": [], "links": "d"}}]), "profile-unknown-rule"),
        (doc(rules=[]), "profile-invalid"),
        (doc(selectors=["entity.type =="]), "profile-selector-invalid"),
        (doc(selectors=["predicate.x == 1"]), "profile-selector-invalid"),
        (doc(selectors="entity"), "profile-selector-invalid"),
        (doc(interval="10s"), "profile-interval-too-short"),
        (doc(interval="soon"), "profile-bad-interval"),
        (doc(alert="loud"), "profile-bad-alert"),
        (doc(trust={"server": "https://x"}), "profile-invalid"),
        (doc(match={}), "profile-unknown-key"),
        (doc(rules=[{"name": "a", "signature": {"authorities": {"keys": ["k.pub"]}}}]), "profile-rule-invalid"),
        (doc(rules=[RULE, RULE]), "profile-rule-invalid"),
        (b"apiVersion: assay.dev/v1\nkind: Policy\nmetadata: {name: p}\nspec: {}\n", "profile-invalid"),
        (b"apiVersion: assay.dev/v1\nkind: Profile\nmetadata: {name: Bad Name}\nspec: {}\n", "profile-invalid"),
        (b"a: [", "profile-malformed"),
        (b"\xff", "profile-malformed"),
        (b"- 1", "profile-malformed"),
        (doc() + b" " * 300_000, "profile-too-large"),
    ],
)
def test_refusals(data: bytes, reason: str) -> None:
    with pytest.raises(InputError) as err:
        parse_profile(data, 30)
    assert err.value.reason == reason


def test_the_artifact_security_template_is_a_profile() -> None:
    text = templates.artifact_security("https://github.com/acme/app", "main", ".github/workflows/release.yml")
    p = parse_profile(text.encode(), 30)
    assert p.trust == "public-good" and p.rules == ("signed-by-release-workflow",)
    other = templates.artifact_security("github.com/acme/app", "dev", "ci.yml", "https://issuer.example", "self-hosted")
    assert parse_profile(other.encode(), 30).trust == "server" and "self-hosted" in other


def test_entities_and_sinks_are_checked() -> None:
    check_entity("image", "127.0.0.1:5000/team/app", ["latest", "v*"], None)
    for args, reason in (
        (("vm", "x", [], None), "entity-bad-kind"),
        (("image", "127.0.0.1:5000/team/app:v1", [], None), "entity-bad-name"),
        (("image", "127.0.0.1:5000/team/app@sha256:" + "a" * 64, [], None), "entity-bad-name"),
        (("image", "127.0.0.1:5000/team/app", ["a"], "b"), "entity-bad-tags"),
        (("blob", "a/b", [], None), "entity-bad-name"),
        (("blob", "app.bin", ["x"], None), "entity-bad-tags"),
        (("evidence-subject", "sha256:12", [], None), "entity-bad-name"),
    ):
        with pytest.raises(InputError) as err:
            check_entity(*args)
        assert err.value.reason == reason, args
    assert check_sink_url("https://hooks.example.com/x") == "https://hooks.example.com/x"
    for bad in ("hooks.example.com", "ftp://x/y", "http://", "http://a b", None, "http://[::1"):
        with pytest.raises(InputError) as err:
            check_sink_url(bad)
        assert err.value.reason == "sink-bad-url"


def test_tags_by_glob_regexp_or_all_but_attachments() -> None:
    tags = ["latest", "v1", "v2.0", "dev", "sha256-" + "a" * 64 + ".sig"]
    assert matching_tags(Entity(1, "p", "image", "r/x", ("latest", "v*")), tags) == ["latest", "v1", "v2.0"]
    assert matching_tags(Entity(1, "p", "image", "r/x", (), r"v\d+"), tags) == ["v1"]
    assert matching_tags(Entity(1, "p", "image", "r/x"), tags) == ["latest", "v1", "v2.0", "dev"]


def test_signature_and_slack_payload() -> None:
    assert sign("k" * 16, b"{}") == "sha256=" + __import__("hmac").new(b"k" * 16, b"{}", "sha256").hexdigest()
    msg = slack_payload({"project": "p", "profile": "f", "rule": "r", "target": "t", "status": "failure",
                         "reason": "no-signatures", "message": "m", "digest": "sha256:1"})  # fmt: skip
    assert msg["text"] == "[p] f/r: t is FAILING" and "no-signatures" in msg["blocks"][1]["elements"][0]["text"]


def test_attachment_layouts_follow_the_rule_kinds() -> None:
    from assay.profiles.evaluate import layouts_for

    assert layouts_for(parse_profile(doc(), 30)) == ("referrer", "sig")
    prov = {"name": "built", "provenance": {"sourceRepository": "https://github.com/a/b"}}
    assert layouts_for(parse_profile(doc(rules=[prov]), 30)) == ("referrer", "att")
    assert layouts_for(parse_profile(doc(rules=[RULE, prov]), 30)) == ("referrer", "sig", "att")
