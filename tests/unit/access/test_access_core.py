"""The pure parts of access control: the permission decision, the audit chain walk, buckets, parsing."""

from __future__ import annotations

import time

import pytest

from assay.access.audit import GENESIS, row_hash, walk
from assay.access.credentials import parse_duration
from assay.access.permissions import (
    ACCESS_WRITES,
    PERMISSIONS,
    PUBLIC_WRITES,
    ROLES,
    allows,
    changes_access,
    check_role,
    is_write,
    min_role,
    public_read,
)
from assay.access.projects import check_name
from assay.access.ratelimit import Buckets, parse_rate
from assay.errors import InputError


def test_roles_are_ordered_and_every_action_has_a_known_minimum() -> None:
    assert allows("admin", "policy.write") and allows("policy_writer", "policy.write")
    assert not allows("publisher", "policy.write") and not allows(None, "project.read")
    assert allows(None, "session.read")  # any authenticated caller
    assert not allows("admin", "project.create")  # server administrators only
    # the key broker: members read keys, publishers ask for unwraps, policy writers write decryption policies
    assert allows("viewer", "broker.read") and not allows("viewer", "broker.unwrap") and not allows(None, "broker.read")
    assert allows("publisher", "broker.unwrap") and not allows("publisher", "broker.policy")
    assert allows("policy_writer", "broker.policy") and not allows("policy_writer", "broker.admin")
    assert is_write("broker.unwrap") and is_write("broker.policy") and is_write("broker.admin")
    assert not is_write("broker.read")
    for action, (role, _) in PERMISSIONS.items():
        assert role in (*ROLES, "authenticated", "server_admin"), action
    # TUF: anyone reads a public repository; developers sign, policy writers delegate, admins own the root
    assert public_read("tuf.read") and allows("viewer", "tuf.read") and not allows(None, "tuf.read")
    assert allows("publisher", "tuf.sign") and not allows("viewer", "tuf.sign")
    assert allows("policy_writer", "tuf.delegate") and not allows("publisher", "tuf.delegate")
    assert allows("admin", "tuf.root") and not allows("policy_writer", "tuf.root")
    assert min_role("tuf.republish") == "server_admin" and all(is_write(a) for a in ("tuf.sign", "tuf.root"))
    with pytest.raises(KeyError):
        min_role("no.such.action")
    assert is_write("session.create") and is_write("member.write") and not is_write("audit.read")
    assert is_write("registry.token"), "registry token requests are open and audited like logins"
    with pytest.raises(InputError) as exc:
        check_role("owner")
    assert exc.value.reason == "unknown-role"


def _chain(n: int) -> list[dict]:
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        row = {
            "seq": seq,
            "time": 1700000000 + seq,
            "actor": "a (i)",
            "token_id": None,
            "project": "p",
            "action": "member.write",
            "target": f"t{seq}",
            "result": "ok",
            "request_id": "r",
            "address": "127.0.0.1",
        }
        h = row_hash(prev, row)
        rows.append({**row, "prev_hash": prev.hex(), "hash": h.hex()})
        prev = h
    return rows


def test_walk_accepts_an_intact_chain_and_names_the_first_break() -> None:
    rows = _chain(5)
    anchors = [{"seq": 3, "head_hash": rows[2]["hash"]}]
    assert walk(rows, anchors) == (5, None)
    edited = [dict(r) for r in rows]
    edited[1]["target"] = "forged"
    count, broken = walk(edited, anchors)
    assert (count, broken and broken.seq, broken and broken.reason) == (1, 2, "audit-row-altered")
    _, broken = walk(rows[:2] + rows[3:], anchors)
    assert broken is not None and (broken.seq, broken.reason) == (3, "audit-row-missing")
    _, broken = walk(rows[:2], anchors)  # the tail was cut after being anchored
    assert broken is not None and (broken.seq, broken.reason) == (3, "audit-row-missing")
    _, broken = walk(rows, [{"seq": 3, "head_hash": "00" * 32}])
    assert broken is not None and broken.reason == "audit-anchor-mismatch"
    relinked = [dict(r) for r in rows]
    relinked[3]["prev_hash"] = "11" * 32
    _, broken = walk(relinked, [])
    assert broken is not None and (broken.seq, broken.reason) == (4, "audit-chain-broken")


def test_buckets_refill_and_report_the_wait() -> None:
    b = Buckets(rate=10.0, burst=2.0)
    assert b.take("k") == 0 and b.take("k") == 0
    wait = b.take("k")
    assert 0 < wait <= 0.1
    assert b.take("other") == 0
    time.sleep(0.12)
    assert b.peek("k") == 0 and b.take("k") == 0


@pytest.mark.parametrize(
    ("text", "rate", "burst"), [("20/s", 20.0, 20.0), ("600/m", 10.0, 600.0), ("60/m:5", 1.0, 5.0)]
)
def test_parse_rate(text: str, rate: float, burst: float) -> None:
    assert parse_rate(text) == (rate, burst)


@pytest.mark.parametrize("bad", ["", "10", "ten/s", "5/w", "-1/s"])
def test_parse_rate_refuses(bad: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_rate(bad)
    assert exc.value.reason == "bad-rate-limit"


def test_durations_and_names() -> None:
    assert parse_duration("30d") == 30 * 86400 and parse_duration("90s") == 90
    for bad in ("30", "1y", "d", "-5m"):
        with pytest.raises(InputError):
            parse_duration(bad)
    assert check_name("web-1") == "web-1"
    for bad in ("Web", "-web", "a" * 64, "", "a_b", "a b"):
        with pytest.raises(InputError) as exc:
            check_name(bad)
        assert exc.value.reason == "bad-project-name"


# Writes reviewed as touching no session, token, project or grant: they leave the cached checks warm.
NOT_ACCESS = {
    "artifact.delete", "artifact.publish", "audit.anchor", "broker.admin", "broker.policy", "broker.unwrap",
    "evidence.write", "log.append", "policy.write", "profile.write", "tuf.delegate", "tuf.republish", "tuf.root",
    "tuf.sign",
}  # fmt: skip


def test_every_write_is_classified_as_changing_access_or_not() -> None:
    writes = {a for a in PERMISSIONS if is_write(a)} | PUBLIC_WRITES
    assert ACCESS_WRITES <= writes, "an access write that is not a write"
    unclassified = writes - ACCESS_WRITES - NOT_ACCESS
    assert not unclassified, f"new write actions: decide whether they change access state: {sorted(unclassified)}"
    for action in ("token.revoke", "member.write", "session.delete", "project.admin", "identity.remove"):
        assert changes_access(action)
    for action in NOT_ACCESS | {"project.read", "broker.read"}:
        assert not changes_access(action)
