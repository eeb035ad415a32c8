"""The app's routes are copies of the routers' routes (app/api/router.py). A copy that
dropped an option (a status code, a response, a dependency) would change what the API
answers; these tests hold every copy to its original."""

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute

from app.api.router import API_V1, PUBLIC, ROUTE_OPTIONS

pytestmark = pytest.mark.inprocess


def _resolved(value: Any) -> Any:
    """An option left at its default, as the route will use it."""
    return value.value if isinstance(value, DefaultPlaceholder) else value


def _served_copies(
    app: FastAPI, routers: Sequence[APIRouter]
) -> Iterator[tuple[APIRoute, APIRoute]]:
    """Each route the routers declare, with the route the app serves for it."""
    served = {
        (route.path, frozenset(route.methods or ())): route
        for route in app.routes
        if isinstance(route, APIRoute)
    }
    for router in routers:
        for original in router.routes:
            assert isinstance(original, APIRoute)
            yield original, served[(original.path, frozenset(original.methods or ()))]


def test_every_declared_route_is_served_once_with_all_its_options(app: FastAPI) -> None:
    pairs = list(_served_copies(app, (*PUBLIC, *API_V1)))
    assert len(pairs) == len([r for r in app.routes if isinstance(r, APIRoute)])
    assert len({id(copy) for _, copy in pairs}) == len(pairs)
    for original, copy in pairs:
        for option in ROUTE_OPTIONS:
            expected = _resolved(getattr(original, option, None))
            assert _resolved(getattr(copy, option, None)) == expected, option
