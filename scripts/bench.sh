#!/usr/bin/env bash
# The benchmarks' one command: the API beside a bare FastAPI floor under wrk (installed
# from Debian's packages when missing), bulk creates and /health during a bulk call.
# Arguments go to `python -m bench.compare`: --rounds N, --seconds S, --publish,
# --postgres URL (also BENCH_POSTGRES_URL), --quick (CI: short, gross bounds only).
# The table lands in reports/bench.md, the chart in reports/bench.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
command -v wrk >/dev/null || bash scripts/services.sh wrk
exec .venv/bin/python -m bench.compare "$@"
