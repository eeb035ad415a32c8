#!/usr/bin/env bash
# Runs the Rust contract tests against a real uvicorn: starts it on a free loopback port
# (migrated, waited for on /ready), runs `cargo test` with API_BASE_URL pointing at it,
# writes reports/junit-rust.xml, and stops the server whatever happened.
# Extra arguments go to `cargo test`. The server trusts loopback as a proxy, so each
# test's own X-Forwarded-For gives it its own per-address rate-limit buckets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
mkdir -p reports
status=0
.venv/bin/python -m harness.live_server \
  --env RATE_LIMIT_PER_MINUTE=10 --env TRUSTED_PROXIES=127.0.0.1 --env REDIS_URL= \
  -- bash -c 'cargo test --manifest-path rust_tests/Cargo.toml "$@" 2>&1 | tee reports/rust-test.log; exit "${PIPESTATUS[0]}"' _ "$@" \
  || status=$?
.venv/bin/python -m harness.cargo_junit reports/rust-test.log reports/junit-rust.xml
exit "$status"
