import pytest

from assay.checklist.dockerfile import parse_froms, parse_runs
from assay.errors import InputError

D = "sha256:" + "a" * 64


def test_multistage_arg_platform() -> None:
    text = f"# syntax=docker/dockerfile:1\nARG BASE=golang@{D}\nFROM --platform=$X ${{BASE}} AS b\nFROM b\nFROM scratch\nFROM \\\n debian\n"
    f = parse_froms(text)
    assert [x.pinned for x in f] == [True, True, True, False]


def test_arg_without_default_is_unresolved() -> None:
    (f,) = parse_froms("ARG IMAGE\nFROM ${IMAGE}\n")
    assert not f.pinned and f.unresolved == ("IMAGE",)
    (f,) = parse_froms(f"ARG IMAGE\nFROM ${{IMAGE:-debian@{D}}}\n")
    assert f.pinned and f.image == f"debian@{D}"


def test_args_after_first_from_are_not_in_scope() -> None:
    # Docker: only ARGs before the first FROM may be used in FROM lines
    f = parse_froms(f"FROM debian@{D}\nARG B=alpine@{D}\nFROM $B\n")
    assert [x.pinned for x in f] == [True, False]


def test_quoted_arg_and_lowercase_from() -> None:
    (f,) = parse_froms(f'ARG B="debian@{D}"\nfrom $B as x\n')
    assert f.pinned and f.stage == "x"


def test_tag_and_digest_counts_as_pinned() -> None:
    (f,) = parse_froms(f"FROM debian:12@{D}\n")
    assert f.pinned


def test_escape_directive_backtick() -> None:
    text = "# escape=`\nFROM `\n  mcr.microsoft.com/windows/servercore\nRUN dir c:\\\n"
    (f,) = parse_froms(text)
    assert f.image == "mcr.microsoft.com/windows/servercore" and not f.pinned


def test_heredoc_body_belongs_to_run() -> None:
    text = f"FROM debian@{D}\nRUN <<EOF\napt-get install -y curl\nFROM evil\nEOF\nFROM scratch\n"
    assert [x.image for x in parse_froms(text)] == [f"debian@{D}", "scratch"]
    ((n, cmd),) = parse_runs(text)
    assert n == 2 and "apt-get install -y curl" in cmd


@pytest.mark.parametrize(
    "text",
    [
        "FROM\n",
        "FROM a b c d\n",
        "FROM --platform linux/amd64 debian\n",
        "RUN <<EOF\nx\n",
        "FROM a \\\n",
        "# escape=x\nFROM a\n",
    ],
)
def test_unparseable(text: str) -> None:
    with pytest.raises(InputError) as e:
        parse_froms(text)
    assert e.value.reason == "dockerfile-unparseable"
