"""Pure parts of the evidence store: recognising uploads, linked digests, the graph walk, names, search keys."""

from __future__ import annotations

import base64
import json

import pytest

from assay.errors import InputError
from assay.evidence import graph, logindex
from assay.evidence.parse import linked_digests, parse_upload
from assay.server.names import check_name, check_project


def _env(statement: dict) -> dict:
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    return {"payloadType": "application/vnd.in-toto+json", "payload": payload, "signatures": [{"sig": "AA=="}]}


ST = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "app", "digest": {"sha256": "AB" * 32, "sha512": "cd" * 64}}],
    "predicateType": "https://slsa.dev/provenance/v1",
    "predicate": {
        "buildDefinition": {"resolvedDependencies": [{"uri": "git+x", "digest": {"sha256": "ef" * 32}}]},
    },
}


def test_exact_bytes_and_jsonl():
    one = json.dumps(_env(ST)).encode() + b"\n"
    items = parse_upload(one)
    assert len(items) == 1 and items[0].raw == one  # the content address covers the exact bytes
    assert sorted(d for d, _ in items[0].subjects) == ["sha256:" + "ab" * 32, "sha512:" + "cd" * 64]
    two = json.dumps(_env(ST)).encode() + b"\n\n" + json.dumps(_env(ST)).encode() + b"\n"
    assert [i.kind for i in parse_upload(two)] == ["dsse", "dsse"]
    bad = json.dumps(_env(ST)).encode() + b"\n{oops\n"
    with pytest.raises(InputError) as e:
        parse_upload(bad)
    assert e.value.reason == "json-invalid" and e.value.message.startswith("line 2:")


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        ([{"name": "a"}], "subject-no-digest"),
        ([{"name": "a", "digest": {"sha256": 5}}], "malformed-field"),
        ([], "statement-no-subject"),
    ],
)
def test_subjects_need_digests(subject, reason):
    with pytest.raises(InputError) as e:
        parse_upload(json.dumps(_env({**ST, "subject": subject})).encode())
    assert e.value.reason == reason


def test_linked_digests_from_provenance_links_and_sboms():
    assert linked_digests({"predicate": ST["predicate"]}) == [("resolvedDependency", "sha256:" + "ef" * 32, "git+x")]
    link = {"predicate": {"materials": {"src.c": {"sha256": "11" * 32}}}}
    assert linked_digests(link) == [("material", "sha256:" + "11" * 32, "src.c")]
    cdx = {
        "predicate": {"components": [{"purl": "pkg:pypi/x@1", "hashes": [{"alg": "SHA-256", "content": "22" * 32}]}]}
    }
    assert linked_digests(cdx) == [("component", "sha256:" + "22" * 32, "pkg:pypi/x@1")]
    spdx = {
        "predicate": {"packages": [{"name": "y", "checksums": [{"algorithm": "SHA256", "checksumValue": "33" * 32}]}]}
    }
    assert linked_digests(spdx) == [("component", "sha256:" + "33" * 32, "y")]
    assert linked_digests({"predicate": "not an object"}) == []


def test_graph_walks_depth_and_stops():
    root = "sha256:" + "ab" * 32
    dep = "sha256:" + "ef" * 32
    raw = json.dumps(_env(ST)).encode()
    row = {
        "digest": "sha256:" + "99" * 32,
        "predicateType": ST["predicateType"],
        "subjects": [],
        "signer": {"identity": "k"},
    }
    dep_row = {**row, "digest": "sha256:" + "98" * 32}
    store = {
        root: [(row, raw)],
        dep: [
            (
                dep_row,
                json.dumps(
                    _env({**ST, "subject": [{"name": "s", "digest": {"sha256": "ef" * 32}}], "predicate": {}})
                ).encode(),
            )
        ],
    }
    items = {r["digest"].removeprefix("sha256:"): (r, b) for pairs in store.values() for r, b in pairs}

    def find(d: str) -> list[str]:
        return [r["digest"].removeprefix("sha256:") for r, _ in store.get(d, [])]

    g = graph.walk(root, 1, find, items.__getitem__)
    assert (f"evidence:{row['digest']}", dep, "resolvedDependency") in g.edges
    assert (dep, f"evidence:{dep_row['digest']}", "attested-by") in g.edges
    shallow = graph.walk(root, 0, find, items.__getitem__)
    assert (dep, f"evidence:{dep_row['digest']}", "attested-by") not in shallow.edges
    assert graph.from_json(g.to_json()).edges == g.edges
    assert "digraph evidence" in graph.to_dot(g)


def test_graph_cap_holds_as_nodes_are_added():
    """One item naming 46,000 subjects: the walk stops at the cap inside the item, each edge once."""
    root = "sha256:" + "ab" * 32
    subjects = [{"name": f"p{i}", "digest": {"sha256": f"{i:064x}"}} for i in range(46_000)]
    row = {"digest": "sha256:" + "99" * 32, "predicateType": ST["predicateType"], "subjects": subjects}
    raw = json.dumps(_env(ST)).encode()
    g = graph.walk(root, 2, lambda d: [row["digest"][7:]] * 3, lambda c: (row, raw), limit=50)
    assert g.truncated and len(g.nodes) == 50
    assert len(g.edges) == len(set(g.edges))
    small = graph.walk(root, 2, lambda d: [row["digest"][7:]] * 3, lambda c: (row, raw), limit=100_000)
    assert not small.truncated and len(small.nodes) == 46_003  # root, the item, its subjects, its dependency


@pytest.mark.parametrize("name", ["..", "../x", "/etc/passwd", "a\x00b", ".hidden", "a/b", "", "x" * 300])
def test_bad_names(name):
    with pytest.raises(InputError) as e:
        check_name(name, "artifact name")
    assert e.value.reason == "bad-name"


def test_good_names_and_projects():
    assert check_name("app-1.2.3+build_4.tar.gz", "name") == "app-1.2.3+build_4.tar.gz"
    assert check_project("acme") == "acme"
    with pytest.raises(InputError):
        check_project("Acme/../x")


def test_search_query_keys():
    assert logindex.query_keys({"hash": "sha256:" + "AB" * 32}) == (["sha256:" + "ab" * 32], "and")
    assert logindex.query_keys({"email": "A@B.c", "operator": "or"}) == (["email:a@b.c"], "or")
    for bad in ({}, {"hash": 5}, {"email": "nobody"}, {"publicKey": {"format": "pgp", "content": "x"}}):
        with pytest.raises(InputError):
            logindex.query_keys(bad)
