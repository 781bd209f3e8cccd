import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.errors import InputError
from assay.formats import checksums as fmt

D = "a" * 64


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1), st.booleans())
def test_format_parse_round_trip(name, tag):
    line = fmt.format_line(name, D, tag=tag)
    assert "\n" not in line
    parsed = fmt.parse_line(line, 1)
    assert parsed is not None
    assert (parsed.name, parsed.digest) == (name, D)


def test_gnu_binary_marker_and_uppercase_digest():
    parsed = fmt.parse_line("A" * 64 + " *file.bin", 1)
    assert parsed == fmt.Line("file.bin", D, 1)


def test_escaped_names():
    assert fmt.format_line("a\nb\\c", D) == "\\" + D + "  a\\nb\\\\c"
    assert fmt.format_line("a\nb", D, tag=True) == "\\SHA256 (a\\nb) = " + D


@pytest.mark.parametrize(
    "line", [D[:-1] + "  f", D + "a  f", "zz" * 32 + "  f", D, D + " ", "MD5 (f) = " + D, "\\" + D + "  bad\\q"]
)
def test_improperly_formatted_lines(line):
    assert fmt.parse_line(line, 1) is None


def test_empty_file_is_bad_input():
    with pytest.raises(InputError) as exc:
        fmt.parse("", strict=False)
    assert exc.value.reason == "checksums-empty"


def test_bad_digest_length_is_bad_input():
    with pytest.raises(InputError) as exc:
        fmt.parse(D[:-2] + "  f\n", strict=False)
    assert exc.value.reason == "checksums-malformed"


def test_strict_rejects_any_bad_line_lenient_skips_it():
    text = D + "  f\nnot a line\n"
    parsed = fmt.parse(text, strict=False)
    assert parsed.bad_lines == (2,) and len(parsed.lines) == 1
    with pytest.raises(InputError) as exc:
        fmt.parse(text, strict=True)
    assert exc.value.reason == "checksums-malformed"


def test_comments_are_skipped():
    assert len(fmt.parse("# comment\n" + D + "  f\n", strict=True).lines) == 1
