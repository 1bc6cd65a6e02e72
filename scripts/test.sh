#!/usr/bin/env bash
# Install what the tests need (into .venv) and run every check: lint, types, and the test
# suite twice, on SQLite and on PostgreSQL (127.0.0.1:5432; under CI=true it must be there).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]' -e clients/python  # heron-client: the CLI's data tools use it

echo "== ruff"
.venv/bin/ruff check src tests bench clients/python
.venv/bin/ruff format --check --quiet src tests bench clients/python
echo "== mypy --strict"
.venv/bin/mypy

status=0
for backend in sqlite postgresql; do
    echo "== pytest on $backend"
    HERON_TEST_BACKEND=$backend .venv/bin/python -m pytest -q -p no:cacheprovider "$@" || status=$?
done
exit $status
