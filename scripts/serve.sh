#!/usr/bin/env bash
# Install heron into .venv (first run only) and start it on the embedded default database
# (SQLite file ./heron.db), printing a fresh all-permissions REST API key. Extra arguments go
# to `heron serve` (e.g. --port 9000, --database postgresql://127.0.0.1/heron).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/heron ]; then
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e . -e clients/python
fi
exec .venv/bin/heron serve --new-key "$@"
