"""Bulk create against single creates, as a comparison (marker `performance`, left out
of the default run, run by .ci/run). Hashing uses the production argon2 parameters, since
that is what the bulk endpoint spreads over worker threads. Only a gross regression
fails the test; the figures go to reports/performance.md."""

import asyncio
import time
from collections.abc import Awaitable
from pathlib import Path

import httpx
import pytest

from py_tests.fixtures.async_clients import AsyncTenant
from py_tests.support.factories import user_payloads
from py_tests.support.routes import BULK, USERS

pytestmark = [
    pytest.mark.performance,
    pytest.mark.asyncio,
    pytest.mark.settings(
        rate_limit_per_minute=1_000_000, password_hash_time_cost=2, password_hash_memory_kib=19_456
    ),
]
COUNT = 50
GROSS_BOUND_S = 60.0
REPORT = Path(__file__).resolve().parents[2] / "reports" / "performance.md"


async def timed(work: Awaitable[None]) -> float:
    started = time.perf_counter()
    await work
    return time.perf_counter() - started


async def test_bulk_against_sequential_and_concurrent_creates(
    async_tenant_a: AsyncTenant,
) -> None:
    admin = async_tenant_a.admin
    batches = [user_payloads(COUNT, password="S3cure-bench-pw") for _ in range(3)]

    async def bulk() -> None:
        response = await admin.post(BULK, json=batches[0])
        assert response.status_code == 201, response.text

    async def sequential() -> None:
        for payload in batches[1]:
            assert (await admin.post(USERS, json=payload)).status_code == 201

    async def concurrent() -> None:
        answers: list[httpx.Response] = await asyncio.gather(
            *(admin.post(USERS, json=payload) for payload in batches[2])
        )
        assert [a.status_code for a in answers] == [201] * COUNT

    times = {
        "1 bulk call of 50": await timed(bulk()),
        "50 sequential creates": await timed(sequential()),
        "50 concurrent creates": await timed(concurrent()),
    }
    table = "| how | seconds |\n|---|---|\n" + "".join(
        f"| {name} | {seconds:.2f} |\n" for name, seconds in times.items()
    )
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(f"# Creating {COUNT} users (argon2id m=19 MiB, t=2)\n\n{table}")
    print(table)
    assert all(seconds < GROSS_BOUND_S for seconds in times.values()), times
    assert (await admin.get(USERS)).json()["total_count"] == 3 * COUNT + 1
