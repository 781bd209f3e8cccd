"""The admission webhook on a Deployment with 3 containers (key-signed images, loopback docker-registry).

Measured in one run, over real HTTPS to ``assay admission serve``:
- warm: p50/p99 of sequential ``/mutate`` requests answered from the verdict and tag caches;
- cold: p50/p99 with the caches off (``--cache-ttl 0 --tag-ttl 0``: every request resolves the three
  tags and verifies the three images again), plus the very first request of a fresh process;
- requests/s warm at 32 concurrent connections (asyncio httpx client, HTTP/1.1 keep-alive);
- naive baseline: per request, for each container a fresh registry client resolves the tag, reads
  what is attached and verifies it (the sigstore-python-style one-shot verification, no cache),
  called in-process (no HTTP overhead, so the ratio favours the baseline).
Targets: warm p99 <= 20 ms, cold p99 <= 1 s, >= 300 warm requests/s on 2 cores.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.admission_reviews import review, workload
from tests.conftest import ASSAY
from tests.integration.admission_env import Webhook, policy_yaml, write_cert
from tests.integration.conftest import RegistryProcess, build_image, tar_layer

WARM = 500
COLD = 60
BASELINE = 60
CONCURRENCY = 32
LOAD_REQUESTS = 3000


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def sequential(hook: Webhook, body: bytes, n: int) -> list[float]:
    import httpx

    out = []
    with httpx.Client(verify=hook.ssl(), timeout=30) as c:
        for _ in range(n):
            t = time.perf_counter()
            r = c.post(hook.url + "/mutate", content=body, headers={"Content-Type": "application/json"})
            out.append(time.perf_counter() - t)
            assert r.status_code == 200 and r.json()["response"]["allowed"] is True, r.text
    return out


async def _load(port: int, ctx: ssl.SSLContext, body: bytes, total: int, conns: int) -> float:
    """Requests/s of ``total`` POSTs over ``conns`` keep-alive TLS connections (a minimal HTTP/1.1 client,
    so that the load generator spends little of the 2 cores the webhook runs on)."""
    head = (
        f"POST /mutate HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    request = head + body
    left = [total]

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int | None) -> None:
        while (left[0] > 0) if n is None else n > 0:
            if n is None:
                left[0] -= 1
            else:
                n -= 1
            writer.write(request)
            status = await reader.readline()
            assert b" 200 " in status, status
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)

    streams = [
        await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost") for _ in range(conns)
    ]
    await asyncio.gather(*(worker(r, w, 5) for r, w in streams))  # handshakes and warm-up done
    t = time.perf_counter()
    await asyncio.gather(*(worker(r, w, None) for r, w in streams))
    rate = total / (time.perf_counter() - t)
    for _, w in streams:
        w.close()
    return rate


def naive(images: list[str], key: str, body: bytes) -> None:
    """One request the naive way: parse, then a fresh client and a full verification per image."""
    from assay.formats.safejson import load_object
    from assay.oci import reference
    from assay.oci.registry import Registry
    from assay.service.image import ImageVerifier

    doc = load_object(body)
    containers = doc["request"]["object"]["spec"]["template"]["spec"]["containers"]
    verifier = ImageVerifier(key, None)
    for c in containers:
        ref = reference.parse(c["image"])
        reg = Registry(ref.registry, insecure=True)
        digest, _, _ = reg.resolve(ref.repository, ref.tag or "latest")
        verifier.verify_stored(reg, ref.repository, digest, f"{ref.name}@{digest}")


def main() -> None:
    from assay.oci.registry import Registry

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        reg_proc = RegistryProcess(work / "registry").start()
        hooks: list[Webhook] = []
        try:
            reg = Registry(reg_proc.host, insecure=True)
            subprocess.run([str(ASSAY), "keygen", "--output-prefix", "k"], cwd=work, check=True, capture_output=True)
            images = []
            for name in ("web", "api", "worker"):
                build_image(reg, f"bench/{name}", "v1", [tar_layer({name: name.encode() * 1000})])
                image = f"{reg_proc.host}/bench/{name}:v1"
                subprocess.run([str(ASSAY), "sign", image, "--key", "k.key", "--insecure"], cwd=work, check=True,
                               capture_output=True)  # fmt: skip
                images.append(image)
            pdir = work / "policies"
            pdir.mkdir()
            (pdir / "p.yaml").write_text(policy_yaml("release", [f"{reg_proc.host}/bench/**"], str(work / "k.pub")))
            _, _, ca = write_cert(work / "tls")
            dep = workload("Deployment", "shop", "prod", dict(zip(("web", "api", "worker"), images, strict=True)))
            body = json.dumps(review(dep)).encode()

            warm_hook = Webhook(work, pdir, ca).start()
            cold_hook = Webhook(work, pdir, ca, ["--cache-ttl", "0", "--tag-ttl", "0"]).start()
            hooks += [warm_hook, cold_hook]
            first = sequential(warm_hook, body, 1)[0]
            warm = sequential(warm_hook, body, WARM)
            cold = sequential(cold_hook, body, COLD)
            rps = asyncio.run(_load(warm_hook.port, warm_hook.ssl(), body, LOAD_REQUESTS, CONCURRENCY))

            base = []
            for _ in range(BASELINE):
                t = time.perf_counter()
                naive(images, str(work / "k.pub"), body)
                base.append(time.perf_counter() - t)
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                t = time.perf_counter()
                list(pool.map(lambda _: naive(images, str(work / "k.pub"), body), range(BASELINE * 2)))
                base_rps = BASELINE * 2 / (time.perf_counter() - t)
            verify_ops = warm_hook.metric("assay_admission_registry_operations_total", op="verify")
        finally:
            for h in hooks:
                h.stop()
            reg_proc.stop()

    ms = 1000
    print("admission webhook, Deployment with 3 key-signed containers, /mutate over HTTPS, loopback docker-registry")
    print(f"  {'':28} {'p50':>9} {'p99':>9}")
    print(
        f"  {'warm (cached), n=' + str(WARM):28} {statistics.median(warm) * ms:7.2f}ms {pct(warm, 99) * ms:7.2f}ms   (target p99 <= 20 ms)"
    )
    print(
        f"  {'cold (no cache), n=' + str(COLD):28} {statistics.median(cold) * ms:7.2f}ms {pct(cold, 99) * ms:7.2f}ms   (target p99 <= 1000 ms)"
    )
    print(f"  {'first request of a process':28} {first * ms:7.2f}ms")
    print(
        f"  {'naive baseline, n=' + str(BASELINE):28} {statistics.median(base) * ms:7.2f}ms {pct(base, 99) * ms:7.2f}ms   (in-process, no HTTP)"
    )
    print(f"  warm requests/s at {CONCURRENCY} connections: {rps:8.0f}   (target >= 300)")
    print(f"  naive baseline requests/s at {CONCURRENCY} threads: {base_rps:8.0f}")
    print(f"  ratio warm/naive: p50 {statistics.median(base) / statistics.median(warm):.0f}x faster, "
          f"throughput {rps / base_rps:.0f}x")  # fmt: skip
    print(
        f"  verifications run by the warm webhook for {WARM + LOAD_REQUESTS + CONCURRENCY * 5 + 1} requests: {verify_ops:.0f}"
    )


if __name__ == "__main__":
    main()
