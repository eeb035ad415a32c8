"""The load test: Locust (headless, bounded users and time, loopback only) against a
live uvicorn with two workers on PostgreSQL and Redis, with rate limits raised.

    python -m bench.load [--users 20] [--seconds 30]

Starts a throwaway PostgreSQL and Redis of its own (Debian's packages; see
scripts/services.sh to install them), the API on them, and Locust with
bench/locustfile.py. Prints and writes reports/load.md: requests per second, p50 / p95
/ p99 latency and failures per request type, then judges the run: zero server errors,
zero rows of another tenant in any answer, every acknowledged write readable afterwards.
Exits 1 if any of those fails.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from harness.live_server import ROOT, LiveServer
from harness.postgres_server import PostgresServer
from harness.redis_server import RedisServer

REPORTS = ROOT / "reports"


def run_locust(base_url: str, users: int, seconds: int) -> None:
    command = [
        *(sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py")),
        *("--headless", "-u", str(users), "-r", str(max(1, users // 2)), "-t", f"{seconds}s"),
        *("--host", base_url, "--csv", str(REPORTS / "load"), "--only-summary"),
        *("--exit-code-on-error", "0", "--loglevel", "WARNING"),
    ]
    subprocess.run(  # noqa: S603 - our interpreter, our locustfile
        command,
        cwd=ROOT,
        env={**os.environ, "LOAD_RESULTS": str(REPORTS / "load-results.json")},
        check=True,
    )


def table(stats_csv: Path) -> tuple[str, dict[str, str]]:
    rows = list(csv.DictReader(stats_csv.open()))
    lines = [
        "| request | count | failures | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    total: dict[str, str] = {}
    for row in rows:
        name = "all" if row["Name"] == "Aggregated" else f"{row['Type']} {row['Name']}"
        lines.append(
            f"| {name} | {row['Request Count']} | {row['Failure Count']} "
            f"| {float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {row['99%']} |"
        )
        if row["Name"] == "Aggregated":
            total = row
    return "\n".join(lines), total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    REPORTS.mkdir(exist_ok=True)
    with PostgresServer() as postgres, RedisServer() as redis:
        env = {
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "RATE_LIMIT_PER_MINUTE": "1000000",
            "LOG_LEVEL": "WARNING",
        }
        with LiveServer(env, workers=2) as server:
            run_locust(server.base_url, args.users, args.seconds)
            failures = list(csv.DictReader((REPORTS / "load_failures.csv").open()))
    stats, total = table(REPORTS / "load_stats.csv")
    results = json.loads((REPORTS / "load-results.json").read_text())
    server_errors = sum(int(f["Occurrences"]) for f in failures if "server error" in f["Error"])
    verdict = {
        "server errors (5xx)": server_errors,
        "rows of another tenant seen": len(results["cross_tenant_rows"]),
        "acknowledged writes missing afterwards": len(results["missing_after_run"]),
    }
    report = "\n".join(
        [
            f"Locust, {args.users} users over {results['tenants']} tenants, {args.seconds} s, "
            "against uvicorn with 2 workers on PostgreSQL + Redis (loopback, one machine "
            "shared by the load generator and the server).",
            "",
            stats,
            "",
            f"Acknowledged and read back: {results['acknowledged_users']} users, "
            f"{results['acknowledged_files']} files.",
            "",
            *(f"- {name}: {count}" for name, count in verdict.items()),
        ]
    )
    (REPORTS / "load.md").write_text(f"# Load test\n\n{report}\n")
    print(report)
    if total and int(total["Request Count"]) == 0:
        print("no request was made", file=sys.stderr)
        return 1
    return 1 if any(verdict.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
