#!/usr/bin/env bash
# A skopeo with ocicrypt's key-provider support, for tests/interop/test_broker_keyprovider.py.
#
# Debian 12's skopeo (1.9.3, built on ocicrypt 1.0.3) predates key providers; Debian 13's (1.18) has them. This
# downloads Debian 13's skopeo and the libraries it links (its glibc, gpgme, assuan, gpg-error, sqlite) into DIR —
# nothing is installed on the system — and writes DIR/skopeo, which runs that binary with its own glibc's loader.
# Idempotent; a failure leaves nothing half-made (the tests then skip, and fail under CI=true).
set -euo pipefail
dir=${1:-.cache/skopeo-keyprovider}
if [ -x "$dir/skopeo" ] && "$dir/skopeo" --version >/dev/null 2>&1; then exit 0; fi
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || { echo "apt-get/dpkg-deb missing: no key-provider skopeo"; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "deb http://deb.debian.org/debian trixie main" >"$work/sources.list"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
opts=(-q -o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$work/lists"
  -o Dir::Cache="$work/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
if ! apt-get "${opts[@]}" update >/dev/null 2>&1 ||
  ! (cd "$work/debs" && apt-get "${opts[@]}" download skopeo libc6 libgpgme11t64 libassuan9 libgpg-error0 libsqlite3-0 >/dev/null 2>&1); then
  echo "could not fetch Debian 13's skopeo: the key-provider interop tests will skip"
  exit 0
fi
mkdir -p "$work/root"
for f in "$work"/debs/*.deb; do dpkg-deb -x "$f" "$work/root"; done
rm -rf "$dir" && mkdir -p "$dir" && mv "$work/root" "$dir/root"
root=$(cd "$dir/root" && pwd)
lib="$root/usr/lib/x86_64-linux-gnu"
cat >"$dir/skopeo" <<WRAPPER
#!/bin/sh
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib" "$root/usr/bin/skopeo" "\$@"
WRAPPER
chmod +x "$dir/skopeo"
"$dir/skopeo" --version
