"""The compiled CEL subset agrees with cel-python's interpreter (differential), and falls back outside it."""

from __future__ import annotations

import pytest

from assay.policy.cel import CelError, Condition

DOC = {
    "predicate": {
        "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}},
        "approvals": 2,
        "ratio": 7,
        "reviewers": ["bob", "alice"],
        "scanner": {"result": [{"id": "A", "severity": [{"score": 9.8}]}, {"id": "B", "severity": [{"score": 4.0}]}]},
        "labels": {"team": "core"},
    },
    "predicateType": "https://slsa.dev/provenance/v1",
    "subject": [{"name": "a.bin", "digest": {"sha256": "ab"}}],
}

EXPRESSIONS = [
    'predicate.runDetails.builder.id == "https://github.com/actions/runner/github-hosted"',
    'predicate.runDetails.builder.id.startsWith("https://github.com/")',
    'predicate.runDetails.builder.id.endsWith("hosted") && predicate.approvals >= 2',
    "predicate.approvals > 2 || predicate.approvals == 2",
    "!predicate.scanner.result.exists(v, v.severity.exists(s, s.score >= 9.0))",
    "predicate.scanner.result.all(v, v.severity.size() == 1)",
    "predicate.scanner.result.exists_one(v, v.id == 'A')",
    "predicate.scanner.result.filter(v, v.id == 'B').size() == 1",
    "predicate.scanner.result.map(v, v.id) == ['A', 'B']",
    '"alice" in predicate.reviewers',
    '"team" in predicate.labels && predicate.labels["team"] == "core"',
    "size(predicate.reviewers) == 2 && predicate.reviewers[1] == 'alice'",
    "has(predicate.labels) && !has(predicate.missing)",
    "predicate.ratio / 2 == 3 && predicate.scanner.result[0].severity[0].score / 2.0 == 4.9",
    "predicate.approvals + 1 == 3",
    "-predicate.approvals < 0",
    'predicateType.contains("slsa") && predicateType.matches("^https://slsa[.]dev/")',
    'subject[0].digest.sha256 == "ab"',
    "predicate.approvals == 2 ? true : false",
    "(1 + 2) * 3 == 9 && 7 % 3 == 1 && -7 / 2 == -3",
    "predicate.missing == 1 || true",
    "false && predicate.missing == 1",
    "predicate.reviewers.size() > 1",
]


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_compiled_subset_agrees_with_cel_python(source: str):
    import celpy
    from celpy.adapter import json_to_cel

    env = celpy.Environment()
    tree = env.compile(source)
    cond = Condition(source, tree, env.program(tree))
    assert cond.fast is not None, "expected to be in the compiled subset"
    variables = dict(DOC)
    reference = env.program(tree).evaluate({k: json_to_cel(v) for k, v in DOC.items()})
    assert bool(reference) == cond.evaluate(variables) and isinstance(cond.evaluate(variables), bool)


@pytest.mark.parametrize(
    "source",
    [
        "predicate.missing == 1",
        "predicate.approvals < 'x'",
        "predicate.reviewers[5] == 1",
        "predicate.approvals + 1.0 > 0",
    ],
)
def test_errors_agree(source: str):
    import celpy
    from celpy.adapter import json_to_cel
    from celpy.evaluation import CELEvalError

    env = celpy.Environment()
    tree = env.compile(source)
    cond = Condition(source, tree, env.program(tree))
    with pytest.raises(CelError):
        cond.evaluate(dict(DOC))
    try:
        out = env.program(tree).evaluate({k: json_to_cel(v) for k, v in DOC.items()})
    except CELEvalError:
        return
    assert isinstance(out, CELEvalError)


def test_outside_the_subset_falls_back_to_cel_python():
    import celpy

    env = celpy.Environment()
    source = 'timestamp("2026-01-01T00:00:00Z") < timestamp("2027-01-01T00:00:00Z")'
    tree = env.compile(source)
    cond = Condition(source, tree, env.program(tree))
    assert cond.fast is None
    assert cond.evaluate({}) is True


def test_heterogeneous_numeric_equality_follows_the_cel_spec():
    import celpy

    env = celpy.Environment()
    tree = env.compile("predicate.approvals == 2.0")  # an int and a double
    cond = Condition("x", tree, env.program(tree))
    assert cond.evaluate({"predicate": DOC["predicate"]}) is True
