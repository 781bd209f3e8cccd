"""Artifact rules: parsing, queue semantics, explanations, and agreement with the reference implementation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import InputError, VerificationError
from assay.layout.model import Item, Link
from assay.layout.rules import apply_rules, parse_rule

from .conftest import digest


def test_parse_match_forms():
    r = parse_rule("MATCH *.py IN src WITH products in out FROM build".split(), "x")
    assert (r.pattern, r.source_prefix, r.dest_type, r.dest_prefix, r.dest_name) == (
        "*.py",
        "src",
        "products",
        "out",
        "build",
    )
    assert r.text() == "MATCH *.py IN src WITH PRODUCTS IN out FROM build"
    assert parse_rule(["match", "a", "with", "materials", "from", "s"], "x").dest_type == "materials"


@pytest.mark.parametrize(
    ("words", "reason"),
    [
        (["COPY", "a"], "rule-unknown-keyword"),
        ([], "rule-invalid"),
        (["CREATE"], "rule-invalid"),
        (["CREATE", "a", "b"], "rule-invalid"),
        (["MATCH", "a", "WITH", "THINGS", "FROM", "s"], "rule-invalid"),
        (["MATCH", "a", "WITH", "PRODUCTS"], "rule-invalid"),
        (["MATCH", "a", "WITH", "PRODUCTS", "FROM", "s", "extra"], "rule-invalid"),
        (["MATCH", "a", "IN", "WITH", "PRODUCTS", "FROM", "s"], "rule-invalid"),
    ],
)
def test_bad_rules_cite_location(words, reason):
    with pytest.raises(InputError) as exc:
        parse_rule(words, "root.yaml:12")
    assert exc.value.reason == reason and "root.yaml:12" in exc.value.message


def _item(materials=(), products=()):
    return Item("s", [r.split() for r in materials], [r.split() for r in products])


def test_create_delete_modify_allow_consume():
    link = Link(
        "s",
        [],
        {"a": digest("1"), "b": digest("2"), "c": digest("3")},
        {"a": digest("1"), "b": digest("9"), "d": digest("4")},
    )
    links = {"s": link}
    reports = apply_rules(
        _item(products=["CREATE *", "MODIFY *", "ALLOW a", "DISALLOW *"]), "products", link, links, {}
    )
    assert [r.consumed for r in reports] == [["d"], ["b"], ["a"], []]
    with pytest.raises(VerificationError) as exc:
        apply_rules(_item(products=["CREATE *", "DISALLOW *"]), "products", link, links, {})
    assert exc.value.reason == "disallowed-artifact" and "a, b" in exc.value.message
    rep = apply_rules(_item(materials=["DELETE *", "ALLOW a", "DISALLOW c"]), "materials", link, links, {})
    assert rep[0].consumed == ["c"] and rep[1].consumed == ["a"]
    with pytest.raises(VerificationError):
        apply_rules(_item(materials=["DELETE *", "DISALLOW *"]), "materials", link, links, {})


def test_require_is_an_exact_path():
    link = Link("s", [], {}, {"dir/a.txt": digest("1")})
    apply_rules(_item(products=["REQUIRE dir/a.txt"]), "products", link, {"s": link}, {})
    with pytest.raises(VerificationError) as exc:
        apply_rules(_item(products=["REQUIRE dir/*.txt"]), "products", link, {"s": link}, {("s", "products", 0): "f:3"})
    assert exc.value.reason == "required-artifact-missing" and "f:3" in exc.value.message


def test_match_with_prefixes_and_digest_explanation():
    build = Link("build", [], {}, {"out/app": digest("a"), "out/lib": digest("b")})
    pkg = Link("pkg", [], {"dist/app": digest("a"), "dist/lib": digest("c")}, {})
    links = {"build": build, "pkg": pkg}
    item = Item(
        "pkg", [["MATCH", "*", "IN", "dist", "WITH", "PRODUCTS", "IN", "out", "FROM", "build"], ["DISALLOW", "*"]], []
    )
    with pytest.raises(VerificationError) as exc:
        apply_rules(item, "materials", pkg, links, {("pkg", "materials", 1): "root.yaml:9"})
    msg = exc.value.message
    assert "dist/lib" in msg and "c" * 64 in msg and "b" * 64 in msg and "root.yaml:9" in msg
    pkg.materials["dist/lib"] = digest("b")
    reports = apply_rules(item, "materials", pkg, links, {})
    assert reports[0].consumed == ["dist/app", "dist/lib"]


def test_match_against_missing_step_consumes_nothing():
    pkg = Link("pkg", [], {"a": digest("a")}, {})
    item = Item("pkg", [["MATCH", "*", "WITH", "PRODUCTS", "FROM", "nowhere"], ["DISALLOW", "*"]], [])
    with pytest.raises(VerificationError) as exc:
        apply_rules(item, "materials", pkg, {"pkg": pkg}, {})
    assert "no link for step 'nowhere'" in exc.value.message


# -- differential: the reference implementation's rule engine decides the same ---------------------------

PATHS = ["a", "b", "src/x", "src/y", "out/x"]
DIGS = [digest("1"), digest("2")]
artifact_sets = st.dictionaries(st.sampled_from(PATHS), st.sampled_from(DIGS), max_size=5)
patterns = st.sampled_from(["*", "a", "src/*", "*x", "out/*", "b"])
simple = st.builds(lambda k, p: [k, p], st.sampled_from(["CREATE", "DELETE", "MODIFY", "ALLOW", "DISALLOW"]), patterns)
require = st.builds(lambda p: ["REQUIRE", p], st.sampled_from(PATHS))
match = st.builds(
    lambda p, src, typ, dst: [
        "MATCH",
        p,
        *(["IN", src] if src else []),
        "WITH",
        typ,
        *(["IN", dst] if dst else []),
        "FROM",
        "up",
    ],
    patterns,
    st.sampled_from(["", "src", "out"]),
    st.sampled_from(["MATERIALS", "PRODUCTS"]),
    st.sampled_from(["", "src", "out"]),
)
rules = st.lists(st.one_of(simple, require, match), max_size=5)


@settings(max_examples=300, deadline=None)
@given(artifact_sets, artifact_sets, artifact_sets, artifact_sets, rules, st.sampled_from(["materials", "products"]))
def test_same_verdict_as_in_toto(mats, prods, up_mats, up_prods, rule_list, kind):
    verifylib = pytest.importorskip("in_toto.verifylib")
    from in_toto.exceptions import RuleVerificationError
    from in_toto.models.link import Link as RefLink

    ref_links = {
        "s": RefLink(name="s", materials=mats, products=prods),
        "up": RefLink(name="up", materials=up_mats, products=up_prods),
    }
    try:
        verifylib.verify_item_rules("s", kind, rule_list, ref_links)
        ref_ok = True
    except RuleVerificationError:
        ref_ok = False
    ours = {"s": Link("s", [], dict(mats), dict(prods)), "up": Link("up", [], dict(up_mats), dict(up_prods))}
    item = Item("s", rule_list if kind == "materials" else [], rule_list if kind == "products" else [])
    try:
        apply_rules(item, kind, ours["s"], ours, {})
        ok = True
    except VerificationError:
        ok = False
    assert ok == ref_ok
