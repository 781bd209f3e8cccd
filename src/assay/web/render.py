"""The Jinja2 environment the pages are rendered with (autoescaping on, templates from this package)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"


def when(value: Any) -> str:
    """Unix seconds (or an ISO string) as ``YYYY-MM-DD HH:MM:SSZ``."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        return value.replace("T", " ")
    return datetime.fromtimestamp(int(value), tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def short(value: Any, n: int = 19) -> str:
    """A digest cut to ``n`` characters with an ellipsis."""
    text = str(value or "")
    return text if len(text) <= n else text[:n] + "…"


@cache
def environment() -> Environment:
    """The shared environment (built once)."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html", "svg"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["short"] = short
    return env


def render(template: str, **context: Any) -> str:
    """One page as HTML."""
    return environment().get_template(template).render(**context)
