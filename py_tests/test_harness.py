"""The in-process harness must behave like the ASGI servers the API runs under, or a
concurrency test could fail (or pass) for the harness's sake rather than the app's."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from py_tests.fixtures.app import asgi_client, state_per_request

pytestmark = pytest.mark.concurrency


@pytest.mark.asyncio
async def test_concurrent_requests_get_their_own_copy_of_the_lifespan_state() -> None:
    both_wrote = asyncio.Barrier(2)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {"started": True}

    async def echo(request: Request) -> JSONResponse:
        request.state.caller = request.query_params["caller"]
        await both_wrote.wait()  # the other request writes its own value meanwhile
        return JSONResponse({"caller": request.state.caller, "started": request.state.started})

    app = Starlette(routes=[Route("/echo", echo)], lifespan=lifespan)
    manager = LifespanManager(state_per_request(app))
    async with manager, asgi_client(manager.app) as http:
        first, second = await asyncio.gather(
            http.get("/echo", params={"caller": "first"}),
            http.get("/echo", params={"caller": "second"}),
        )
    assert first.json() == {"caller": "first", "started": True}
    assert second.json() == {"caller": "second", "started": True}
