"""Encryption throughput and memory: a large file vs Debian's ``age``, a large layer vs ``skopeo``, in one run.

    PYTHONPATH=src python benchmarks/encryption.py [--size-mib 2048] [--runs 1]

Each tool encrypts and decrypts the same bytes in the same run, taking turns; the ratios are assay's
throughput over the peer's (>= 0.8 is the target) and the peak RSS of every command (< 100 MiB is the target).
The layer is random bytes behind a gzip header, declared ``tar+gzip`` (neither tool decompresses it).
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=2048)
    args = ap.parse_args()
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
