"""Does an attacker stall the server? p99 of /healthz and of an ordinary append, idle vs under attack.

Starts a real ``assay server`` on loopback (SQLite), measures p99 latency of
``GET /healthz`` and of a normal hashedrekord append with no other load, then
again while 4 client processes keep sending the worst requests the limits allow
(dsse entries with the most signatures x verifiers, two over a ~3 MB payload,
two over a 64-byte one, small enough for the thread lane). Prints both and the ratio (target: under attack <= 3x idle).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.attack import Appender, Attack, p99, probe, worst_dsse
from tests.integration.conftest import ServerProcess

SECONDS = float(os.environ.get("BENCH_SECONDS", 15))
ATTACKERS = int(os.environ.get("BENCH_ATTACKERS", 4))
# The attacking clients share this machine's CPUs with the server; a remote attacker would not.
# They run at a low priority so the measurement is of the server's scheduling, not of CPU theft.
ATTACKER_NICENESS = int(os.environ.get("BENCH_ATTACKER_NICENESS", 19))


def _attacker(url: str, heavy: bool, stop: mp.Event, sent: mp.Value) -> None:  # type: ignore[type-arg]
    os.nice(ATTACKER_NICENESS)
    body = worst_dsse() if heavy else worst_dsse(payload_bytes=64)
    attack = Attack(url, [body])
    with attack:
        stop.wait()
    with sent.get_lock():
        sent.value += len(attack.statuses)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        srv = ServerProcess(Path(tmp) / "data", None).start()
        try:
            appender = Appender()
            probe(srv.url, 2.0, appender)  # warm up
            idle_health, idle_append = probe(srv.url, SECONDS, appender)
            stop, sent = mp.Event(), mp.Value("i", 0)
            procs = [
                mp.Process(target=_attacker, args=(srv.url, i % 2 == 0, stop, sent), daemon=True)
                for i in range(ATTACKERS)
            ]
            for p in procs:
                p.start()
            time.sleep(3.0)  # attackers build their bodies and reach steady state
            busy_health, busy_append = probe(srv.url, SECONDS, appender)
            stop.set()
            for p in procs:
                p.join(timeout=120)
        finally:
            srv.stop()
    print(f"stall: {ATTACKERS} attacking clients sent {sent.value} worst-case entries in {SECONDS:.0f} s")
    for name, idle, busy in (("/healthz", idle_health, busy_health), ("append", idle_append, busy_append)):
        a, b = p99(idle) * 1000, p99(busy) * 1000
        print(
            f"  {name:9s} p99 idle {a:7.1f} ms ({len(idle)} samples) | under attack {b:7.1f} ms "
            f"({len(busy)} samples) | ratio {b / a:5.2f}x (target <= 3x)"
        )


if __name__ == "__main__":
    main()
