#!/usr/bin/env bash
# `make run`: start assay server --dev with embedded defaults (SQLite + keys in .assay/).
set -euo pipefail
ASSAY=${1:-assay}
PORT=${ASSAY_PORT:-8080}
cat <<EOT
Starting assay server --dev on http://127.0.0.1:${PORT} (data in .assay/, SQLite).

In another terminal:
  . .venv/bin/activate
  assay keygen --output-prefix release
  assay sign-blob FILE --key release.key --server http://127.0.0.1:${PORT}
  assay verify-blob FILE --key release.pub --server http://127.0.0.1:${PORT}
  assay log monitor --server http://127.0.0.1:${PORT} --state monitor.json

Press Ctrl-C to stop. (\`make demo\` runs the offline sign/verify/tamper demo instead.)
EOT
exec "$ASSAY" server --dev --data-dir .assay --port "$PORT"
