"""Declared license strings → SPDX identifiers and expressions (via cyclonedx-python-lib's SPDX tables)."""

from __future__ import annotations

from functools import lru_cache

from cyclonedx import spdx

# common classifier / free-text names and their SPDX identifiers
_ALIASES = {
    "mit license": "MIT",
    "bsd license": None,
    "apache software license": None,
    "apache 2.0": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "python software foundation license": "PSF-2.0",
    "isc license (iscl)": "ISC",
    "the unlicense (unlicense)": "Unlicense",
    "gnu general public license v2 (gplv2)": "GPL-2.0-only",
    "gnu general public license v3 (gplv3)": "GPL-3.0-only",
    "gnu lesser general public license v3 (lgplv3)": "LGPL-3.0-only",
    "gnu library or lesser general public license (lgpl)": None,
}


@lru_cache(maxsize=4096)
def classify(value: str) -> tuple[str, str]:
    """("id", SPDX id) | ("expression", SPDX expression) | ("name", free text)."""
    v = value.strip()
    fixed = spdx.fixup_id(v)
    if fixed:
        return "id", fixed
    alias = _ALIASES.get(v.lower(), "")
    if alias:
        return "id", alias
    if " " in v and _is_expression(v):
        return "expression", v
    return "name", v


def _is_expression(value: str) -> bool:
    """An SPDX expression of known identifiers joined by AND/OR/WITH and parentheses."""
    import re

    tokens = re.findall(r"\(|\)|[^\s()]+", value)
    expect_id = True
    depth = 0
    for tok in tokens:
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
            if depth < 0:
                return False
        elif tok in ("AND", "OR", "WITH"):
            if expect_id:
                return False
            expect_id = True
        else:
            if not expect_id or not (spdx.fixup_id(tok.rstrip("+")) or tok.startswith("LicenseRef-")):
                if not _is_exception(tok):
                    return False
            expect_id = False
    return depth == 0 and not expect_id


def _is_exception(token: str) -> bool:
    return token.endswith("-exception") or token in ("Classpath-exception-2.0", "LLVM-exception")


def spdx_expression(values: list[str]) -> str:
    """One SPDX expression for all declared licenses (AND), or NOASSERTION when any is not SPDX."""
    parts = []
    for v in values:
        kind, value = classify(v)
        if kind == "name":
            return "NOASSERTION"
        parts.append(value if kind == "id" else f"({value})")
    return " AND ".join(dict.fromkeys(parts)) if parts else "NOASSERTION"
