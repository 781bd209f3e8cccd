"""--workers: each process's share of a rate limit, and the settings handed to spawned workers."""

from __future__ import annotations

from pathlib import Path

from assay.access.ratelimit import parse_rate
from assay.server.access_setup import per_worker
from assay.server.config import Settings
from assay.server.main import decode, encode


def test_each_worker_gets_its_share_of_a_limit() -> None:
    rate, burst = parse_rate("600/m:20")
    assert per_worker((rate, burst), 1) == (rate, burst)
    r2, b2 = per_worker((rate, burst), 2)
    assert r2 * 2 == rate and b2 * 2 == burst  # together no more than configured
    assert per_worker(parse_rate("1/s:1"), 4) == (0.25, 1.0)  # a burst never drops below one request


def test_settings_reach_the_workers_unchanged() -> None:
    s = Settings(
        Path("/srv/assay"), "postgresql://db/assay", workers=3, dev=True, admins=["https://i=s"],
        oidc_jwks=["spiffe://td=/b.json"], extra={"k": "v"}, rate_limit="20/s", tuf_tick=0.0,
    )  # fmt: skip
    back = decode(encode(s))
    assert back == s and isinstance(back.data_dir, Path)
