"""Encryption throughput and memory: a large file vs Debian's ``age``, a large layer vs ``skopeo``, in one run.

    PYTHONPATH=src python benchmarks/encryption.py [--size-mib 2048] [--runs 1]
    PYTHONPATH=src python benchmarks/encryption.py --broker-only [--unwraps 2000] [--clients 8] [--database URL]

Each tool encrypts and decrypts the same bytes in the same run, taking turns; the ratios are assay's
throughput over the peer's (>= 0.8 is the target) and the peak RSS of every command (< 100 MiB is the target).
The layer is random bytes behind a gzip header, declared ``tar+gzip`` (neither tool decompresses it).

The broker part starts a real ``assay server --dev`` and asks it for unwraps over HTTP from several clients:
each one verifies the workload token, claims the nonce, evaluates the signed policy, appends the release to
the transparency log and answers with a JWE (targets: >= 300 unwraps/s, p99 <= 50 ms). The baseline measured
in the same run is a plain authenticated read of the key (``GET …/keys/K``) on the same server.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
ASSAY = str(BIN / "assay")


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def random_file(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with path.open("wb") as fh:
        fh.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # a gzip header, so skopeo does not compress it
        for i in range(size >> 20):
            fh.write(hashlib.sha256(i.to_bytes(8, "big")).digest()[:16] + block[16:])


def layout_with_layer(root: Path, layer: Path) -> None:
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    h = hashlib.sha256()
    with layer.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    ld = h.hexdigest()
    os.link(layer, blobs / ld)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
    cd = hashlib.sha256(config.encode()).hexdigest()
    (blobs / cd).write_text(config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f"sha256:{cd}", "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": f"sha256:{ld}",
                    "size": layer.stat().st_size}],
    })  # fmt: skip
    md = hashlib.sha256(manifest.encode()).hexdigest()
    (blobs / md).write_text(manifest)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": f"sha256:{md}", "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}  # fmt: skip
    (root / "index.json").write_text(json.dumps(index))


def line(name: str, ours: tuple[float, float], peer: tuple[float, float], size: int) -> str:
    mib = size / (1 << 20)
    return (
        f"{name:<22} assay {mib / ours[0]:7.1f} MiB/s rss {ours[1]:6.1f} MiB | peer {mib / peer[0]:7.1f} MiB/s"
        f" rss {peer[1]:6.1f} MiB | ratio {peer[0] / ours[0]:.2f}x"
    )


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


def _broker_setup(url: str, work: Path) -> tuple[str, str, Any]:
    """A project, a publisher token, key ``bench`` and a policy signed by a key the project trusts."""
    import httpx

    from assay.clients.broker import BrokerClient
    from assay.service.broker import policy_statement
    from assay.service.credentials import Credentials

    c = httpx.Client(base_url=url, timeout=30)
    idt = c.post("/dev/oidc/token", json={"email": "admin@example.com"}).json()["id_token"]
    admin = {"Authorization": "Bearer " + c.post("/api/v1/auth/session", json={"identityToken": idt}).json()["session"]}
    project = "bench"
    c.post("/api/v1/projects", json={"name": project}, headers=admin).raise_for_status()
    tok = c.post(f"/api/v1/projects/{project}/tokens", json={"role": "publisher"}, headers=admin).json()["token"]
    subprocess.run([ASSAY, "keygen", "--output-prefix", str(work / "w")], check=True, capture_output=True)
    c.put(f"/api/v1/projects/{project}/trust", json={"keys": [(work / "w.pub").read_text()]}, headers=admin)
    c.post(f"/api/v1/projects/{project}/keys/bench", headers=admin).raise_for_status()
    rule = {"name": "nodes", "issuer": url + "/dev/oidc", "subjectRegexp": "^node-[0-9]+@example.com$",
            "audience": "assay-broker", "claims": {"namespace": "prod"}, "condition": "claims.namespace != 'dev'"}  # fmt: skip
    creds = Credentials.resolve(str(work / "w.key"), None, url, None)
    bundle = creds.sign_statement(policy_statement(BrokerClient(url, project, "bench"), {"rules": [rule]}))
    c.put(f"/api/v1/projects/{project}/keys/bench/policy", content=bundle.to_bytes(), headers=admin).raise_for_status()
    evidence = c.post("/dev/oidc/token", json={"email": "node-1@example.com", "audience": "assay-broker",
                      "claims": {"namespace": "prod"}, "expiresIn": 3600}).json()["id_token"]  # fmt: skip
    return tok, evidence, c


def broker_bench(unwraps: int, clients: int, database: str | None, workers: int = 1) -> list[str]:
    import base64
    import threading

    import httpx
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from assay.crypt import age

    with tempfile.TemporaryDirectory() as tmp:
        port, work = _port(), Path(tmp)
        cmd = [ASSAY, "server", "--dev", "--data-dir", str(work / "data"), "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--database", database] if database else []
        cmd += ["--workers", str(workers)]
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            tok, evidence, c = _broker_setup(url, work)
            headers = {"Authorization": f"Bearer {tok}"}
            key_path = "/api/v1/projects/bench/keys/bench"
            recipient = age.Recipient.parse(c.get(key_path, headers=headers).json()["recipient"])
            pem = (
                ec.generate_private_key(ec.SECP256R1())
                .public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                .decode()
            )
            bodies = []
            for _ in range(unwraps + 100):
                st = recipient.wrap(os.urandom(16))
                bodies.append({"stanza": {"type": st.type, "args": list(st.args),
                               "body": base64.b64encode(st.body).decode()}, "ephemeralKey": pem,
                               "evidence": {"token": evidence}})  # fmt: skip

            def drive(path: str, method: str, items: list[Any]) -> tuple[float, list[float]]:
                lat: list[float] = []
                lock = threading.Lock()
                todo = iter(items)

                def worker() -> None:
                    with httpx.Client(base_url=url, timeout=30, headers=headers) as w:
                        while True:
                            with lock:
                                body = next(todo, None)
                            if body is None:
                                return
                            t = time.perf_counter()
                            if method == "POST":
                                body = {**body, "nonce": os.urandom(16).hex(), "timestamp": time.time()}
                                r = w.post(path, json=body)
                            else:
                                r = w.get(path)
                            dt = time.perf_counter() - t
                            if r.status_code != 200:
                                raise SystemExit(f"{method} {path}: {r.status_code} {r.text}")
                            with lock:
                                lat.append(dt)

                threads = [threading.Thread(target=worker) for _ in range(clients)]
                start = time.perf_counter()
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
                return time.perf_counter() - start, lat

            drive(key_path + "/unwrap", "POST", bodies[:100])  # warm-up
            cpu0, mine0 = _cpu_seconds(child.pid), time.process_time()
            wall, lat = drive(key_path + "/unwrap", "POST", bodies[100:])
            cpu1, mine1 = _cpu_seconds(child.pid), time.process_time()
            bwall, blat = drive(key_path, "GET", list(range(unwraps)))
            cpu2 = _cpu_seconds(child.pid)
            released = len(c.get(key_path + "/releases", headers=headers).json()["releases"])
        finally:
            child.terminate()
            child.wait(timeout=20)
    rate, base = len(lat) / wall, len(blat) / bwall
    return [
        f"broker unwrap ({database.split(':')[0] if database else 'sqlite'}, {clients} clients, {workers} workers): {rate:,.0f} unwraps/s"
        f" p50 {_pct(lat, 0.5):.1f} ms p99 {_pct(lat, 0.99):.1f} ms (target >= 300/s, p99 <= 50 ms) |"
        f" baseline GET key {base:,.0f} req/s p99 {_pct(blat, 0.99):.1f} ms | unwrap/GET {rate / base:.2f}x |"
        f" {released} releases logged | server CPU per unwrap {_per(cpu0, cpu1, len(lat))},"
        f" per GET {_per(cpu1, cpu2, len(blat))} | load generator CPU per unwrap {(mine1 - mine0) / len(lat) * 1000:.2f} ms"
    ]


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU time so far of a process and every process below it (Linux /proc), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:  # gone meanwhile
            continue
        user, system = user + int(fields[11]) / tick, system + int(fields[12]) / tick
        todo += [int(k) for k in kids]
    return user, system


def _per(before: tuple[float, float], after: tuple[float, float], n: int) -> str:
    user, system = ((a - b) / n * 1000 for a, b in zip(after, before, strict=True))
    return f"{user + system:.2f} ms ({user:.2f} user, {system:.2f} system)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=2048)
    ap.add_argument("--broker-only", action="store_true", help="only the key broker's unwrap benchmark")
    ap.add_argument("--unwraps", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--database", default=None, help="PostgreSQL URL for the broker part (default SQLite)")
    ap.add_argument("--workers", type=int, default=1, help="server processes (assay server --workers)")
    args = ap.parse_args()
    if args.broker_only:
        print("\n".join(broker_bench(args.unwraps, args.clients, args.database, args.workers)))
        return
    size = args.size_mib << 20
    age, keygen, skopeo, openssl = (shutil.which(t) for t in ("age", "age-keygen", "skopeo", "openssl"))
    if not (age and keygen and skopeo and openssl):
        raise SystemExit("needs age, age-keygen, skopeo and openssl on PATH")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        d = Path(tmp)
        plain = d / "plain"
        random_file(plain, size)
        proc = subprocess.run([keygen, "-o", str(d / "id.txt")], capture_output=True, text=True, check=True)
        recipient = proc.stderr.split("Public key:")[1].strip()
        results = []
        ours = run([ASSAY, "encrypt-blob", str(plain), "-r", recipient, "--out", str(d / "a.age")])
        peer = run([age, "-r", recipient, "-o", str(d / "b.age"), str(plain)])
        results.append(line("file encrypt (age)", ours, peer, size))
        ours = run([ASSAY, "decrypt-blob", str(d / "b.age"), "-i", str(d / "id.txt"), "--out", str(d / "a.out")])
        peer = run([age, "-d", "-i", str(d / "id.txt"), "-o", str(d / "b.out"), str(d / "a.age")])
        results.append(line("file decrypt (age)", ours, peer, size))
        for f in ("a.age", "b.age", "a.out", "b.out"):
            (d / f).unlink()
        subprocess.run([openssl, "genrsa", "-out", str(d / "k.pem"), "2048"], check=True, capture_output=True)
        subprocess.run([openssl, "rsa", "-in", str(d / "k.pem"), "-pubout", "-out", str(d / "k.pub")], check=True,
                       capture_output=True)  # fmt: skip
        layout_with_layer(d / "src", plain)
        src = f"oci:{d / 'src'}:v1"
        ours = run([ASSAY, "encrypt", src, f"oci:{d / 'ea'}:v1", "-r", f"jwe:{d / 'k.pub'}"])
        peer = run([skopeo, "copy", "-q", "--encryption-key", f"jwe:{d / 'k.pub'}", src, f"oci:{d / 'es'}:v1"])
        results.append(line("layer encrypt (skopeo)", ours, peer, size))
        ours = run([ASSAY, "decrypt", f"oci:{d / 'es'}:v1", f"oci:{d / 'da'}:v1", "--key", str(d / "k.pem")])
        peer = run(
            [skopeo, "copy", "-q", "--decryption-key", str(d / "k.pem"), f"oci:{d / 'ea'}:v1", f"oci:{d / 'ds'}:v1"]
        )
        results.append(line("layer decrypt (skopeo)", ours, peer, size))
    print(f"size {args.size_mib} MiB, ratio = peer time / assay time (>= 0.8 target), rss target < 100 MiB")
    print("\n".join(results))
    print(f"benchmark driver rss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
