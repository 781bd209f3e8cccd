"""The scope grammar, the repository-name grammar and the grant decision (pure)."""

from __future__ import annotations

import pytest

from assay.errors import InputError
from assay.registry.grant import Standing, decide_catalog, decide_repository, decide_unknown
from assay.registry.scope import Scope, check_repository, parse_scope, parse_scopes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("repository:acme/app:pull", Scope("repository", "acme/app", ("pull",))),
        ("repository:acme/app:pull,push", Scope("repository", "acme/app", ("pull", "push"))),
        ("repository:acme/a.b_c__d-e/f:*", Scope("repository", "acme/a.b_c__d-e/f", ("*",))),
        ("repository(plugin):acme/p:pull", Scope("repository(plugin)", "acme/p", ("pull",))),
        ("registry:catalog:*", Scope("registry", "catalog", ("*",))),
        ("repository:acme/app:pull,pull", Scope("repository", "acme/app", ("pull",))),
    ],
)
def test_scopes_parse(text: str, expected: Scope) -> None:
    assert parse_scope(text) == expected
    assert str(parse_scope(str(expected))) == str(expected)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("repository:acme/app", "scope-malformed"),
        ("repository", "scope-malformed"),
        (":acme/app:pull", "scope-malformed"),
        ("Repository:acme/app:pull", "scope-malformed"),
        ("repository:acme/app:Pull", "scope-malformed"),
        ("repository:acme/app:pu ll", "scope-malformed"),
        ("repository:Acme/app:pull", "repository-name-invalid"),
        ("repository:acme//app:pull", "repository-name-invalid"),
        ("repository:acme/app-:pull", "repository-name-invalid"),
        ("repository:acme/.app:pull", "repository-name-invalid"),
        ("repository:/acme:pull", "repository-name-invalid"),
        ("repository:" + "a" * 256 + ":pull", "repository-name-invalid"),
        ("registry:cat alog:*", "scope-malformed"),
        ("x" * 2000, "scope-malformed"),
    ],
)
def test_bad_scopes_name_their_reason(text: str, reason: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_scope(text)
    assert exc.value.reason == reason


def test_repository_grammar_edges() -> None:
    assert check_repository("a/b") == "a/b"
    assert check_repository("a" * 255) == "a" * 255
    for bad in ("", "a/", "a..b", "a._b", "A", "a:b", "a b", "a\x00b"):
        with pytest.raises(InputError):
            check_repository(bad)


def test_several_scope_parameters_merge_by_resource() -> None:
    got = parse_scopes(["repository:a/x:pull", "repository:a/x:push repository:b/y:pull", ""])
    assert got == [Scope("repository", "a/x", ("pull", "push")), Scope("repository", "b/y", ("pull",))]
    assert parse_scopes([]) == []
    with pytest.raises(InputError) as exc:
        parse_scopes([f"repository:a/r{i}:pull" for i in range(33)])
    assert exc.value.reason == "too-many-scopes"


PUSH_PULL = Scope("repository", "acme/app", ("pull", "push"))


@pytest.mark.parametrize(
    ("standing", "granted", "refused"),
    [
        (Standing("acme", True, False, "publisher"), ("pull", "push"), {}),
        (Standing("acme", True, False, "viewer"), ("pull",), {"push": "insufficient-role"}),
        (Standing("acme", True, False, None), (), {"pull": "unknown-project", "push": "unknown-project"}),
        (Standing("acme", False, False, None), (), {"pull": "unknown-project", "push": "unknown-project"}),
        (Standing("acme", True, True, None), ("pull",), {"push": "insufficient-role"}),
        (Standing(None, False, False, None), (), {"pull": "unknown-project", "push": "unknown-project"}),
        (Standing("acme", True, False, "admin", "push-ci-only"), ("pull",), {"push": "push-ci-only"}),
    ],
)
def test_the_grant_is_the_intersection_of_asked_and_allowed(
    standing: Standing, granted: tuple[str, ...], refused: dict[str, str]
) -> None:
    d = decide_repository(PUSH_PULL, standing)
    assert d.granted == granted and d.refused == refused
    assert (d.access is None) == (not granted)


def test_roles_relied_on_and_public_reads() -> None:
    assert decide_repository(PUSH_PULL, Standing("acme", True, False, "admin")).role == "publisher"
    assert decide_repository(Scope("repository", "a/b", ("pull",)), Standing("a", True, True, None)).role is None
    assert (
        decide_repository(Scope("repository", "a/b", ("pull",)), Standing("a", True, True, "viewer")).role == "viewer"
    )
    delete = Scope("repository", "acme/app", ("delete",))
    assert decide_repository(delete, Standing("acme", True, False, "publisher")).refused == {
        "delete": "insufficient-role"
    }
    assert decide_repository(delete, Standing("acme", True, False, "admin")).role == "admin"


def test_star_is_all_or_the_allowed_part() -> None:
    star = Scope("repository", "acme/app", ("*",))
    assert decide_repository(star, Standing("acme", True, False, "admin")).granted == ("*",)
    part = decide_repository(star, Standing("acme", True, False, "publisher"))
    assert part.granted == ("pull", "push") and part.refused["*"] == "insufficient-role"
    odd = decide_repository(Scope("repository", "acme/app", ("pull", "fly")), Standing("acme", True, False, "admin"))
    assert odd.granted == ("pull",) and odd.refused == {"fly": "action-unknown"}


def test_catalog_and_unknown_resources() -> None:
    catalog = Scope("registry", "catalog", ("*",))
    assert decide_catalog(catalog, True).granted == ("*",)
    assert decide_catalog(catalog, False).refused == {"*": "catalog-not-all-projects"}
    assert decide_catalog(Scope("registry", "other", ("*",)), True).granted == ()
    assert decide_unknown(Scope("plugin", "x", ("pull",))).refused == {"pull": "resource-type-unknown"}


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_is_refused_with_a_reason(text: str) -> None:
    try:
        scope = parse_scope(text)
    except InputError as exc:
        assert exc.reason in ("scope-malformed", "repository-name-invalid")
    else:
        assert str(parse_scope(str(scope))) == str(scope)
