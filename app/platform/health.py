"""Liveness and readiness; never authenticated, never rate limited."""

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from pydantic_core import to_json

from app.platform.dependencies import RuntimeDep
from app.platform.errors import ServiceUnavailable
from app.platform.responses import problems

router = APIRouter(tags=["health"])
READY_TIMEOUT_S = 2.0


class Health(BaseModel):
    status: Literal["healthy"]
    timestamp: datetime
    environment: str
    version: str


class Ready(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]


@router.get("/health", response_model=Health)
async def health(request: Request) -> Response:
    # Liveness is polled often and should cost as little as the framework allows: the
    # runtime comes straight from the app's state, not a dependency, and the body is
    # serialized here once, by pydantic's own encoder (`response_model` documents it;
    # test_health checks the body against it), instead of being built as a model and
    # validated again on the way out.
    settings = request.app.state.runtime.settings
    body = {
        "status": "healthy",
        "timestamp": datetime.now(UTC),
        "environment": settings.api_env.value,
        "version": settings.version,
    }
    return Response(to_json(body), media_type="application/json")


async def _probe(probe: Awaitable[object]) -> str:
    try:
        result = await asyncio.wait_for(probe, READY_TIMEOUT_S)
    except Exception:
        return "unavailable"
    return "unavailable" if result is False else "ok"


@router.get("/ready", response_model=Ready, responses=problems(503))
async def ready(runtime: RuntimeDep) -> Ready:
    probes: dict[str, Awaitable[object]] = {"database": runtime.db.ping()}
    if runtime.settings.redis_url:
        probes["redis"] = runtime.limiter.ping()
    checks = {name: await _probe(probe) for name, probe in probes.items()}
    failing = sorted(name for name, state in checks.items() if state != "ok")
    if failing:
        raise ServiceUnavailable(f"Not ready: {', '.join(failing)} unavailable")
    return Ready(status="ready", checks=checks)
