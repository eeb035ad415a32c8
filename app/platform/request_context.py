"""What a request's answer and its access-log line carry beyond what the route returns:
the rate-limit headers of the decision taken for it, and who the caller turned out to be.

The request middleware (app/platform/observability.py) opens one `RequestContext` per
request. The dependency that takes the rate-limit decision and the one that
authenticates the caller record what they learned here; the middleware reads it when
the answer starts and when it writes the log line. A context variable carries it, so
these facts flow one way, from the dependencies to the middleware, and no module
writes another's request state.
"""

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(slots=True)
class RequestContext:
    rate_limit_headers: Mapping[str, str] = field(default_factory=dict)
    tenant_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None


_current: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


@contextmanager
def request_context() -> Iterator[RequestContext]:
    context = RequestContext()
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def record_caller(tenant_id: uuid.UUID | None, user_id: uuid.UUID) -> None:
    """The authenticated caller, for the access log."""
    if (context := _current.get()) is not None:
        context.tenant_id, context.user_id = tenant_id, user_id


def record_rate_limit(headers: Mapping[str, str]) -> None:
    """The rate-limit headers every answer to this request carries, whatever its status."""
    if (context := _current.get()) is not None:
        context.rate_limit_headers = headers
