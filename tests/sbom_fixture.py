"""A file tree with one of everything the SBOM catalogers read (written for the tests)."""

from __future__ import annotations

import json
from pathlib import Path

SITE = "usr/lib/python3/site-packages"


def go_buildinfo(version: str, lines: list[str]) -> bytes:
    """A Go 1.18+ inline build-info blob (header + varint strings with 16-byte sentinels)."""

    def uvarint(n: int) -> bytes:
        out = b""
        while n >= 0x80:
            out += bytes([(n & 0x7F) | 0x80])
            n >>= 7
        return out + bytes([n])

    info = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6" + ("\n".join(lines) + "\n").encode()
    info += b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
    header = b"\xff Go buildinf:" + bytes([8, 2]) + b"\0" * 16
    return header + uvarint(len(version)) + version.encode() + uvarint(len(info)) + info


def fake_go_binary() -> bytes:
    """Not a runnable program: an ELF magic, no section headers, and build info at a 16-byte boundary."""
    body = b"\x7fELF" + b"\0" * 60 + b"\x90" * 64
    lines = [
        "path\texample.com/tool/cmd/tool",
        "mod\texample.com/tool\tv1.2.3\th1:abc=",
        "dep\tgolang.org/x/text\tv0.3.7\th1:def=",
        "dep\tgithub.com/old/mod\tv1.0.0\th1:ghi=",
        "=>\tgithub.com/new/mod\tv1.1.0\th1:jkl=",
        "build\tGOOS=linux",
    ]
    return body + go_buildinfo("go1.22.4", lines) + b"\0" * 32


def files() -> dict[str, bytes]:
    meta = (
        "Metadata-Version: 2.4\nName: Requests\nVersion: 2.32.3\nLicense-Expression: Apache-2.0\n"
        "Requires-Dist: urllib3<3,>=1.21.1\nRequires-Dist: PySocks!=1.5.7; extra == 'socks'\n\nbody\n"
    )
    urllib3 = (
        "Metadata-Version: 2.1\nName: urllib3\nVersion: 2.2.2\nClassifier: License :: OSI Approved :: MIT License\n"
    )
    egg = "Metadata-Version: 1.1\nName: legacy_pkg\nVersion: 0.9\nLicense: BSD\n"
    lock = {
        "name": "web",
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "web", "version": "1.0.0", "dependencies": {"left-pad": "^1.3.0"}},
            "node_modules/left-pad": {"version": "1.3.0", "license": "WTFPL", "dependencies": {"@scope/util": "1"}},
            "node_modules/@scope/util": {"version": "1.0.1", "license": "MIT"},
            "node_modules/left-pad/node_modules/@scope/util": {"version": "2.0.0", "license": "ISC"},
            "node_modules/linked": {"link": True, "resolved": "../linked"},
        },
    }
    status = (
        "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n"
        "Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\nDepends: libgcc-s1\n\n"
        "Package: libgcc-s1\nStatus: install ok installed\nArchitecture: amd64\nSource: gcc-12\n"
        "Version: 12.2.0-14\n\n"
        "Package: removed-pkg\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0\n\n"
    )
    distroless = "Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n"
    copyright_ = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: 1991-2023 Free Software Foundation\nLicense: LGPL-2.1+\n"
    )
    apk = (
        "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\nm:Timo <t@alpinelinux.org>\np:so:libc.musl-x86_64.so.1=1\n\n"
        "C:Q1def=\nP:busybox\nV:1.36.1-r15\nA:x86_64\nL:GPL-2.0-only\nD:so:libc.musl-x86_64.so.1\n\n"
    )
    poetry = (
        '[[package]]\nname = "click"\nversion = "8.1.7"\n\n[package.dependencies]\ncolorama = {version = "*"}\n\n'
        '[[package]]\nname = "colorama"\nversion = "0.4.6"\n'
    )
    uv = (
        'version = 1\n\n[[package]]\nname = "anyio"\nversion = "4.4.0"\ndependencies = [{ name = "idna" }]\n\n'
        '[[package]]\nname = "idna"\nversion = "3.7"\n'
    )
    pipfile = {"default": {"six": {"version": "==1.16.0", "hashes": []}}, "develop": {"pytest": {"version": "==8.2.0"}}}
    return {
        f"{SITE}/requests-2.32.3.dist-info/METADATA": meta.encode(),
        f"{SITE}/urllib3-2.2.2.dist-info/METADATA": urllib3.encode(),
        f"{SITE}/legacy_pkg-0.9.egg-info/PKG-INFO": egg.encode(),
        "app/requirements.txt": (
            "# pinned\nflask==3.0.3 \\\n    --hash=sha256:" + "a" * 64 + "\nrequests>=2\n-r other.txt\n"
            "jinja2===3.1.4 ; python_version >= '3.8'\n"
        ).encode(),
        "app/poetry.lock": poetry.encode(),
        "app/uv.lock": uv.encode(),
        "app/Pipfile.lock": json.dumps(pipfile).encode(),
        "web/package-lock.json": json.dumps(lock).encode(),
        "web/node_modules/left-pad/package.json": json.dumps(
            {"name": "left-pad", "version": "1.3.0", "license": "WTFPL", "dependencies": {"@scope/util": "^1"}}
        ).encode(),
        "web/node_modules/@scope/util/package.json": json.dumps(
            {"name": "@scope/util", "version": "1.0.1", "license": {"type": "MIT"}}
        ).encode(),
        "var/lib/dpkg/status": status.encode(),
        "var/lib/dpkg/status.d/tzdata": distroless.encode(),
        "usr/share/doc/libc6/copyright": copyright_.encode(),
        "etc/os-release": b'ID=debian\nVERSION_ID="12"\n',
        "lib/apk/db/installed": apk.encode(),
    }


def write(root: Path) -> None:
    for name, data in files().items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    tool = root / "usr/local/bin/tool"
    tool.parent.mkdir(parents=True, exist_ok=True)
    tool.write_bytes(fake_go_binary())
    tool.chmod(0o755)
