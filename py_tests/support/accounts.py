"""Logging in and registering tenants, for every kind of client the suite has.

`login` sends one login, from any client with a `post` method: an `httpx.Client`
(in-process or live), an `ApiClient`, or an `httpx.AsyncClient`, whose answer is then
awaited. Registration is one flow (register, then log the admin in) that `register`
and `register_async` run over a sync or an async client.
"""

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from py_tests.support.factories import RegistrationFactory
from py_tests.support.routes import LOGIN, REGISTER

Answer = TypeVar("Answer", covariant=True)


class Poster(Protocol[Answer]):
    def post(self, url: str, *, json: Any = ..., headers: dict[str, str] | None = ...) -> Answer:
        """The answer to a POST: a response, or an awaitable of one."""


def login(
    http: Poster[Answer],
    username: str,
    password: str,
    *,
    address: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """Logs in with these credentials; `address` is sent as `X-Forwarded-For` (what a
    trusted proxy says the client's address is)."""
    sent = {**(headers or {}), **({"X-Forwarded-For": address} if address else {})}
    return http.post(LOGIN, json={"username": username, "password": password}, headers=sent)


@dataclass(frozen=True)
class Registration:
    """A tenant just registered, and the tokens of its admin's first login."""

    tenant_id: str
    tenant_name: str
    admin_id: str
    username: str
    email: str
    password: str
    tokens: dict[str, Any]


# One request of a flow: given the client, what it answers (for an async client, an
# awaitable of the answer).
Step = Callable[[Any], Any]


def _registration(fields: dict[str, Any]) -> Generator[Step, httpx.Response, Registration]:
    payload = RegistrationFactory.build(**fields)
    username, password = payload["admin_username"], payload["admin_password"]
    registered = yield lambda http: http.post(REGISTER, json=payload)
    assert registered.status_code == 201, registered.text
    logged_in = yield lambda http: login(http, username, password)
    assert logged_in.status_code == 200, logged_in.text
    body = registered.json()
    return Registration(
        tenant_id=body["tenant_id"],
        tenant_name=payload["tenant_name"],
        admin_id=body["admin_user_id"],
        username=username,
        email=payload["admin_email"],
        password=password,
        tokens=logged_in.json(),
    )


def register(http: Poster[httpx.Response], **fields: Any) -> Registration:
    """Registers a tenant (unique, realistic data; `fields` override) and logs its
    admin in."""
    flow = _registration(fields)
    step = next(flow)
    while True:
        try:
            step = flow.send(step(http))
        except StopIteration as done:
            registration: Registration = done.value
            return registration


async def register_async(http: httpx.AsyncClient, **fields: Any) -> Registration:
    """`register`, over an async client."""
    flow = _registration(fields)
    step = next(flow)
    while True:
        try:
            step = flow.send(await step(http))
        except StopIteration as done:
            registration: Registration = done.value
            return registration
