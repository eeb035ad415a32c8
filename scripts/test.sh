#!/usr/bin/env bash
# Runs the whole Python test suite in-process on the embedded default, with coverage of
# app/ (the gate is in pyproject.toml): the default run and the slow tier, which a bare
# `pytest` leaves out. Extra arguments go to pytest, e.g. `-n 2`; a `-m` given here
# replaces the selection, e.g. `-m auth`.
# Reports land in reports/: junit.xml, coverage.xml, coverage-html/, tests.html.
# The order is shuffled on every run (pytest-randomly): the header names the seed, and
# `--randomly-seed=N` replays that order; `-p no:randomly` runs in file order.
# When cargo is present, the Rust contract tests run next against a live server
# (scripts/rust_tests.sh; reports/junit-rust.xml). SKIP_RUST=1 leaves them out.
set -euo pipefail
cd "$(dirname "$0")/.."
# Bytecode, and pytest's rewritten modules with it, cached outside the tree, so that
# each pytest process does not compile its libraries again (TESTING_STRATEGY.md).
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX="${PYTHONPYCACHEPREFIX:-$PWD/.venv/pycache}"
bash scripts/bootstrap.sh
mkdir -p reports
.venv/bin/pytest -v -m "not performance and not reliability" --cov=app --cov-report=term-missing \
  --cov-report=xml:reports/coverage.xml --cov-report=html:reports/coverage-html \
  --junitxml=reports/junit.xml --html=reports/tests.html --self-contained-html "$@"
if [ -z "${SKIP_RUST:-}" ] && command -v cargo >/dev/null; then
  bash scripts/rust_tests.sh
fi
