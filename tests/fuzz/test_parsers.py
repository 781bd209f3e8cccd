"""A short, seeded fuzz pass over every parser: each mutant parses or raises ``AssayError``, nothing else.

Hypothesis draws a seed document, a random stream for the structure-aware mutator and a JSON value to
graft in; ``derandomize=True`` makes the pass the same on every run. ``benchmarks/fuzz.py`` runs the same
targets for a million inputs. Crashes found there are kept under ``regressions/`` and replayed here.
"""

from __future__ import annotations

import random
from pathlib import Path

import celpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.mutate import mutate
from tests.fuzz.targets import REGRESSIONS, check, targets

TARGETS = targets()
celpy.Environment()  # it raises the recursion limit (to 2500): done before hypothesis saves the limit
SETTINGS = settings(
    derandomize=True,
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_mutants_parse_or_raise_assay_error(name: str) -> None:
    target = TARGETS[name]

    @SETTINGS
    @given(seed=st.sampled_from(target.seeds), rnd=st.randoms(use_true_random=False), graft=JSON_VALUES)
    def run(seed: bytes, rnd: random.Random, graft: object) -> None:
        check(target, mutate(seed, rnd, graft))

    run()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_arbitrary_bytes_parse_or_raise_assay_error(name: str) -> None:
    target = TARGETS[name]

    @settings(SETTINGS, max_examples=15)
    @given(data=st.binary(max_size=300) | st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")))
    def run(data: bytes) -> None:
        check(target, data)

    run()


def test_seeds_are_valid() -> None:
    """The seeds parse: the mutants start from documents the parsers accept (the test can fail)."""
    for name, target in TARGETS.items():
        if name in ("policy", "oci-layout"):
            continue  # the policy seeds reference no key files; the layout seed names a blob that is absent
        for seed in target.seeds:
            target.run(seed)


def _regression_files() -> list[Path]:
    return sorted(p for p in REGRESSIONS.glob("*/*") if p.is_file())


@pytest.mark.parametrize("path", _regression_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_regressions(path: Path) -> None:
    """Every input that once crashed a parser now parses or raises AssayError."""
    check(TARGETS[path.parent.name.replace("__", ":")], path.read_bytes())
