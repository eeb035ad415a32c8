"""The app serves exactly the routes its routers declare (app/main.py's `ROUTERS`,
included with `include_router`): each once, under the path it was declared with, so
that what a route declares (status codes, responses, its `require` dependency) is what
the API answers."""

from collections import Counter

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from app.main import ROUTERS

pytestmark = pytest.mark.inprocess


def test_every_declared_route_is_served_once_with_all_its_options(app: FastAPI) -> None:
    declared = [route for router in ROUTERS for route in router.routes]
    assert all(isinstance(route, APIRoute) for route in declared)
    served = [
        context
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    ]
    served_ids = Counter(id(context.original_route) for context in served)
    assert sorted(served_ids.values()) == [1] * len(declared)
    assert set(served_ids) == {id(route) for route in declared}
    for context in served:
        original = context.original_route
        assert isinstance(original, APIRoute)
        assert context.path == original.path
