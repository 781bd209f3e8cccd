"""Issue 14: the strict parsers behind the server's edge (digests, tiles, identities, lanes)."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from assay.ca.claims import check_email, check_uri
from assay.ca.oidc import TokenError
from assay.errors import InputError
from assay.formats.rekor import parse_body
from assay.log.proposals import parse_proposal
from assay.log.tiles import parse_tile_path
from assay.server.work import HEAVY_COST, Lane

HEX = "ab" * 32


def _hashedrekord_body(value: str) -> bytes:
    pem = base64.b64encode(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").decode()
    return json.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": value}},
                "signature": {"content": "AAAA", "publicKey": {"content": pem}},
            },
        }
    ).encode()


@pytest.mark.parametrize("value", [" " + HEX, HEX + "\n", HEX[:10] + " " + HEX[10:], HEX[:-1], "zz" * 32])
def test_log_bodies_with_spaced_digests_are_malformed(value):
    with pytest.raises(InputError) as exc:
        parse_body(_hashedrekord_body(value), "hashedrekord", "0.0.1")
    assert exc.value.reason == "tlog-body-malformed"


@pytest.mark.parametrize("value", [" " + HEX, HEX + "\n", HEX.upper(), HEX[:-2], "sha256:" + HEX])
def test_proposals_need_exact_lower_hex(value):
    with pytest.raises(InputError) as exc:
        parse_proposal(_hashedrekord_body(value))
    assert exc.value.reason == "entry-malformed"
    assert parse_proposal(_hashedrekord_body(HEX)).spec.data.hash.value == HEX


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 100_000, "json-too-deep"),
        (b'{"kind": "\\ud800"}', "json-invalid"),
        (b'{"kind": "dsse", "apiVersion": "0.0.1", "spec": 5}', "entry-malformed"),
        (b'{"kind": ["x"], "apiVersion": 1}', "entry-kind-unsupported"),
    ],
)
def test_proposal_reasons(raw, reason):
    with pytest.raises(InputError) as exc:
        parse_proposal(raw)
    assert exc.value.reason == reason


@pytest.mark.parametrize(
    "path", ["²/000", "0/²²²", "0/000.p/²", "0/٠٠٠", "9/000", "0/x001/x001/x001/x001/x001/x001/x001/000"]
)
def test_tile_paths_take_ascii_digits_only(path):
    with pytest.raises(InputError) as exc:
        parse_tile_path(path)
    assert exc.value.reason == "bad-tile-path"
    assert parse_tile_path("0/x001/234.p/7").index == 1234


@pytest.mark.parametrize(
    "email",
    [
        "é@example.com",
        "a@example.com\n",
        "a\nb@example.com",
        '"a b"@example.com',
        "a@ex_ample.com",
        "a" * 65 + "@example.com",
        "a@example..com",
        "a@",
    ],
)
def test_emails_a_certificate_cannot_name(email):
    with pytest.raises(TokenError) as exc:
        check_email(email)
    assert exc.value.reason == "oidc-identity-invalid"


def test_emails_and_uris_accepted():
    assert check_email("first.last+tag@sub.example-domain.org")
    assert check_uri("https://github.com/o/r/.github/workflows/r.yml@refs/tags/v1%2E0", ("https",))
    for bad in (
        "https://github.com/o r",
        "http://github.com/x",
        "https://ex\u00e4mple.com/",
        "https:///path",
        "javascript:alert(1)",
    ):
        with pytest.raises(TokenError):
            check_uri(bad, ("https",))


def test_lane_runs_cheapest_first_and_keeps_a_slot_from_heavy_jobs():
    async def scenario() -> list[str]:
        lane = Lane(2)
        order: list[str] = []
        await lane.acquire(HEAVY_COST)  # one heavy job runs
        heavy2 = asyncio.create_task(lane.acquire(HEAVY_COST))  # a second heavy one must wait: one slot stays free
        await asyncio.sleep(0)
        assert not heavy2.done()
        await lane.acquire(10)  # a light job gets the free slot at once
        order.append("light-started")
        waiting = [asyncio.create_task(lane.acquire(c)) for c in (500, 20)]
        await asyncio.sleep(0)
        lane.release(10)  # frees a slot: the cheapest waiter (20) runs, not the heavy one queued first
        await asyncio.sleep(0)
        assert waiting[1].done() and not waiting[0].done() and not heavy2.done()
        lane.release(HEAVY_COST)
        await asyncio.sleep(0)
        assert waiting[0].done() and not heavy2.done()
        heavy2.cancel()
        return order

    assert asyncio.run(scenario()) == ["light-started"]
