"""The rate limiter's cost per request: one limited endpoint served with the limiter on
(limit raised so nothing is refused) and off, alternating, on live uvicorns.

    python -m bench.ratelimit_overhead [--rounds 2] [--seconds 5]

Prints and writes reports/ratelimit_overhead.md: requests per second and p50/p99 of
`GET /api/v1/users` with a bearer token, each configuration's best round, and the
ratio on/off.
"""

import argparse

from bench.common import write_report
from bench.wrk import WrkResult, run_wrk
from harness.accounts import new_tenant_admin
from harness.live_server import live_server

ENDPOINT = "/api/v1/users?page=1&page_size=20"
CONFIGS = {
    "limiter on": {"RATE_LIMIT_PER_MINUTE": "100000000", "RATE_LIMIT_ENABLED": "true"},
    "limiter off": {"RATE_LIMIT_PER_MINUTE": "100000000", "RATE_LIMIT_ENABLED": "false"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    best: dict[str, WrkResult] = {}
    for _ in range(args.rounds):
        for name, env in CONFIGS.items():
            with live_server({**env, "REDIS_URL": ""}) as server:
                header = new_tenant_admin(server.base_url)
                result = run_wrk(server.base_url + ENDPOINT, seconds=args.seconds, headers=header)
                assert result.non_2xx == 0, f"{name}: {result.non_2xx} non-2xx answers"
                if name not in best or result.requests_per_second > best[name].requests_per_second:
                    best[name] = result
    on, off = best["limiter on"], best["limiter off"]
    rows = [
        f"| {name} | {r.requests_per_second:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} |"
        for name, r in best.items()
    ]
    table = "\n".join(
        [
            "| configuration | req/s | p50 ms | p99 ms |",
            "|---|---|---|---|",
            *rows,
            "",
            f"ratio on/off: **{on.requests_per_second / off.requests_per_second:.3f}** "
            f"(best of {args.rounds} alternating rounds of {args.seconds} s, 1 worker, "
            "memory storage, wrk -t2 -c32)",
        ]
    )
    write_report("ratelimit_overhead.md", "Rate limiter overhead on GET /api/v1/users", table)
    print(table)


if __name__ == "__main__":
    main()
