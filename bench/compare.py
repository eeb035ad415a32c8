"""The API measured side by side with the floor (a bare FastAPI app, `bench.floor`).

    python -m bench.compare [--rounds 4] [--seconds 3] [--postgres URL] [--publish]
                            [--baseline DIR]
    python -m bench.compare --quick     # CI: short rounds, gross-regression bounds only

Both run under uvicorn with one worker, on loopback. The API runs on its default
settings, its JSON access log on, with rate limits raised, not switched off, so the
limiter's cost is in every figure. wrk drives them in turn: each path of ours right
after a run of the floor, and its ratio compares the two, so that a machine whose
speed drifts (a shared host) moves both sides of a ratio alike. Each round measures
every path once; the report gives each path's median ratio over the rounds, its p99
beside the floor's, and the target it is held to. The API runs with the production
password-hash parameters; its tenant holds 1,000 users and a 64 KiB file. Every page,
user and file is read from the database (and storage) as the request arrives; only
the token's session state may come from its bounded cache, as the README says.

Then, over httpx: 50 users in one bulk call, 50 sequential creates and 50 concurrent
creates (`asyncio.gather`), the latency of `GET /health` while a bulk call runs, and a
200 MB upload (peak RSS growth, MB/s against `cp` of the same file on the same disk).

`--postgres URL` (a server URL such as postgresql+asyncpg://saas:saas@127.0.0.1:5432/saas;
a database of its own is created and dropped) adds the users page and user by id on
PostgreSQL. `--baseline DIR` serves another checkout (e.g. `git worktree add DIR REF`)
beside this one and measures its paths in the same rounds, alternating: a before and
after table from one run.

Writes reports/bench.md and reports/bench.svg; `--publish` also copies them to docs/,
where docs/benchmarks.md shows them.
"""

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.platform.text import unique_key
from app.users.models import User
from bench import upload_memory
from bench.chart import bar_chart
from bench.wrk import Pair, run_wrk
from harness.live_server import ROOT, LiveServer, free_port

USERS_IN_TENANT = 1_000
USERS_PAGE = "/api/v1/users?page=1&page_size=20"
FILE_BYTES = (b"0123456789abcdef" * 63 + b"0123456789abcde\n") * 64  # 64 KiB of text
# The login measurement sends one account's right password over 32 connections at once;
# the login guard counts attempts in flight, and refuses past LOGIN_FAILURE_LIMIT.
RAISED_LIMITS = {
    "RATE_LIMIT_PER_MINUTE": "100000000",
    "LOGIN_FAILURE_LIMIT": "1000",
    "REDIS_URL": "",
}
READY_TIMEOUT_S = 30.0
# Gross-regression bounds for --quick (CI shares its two cores with wrk and both servers).
# The measured ratios are in docs/bench.md (from --publish); these bounds catch only
# an order-of-magnitude fall.
QUICK_BOUNDS = {
    "health": 0.35,
    "users page": 0.05,
    "users page, PostgreSQL": 0.03,
    "user by id": 0.07,
    "user by id, PostgreSQL": 0.04,
    "file 64 KiB": 0.05,
}
QUICK_HEALTH_P99_DURING_BULK_MS = 250.0
# What each path is held to: its median ratio to the floor over the rounds.
TARGETS = {
    "health": 0.85,
    "users page": 0.25,
    "users page, PostgreSQL": 0.15,
    "user by id": 0.30,
    "user by id, PostgreSQL": 0.20,
    "file 64 KiB": 0.25,
}
# p99 at 32 connections, against the floor's p99 in the same round.
P99_TARGET_TIMES_FLOOR = 4.0
UPLOAD_MB = 200
UPLOAD_RSS_TARGET = 0.10


@dataclass
class Target:
    """What the API serves the benchmark: a tenant admin's token and ids to read."""

    base_url: str
    headers: dict[str, str]
    username: str
    password: str
    user_id: str = ""
    file_id: str = ""


@dataclass
class Table:
    rounds: list[dict[str, Pair]] = field(default_factory=list)
    bulk: dict[str, float] = field(default_factory=dict)
    health_during_bulk: dict[str, float] = field(default_factory=dict)
    upload: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- servers and data


@contextlib.contextmanager
def floor_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
        [
            *(sys.executable, "-m", "uvicorn", "bench.floor:app", "--host", "127.0.0.1"),
            *("--port", str(port), "--no-access-log", "--log-level", "warning"),
            "--no-proxy-headers",  # as `python -m app serve` runs the API
        ],
        cwd=ROOT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/hello", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the floor app did not start")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=15)


def prepare(base_url: str, database_url: str) -> Target:
    """A tenant of 1,000 users (999 inserted straight into the database with the
    admin's password hash: hashing them through the API would take minutes and is
    measured on its own below) and one 64 KiB file."""
    suffix = uuid.uuid4().hex[:10]
    username, password = f"bench_{suffix}", f"Bench-{suffix}-pw"
    with httpx.Client(base_url=base_url, timeout=60) as http:
        registered = http.post(
            "/auth/register",
            json={
                "tenant_name": f"Bench {suffix}",
                "admin_email": f"{username}@bench.example.org",
                "admin_username": username,
                "admin_password": password,
            },
        )
        registered.raise_for_status()
        asyncio.run(seed_users(database_url, registered.json()["admin_user_id"]))
        login = http.post("/auth/login", json={"username": username, "password": password})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        target = Target(base_url, headers, username, password)
        page = http.get("/api/v1/users?page=2&page_size=20", headers=headers).json()
        assert page["total_count"] == USERS_IN_TENANT, page["total_count"]
        target.user_id = page["data"][0]["id"]
        upload = http.post(
            "/api/v1/files/upload",
            headers=headers,
            files={"file": ("bench.txt", FILE_BYTES, "text/plain")},
        )
        upload.raise_for_status()
        target.file_id = upload.json()["id"]
    return target


async def seed_users(database_url: str, admin_id: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            admin = (
                await conn.execute(
                    select(User.tenant_id, User.password_hash).where(User.id == uuid.UUID(admin_id))
                )
            ).one()
            tag = uuid.uuid4().hex[:8]
            rows = [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": admin.tenant_id,
                    "username": f"member{tag}{i:04d}",
                    "username_key": unique_key(f"member{tag}{i:04d}"),
                    "email": f"member{tag}{i:04d}@bench.example.org",
                    "email_key": unique_key(f"member{tag}{i:04d}@bench.example.org"),
                    "full_name": f"Member {i}",
                    "role": "user",
                    "password_hash": admin.password_hash,
                }
                for i in range(USERS_IN_TENANT - 1)
            ]
            await conn.execute(insert(User), rows)
    finally:
        await engine.dispose()


@contextlib.contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A database of its own on the given server, dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin_dsn = make_url(server_url).set(drivername="postgresql")
    dsn = admin_dsn.render_as_string(hide_password=False)

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def login_script(folder: Path, target: Target) -> Path:
    body = json.dumps({"username": target.username, "password": target.password})
    script = folder / "login.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


# ---------------------------------------------------------------- measurements


Plan = list[tuple[str, str, dict[str, str] | None, Path | None]]


def read_paths(target: Target, label: str = "", *, everything: bool = True) -> Plan:
    """(name, url, headers, wrk script) of the read paths of one API; `label` names the
    database or checkout it runs on. `everything` adds /health and the file."""
    api, auth = target.base_url, target.headers
    plan: Plan = [
        (f"users page{label}", f"{api}{USERS_PAGE}", auth, None),
        (f"user by id{label}", f"{api}/api/v1/users/{target.user_id}", auth, None),
    ]
    if everything:
        plan.insert(0, (f"health{label}", f"{api}/health", None, None))
        plan.append((f"file 64 KiB{label}", f"{api}/api/v1/files/{target.file_id}", auth, None))
    return plan


def measure_round(floor_url: str, plan: Plan, seconds: int) -> dict[str, Pair]:
    """Every path once, each right after a run of the floor."""
    results: dict[str, Pair] = {}
    for name, url, headers, lua in plan:
        floor = run_wrk(f"{floor_url}/hello", seconds=seconds)
        result = run_wrk(url, seconds=seconds, headers=headers, script=lua)
        if result.non_2xx:
            raise AssertionError(f"{name}: {result.non_2xx} answers were not 2xx")
        results[name] = Pair(result, floor)
    return results


async def measure_bulk(target: Target, table: Table) -> None:
    def payloads(n: int) -> list[dict[str, str]]:
        tag = uuid.uuid4().hex[:8]
        return [
            {
                "username": f"bulk{tag}{i:02d}",
                "email": f"bulk{tag}{i:02d}@bench.example.org",
                "password": f"Bulk-{tag}-{i:02d}-pw",
            }
            for i in range(n)
        ]

    async with httpx.AsyncClient(
        base_url=target.base_url, headers=target.headers, timeout=120
    ) as http:

        async def create(payload: dict[str, str]) -> None:
            (await http.post("/api/v1/users", json=payload)).raise_for_status()

        start = time.perf_counter()
        (await http.post("/api/v1/users/bulk", json=payloads(50))).raise_for_status()
        table.bulk["bulk call of 50"] = time.perf_counter() - start
        start = time.perf_counter()
        for payload in payloads(50):
            await create(payload)
        table.bulk["50 sequential creates"] = time.perf_counter() - start
        start = time.perf_counter()
        await asyncio.gather(*(create(payload) for payload in payloads(50)))
        table.bulk["50 concurrent creates"] = time.perf_counter() - start

        latencies: list[float] = []
        bulk = asyncio.create_task(http.post("/api/v1/users/bulk", json=payloads(50)))
        async with httpx.AsyncClient(base_url=target.base_url, timeout=10) as probe:
            while not bulk.done():
                start = time.perf_counter()
                (await probe.get("/health")).raise_for_status()
                latencies.append((time.perf_counter() - start) * 1000)
                await asyncio.sleep(0.005)
        (await bulk).raise_for_status()
    ordered = sorted(latencies)
    table.health_during_bulk = {
        "samples": len(ordered),
        "p50 ms": statistics.median(ordered),
        "p99 ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max ms": ordered[-1],
    }


# ---------------------------------------------------------------- reporting


def summary(table: Table) -> list[str]:
    """Per path: its median ratio, its p99 beside the floor's, and its targets."""
    lines = [
        "| path | median ratio | target | p99 ms | floor p99 ms | p99 / floor p99 | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, pair in median_of_rounds(table).items():
        target = TARGETS.get(name)
        times = pair.ours.p99_ms / pair.floor.p99_ms
        met = "" if target is None else "yes"
        if target is not None and (pair.ratio < target or times > P99_TARGET_TIMES_FLOOR):
            met = "no"
        lines.append(
            f"| {name} | {pair.ratio:.2f} | {f'>= {target}' if target else '-'} "
            f"| {pair.ours.p99_ms:.1f} | {pair.floor.p99_ms:.1f} | {times:.1f} | {met} |"
        )
    return lines


def markdown(table: Table, seconds: int) -> str:
    lines = [
        f"wrk -t2 -c32, {seconds} s per run, one uvicorn worker each, on this machine "
        f"({os.cpu_count()} cores; wrk shares them). The floor is a bare FastAPI "
        "`GET /hello`, run just before each path; ratio: our req/s over that floor's. "
        "The API runs on its default settings (access log on, `LOG_LEVEL=INFO`), rate "
        f"limits raised but counted. Targets: the ratio, and p99 under "
        f"{P99_TARGET_TIMES_FLOOR:.0f} x the floor's p99 (the median round's).",
        "",
        *summary(table),
        "",
        "| round | path | req/s | p50 ms | p99 ms | floor req/s | floor p99 ms | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for number, results in enumerate(table.rounds, start=1):
        for name, pair in results.items():
            r, f = pair.ours, pair.floor
            lines.append(
                f"| {number} | {name} | {r.requests_per_second:,.0f} | {r.p50_ms:.2f} "
                f"| {r.p99_ms:.2f} | {f.requests_per_second:,.0f} | {f.p99_ms:.2f} "
                f"| {pair.ratio:.2f} |"
            )
    lines += ["", "| path | ratio per round | median |", "|---|---|---|"]
    for name in table.rounds[0]:
        ratios = [results[name].ratio for results in table.rounds]
        each = ", ".join(f"{ratio:.2f}" for ratio in ratios)
        lines.append(f"| {name} | {each} | {statistics.median(ratios):.2f} |")
    lines += ["", "| creating 50 users (production hashing) | seconds |", "|---|---|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in table.bulk.items()]
    h = table.health_during_bulk
    lines += [
        "",
        f"`GET /health` while a bulk call of 50 runs: {h['samples']:.0f} requests, "
        f"p50 {h['p50 ms']:.1f} ms, p99 {h['p99 ms']:.1f} ms, max {h['max ms']:.1f} ms.",
    ]
    if table.upload:
        u = table.upload
        lines += [
            "",
            f"Upload of {u['file_mb']} MB (one worker): peak RSS growth "
            f"{u['peak_rss_growth_mb']} MB, {u['growth_ratio']:.3f} of the file "
            f"(target < {UPLOAD_RSS_TARGET}); {u['throughput_mb_s']} MB/s against "
            f"{u['cp_mb_s']} MB/s for `cp` of the same file to the same disk and fsync "
            f"({u['throughput_mb_s'] / u['cp_mb_s']:.2f} of it); download sha256 matched: "
            f"{u['sha256_matches']}.",
        ]
    return "\n".join(lines)


def best_of_rounds(table: Table) -> dict[str, Pair]:
    """Per endpoint, the round where it came closest to its floor."""
    best: dict[str, Pair] = {}
    for results in table.rounds:
        for name, pair in results.items():
            if name not in best or pair.ratio > best[name].ratio:
                best[name] = pair
    return best


def median_of_rounds(table: Table) -> dict[str, Pair]:
    """Per endpoint, the round whose ratio is the median (the lower one of an even
    count): what the chart shows."""
    middle: dict[str, Pair] = {}
    for name in table.rounds[0]:
        pairs = sorted((results[name] for results in table.rounds), key=lambda p: p.ratio)
        middle[name] = pairs[(len(pairs) - 1) // 2]
    return middle


def check_quick_bounds(table: Table) -> list[str]:
    best = best_of_rounds(table)
    problems = [
        f"{name}: {best[name].ratio:.3f} of the floor, bound {bound}"
        for name, bound in QUICK_BOUNDS.items()
        if name in best and best[name].ratio < bound
    ]
    if table.health_during_bulk["p99 ms"] > QUICK_HEALTH_P99_DURING_BULK_MS:
        problems.append(f"/health p99 during bulk: {table.health_during_bulk['p99 ms']:.0f} ms")
    if table.upload and not table.upload["growth_ratio"] < UPLOAD_RSS_TARGET:
        problems.append(f"upload RSS growth: {table.upload['growth_ratio']} of the file")
    if table.upload and table.upload["sha256_matches"] != "True":
        problems.append("the uploaded file did not come back whole")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL", ""))
    parser.add_argument("--publish", action="store_true", help="copy the report to docs/")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s, check bounds")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout, measured alternately beside this one"
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 2, 2
    table = Table()
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        floor_url = stack.enter_context(floor_server())

        def serve(root: Path, *, postgres: bool) -> Target:
            if postgres:
                url = stack.enter_context(postgres_database(args.postgres))
            else:
                url = f"sqlite+aiosqlite:///{folder / uuid.uuid4().hex}.db"
            server = stack.enter_context(
                LiveServer({**RAISED_LIMITS, "DATABASE_URL": url}, root=root)
            )
            return prepare(server.base_url, url)

        ours = serve(ROOT, postgres=False)
        plan = read_paths(ours)
        plan.append(("login (hash-bound)", f"{ours.base_url}/auth/login", None, None))
        if args.postgres:
            plan += read_paths(serve(ROOT, postgres=True), ", PostgreSQL", everything=False)
        if args.baseline:
            before = args.baseline.resolve()
            plan += read_paths(serve(before, postgres=False), " (baseline)")
            if args.postgres:
                pg_before = serve(before, postgres=True)
                plan += read_paths(pg_before, ", PostgreSQL (baseline)", everything=False)
        script = login_script(folder, ours)
        plan = [(n, u, h, script if n.startswith("login") else lua) for n, u, h, lua in plan]
        for _ in range(args.rounds):
            table.rounds.append(measure_round(floor_url, plan, args.seconds))
        asyncio.run(measure_bulk(ours, table))
    table.upload = upload_memory.run(UPLOAD_MB)
    report = markdown(table, args.seconds)
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "bench.md").write_text(f"# API against the floor\n\n{report}\n")
    (reports / "bench.svg").write_text(bar_chart(median_of_rounds(table)))
    if args.publish:
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(reports / "bench.md", ROOT / "docs" / "bench.md")
        shutil.copyfile(reports / "bench.svg", ROOT / "docs" / "bench.svg")
    print(report)
    if args.quick:
        problems = check_quick_bounds(table)
        for problem in problems:
            print(f"gross regression: {problem}", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
