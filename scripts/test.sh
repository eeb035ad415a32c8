#!/usr/bin/env bash
# Runs the whole Python test suite in-process on the embedded default, with coverage of
# app/ (the gate is in pyproject.toml). Extra arguments go to pytest, e.g. `-n 2`, `-m auth`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/pytest -v --cov=app --cov-report=term-missing "$@"
