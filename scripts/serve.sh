#!/usr/bin/env bash
# Starts the API on the embedded default (SQLite under ./data, in-memory rate limits,
# local file storage) at http://127.0.0.1:8000. Extra arguments go to `python -m app serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m app serve "$@"
