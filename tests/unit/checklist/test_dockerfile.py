import pytest

from assay.checklist.dockerfile import parse_froms
from assay.errors import InputError

D = "sha256:" + "a" * 64


def test_multistage_arg_platform() -> None:
    text = f"# syntax=docker/dockerfile:1\nARG BASE=golang@{D}\nFROM --platform=$X ${{BASE}} AS b\nFROM b\nFROM scratch\nFROM \\\n debian\n"
    f = parse_froms(text)
    assert [x.pinned for x in f] == [True, True, True, False]


def test_unparseable() -> None:
    with pytest.raises(InputError) as e:
        parse_froms("FROM\n")
    assert e.value.reason == "dockerfile-unparseable"
