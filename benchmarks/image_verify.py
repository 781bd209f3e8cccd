"""``assay verify`` of a signed image in a local docker-registry: cold process and warm in-process.

Starts Debian's docker-registry on loopback, writes a two-layer image with
assay's client, signs it with a key (referrer bundle + cosign ``.sig``), then:
- cold: median wall time of 20 ``assay verify IMAGE --key`` processes;
- warm: median of 20 in-process ``verify_image`` calls reusing the client;
and prints the registry round trips of one cold and one warm verification.
Targets: cold <= 0.5 s, warm <= 20 ms.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import ASSAY
from tests.integration.conftest import RegistryProcess, build_image, tar_layer

N = 20


def main() -> None:
    from assay.oci.registry import Registry
    from assay.oci.target import RegistryAuth, open_target
    from assay.service.image import ImageVerifier, verify_image

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        reg_proc = RegistryProcess(work / "registry").start()
        try:
            reg = Registry(reg_proc.host, insecure=True)
            build_image(reg, "bench/app", "v1", [tar_layer({"a": b"a" * 100_000}), tar_layer({"b": b"b"})])
            image = f"{reg_proc.host}/bench/app:v1"
            subprocess.run([str(ASSAY), "keygen", "--output-prefix", "k"], cwd=work, check=True, capture_output=True)
            subprocess.run([str(ASSAY), "sign", image, "--key", "k.key", "--insecure"], cwd=work, check=True,
                           capture_output=True)  # fmt: skip
            cold = []
            for _ in range(N):
                t = time.perf_counter()
                subprocess.run([str(ASSAY), "verify", image, "--key", "k.pub", "--insecure"], cwd=work, check=True,
                               capture_output=True)  # fmt: skip
                cold.append(time.perf_counter() - t)
            auth = RegistryAuth(insecure=True)
            verifier = ImageVerifier(str(work / "k.pub"), None)
            client = open_target(image, auth).store
            assert isinstance(client, Registry)
            before = client.round_trips
            verify_image(image, verifier, auth=auth)
            cold_trips = client.round_trips - before
            warm = []
            for _ in range(N):
                t = time.perf_counter()
                verify_image(image, verifier, auth=auth)
                warm.append(time.perf_counter() - t)
            before = client.round_trips
            verify_image(image, verifier, auth=auth)
            warm_trips = client.round_trips - before
        finally:
            reg_proc.stop()
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"image verify (key, docker-registry 2.8, median of {N}):")
    print(f"  cold process   {c * 1000:7.1f} ms   (target <= 500 ms)   registry round trips: {cold_trips}")
    print(f"  warm in-process{w * 1000:7.1f} ms   (target <= 20 ms)    registry round trips: {warm_trips}")


if __name__ == "__main__":
    main()
