"""The two HTTP clients the suite calls the API with, as one type each for the client
and its responses: httpx for a live target, Starlette's TestClient (built on httpx2)
in-process. The `client` fixture is one or the other; helpers take either."""

from typing import TypeAlias

import httpx
import httpx2

HttpClient: TypeAlias = httpx.Client | httpx2.Client
HttpResponse: TypeAlias = httpx.Response | httpx2.Response
