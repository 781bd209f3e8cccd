#!/usr/bin/env bash
# End-to-end demo used by `make run` until the server exists:
# keygen, sign, verify, tamper, verify fails. Prints every step.
set -uo pipefail
ASSAY=${1:-assay}
ASSAY=$(cd "$(dirname "$ASSAY")" && pwd)/$(basename "$ASSAY")
DIR=$(mktemp -d "${TMPDIR:-/tmp}/assay-demo.XXXXXX")
cd "$DIR" || exit 3
step() { printf '\n$ %s\n' "$*"; }
run() { step "assay ${*}"; "$ASSAY" "$@"; echo "(exit $?)"; }

echo "assay demo in $DIR"
echo "release artifact v1.0" > artifact.txt
run keygen --type ecdsa-p256 --output-prefix demo
run sign-blob artifact.txt --key demo.key --bundle artifact.txt.sigstore.json
run verify-blob artifact.txt --bundle artifact.txt.sigstore.json --key demo.pub
echo '{"builder": "demo"}' > predicate.json
run attest-blob artifact.txt --predicate predicate.json --type https://example.com/demo/v1 --key demo.key --bundle artifact.att.json
run verify-blob-attestation artifact.txt --bundle artifact.att.json --key demo.pub --type https://example.com/demo/v1
step "echo tampered >> artifact.txt"
echo tampered >> artifact.txt
run verify-blob artifact.txt --bundle artifact.txt.sigstore.json --key demo.pub
echo
echo "The last verification failed (exit 1) because the artifact changed after signing."
