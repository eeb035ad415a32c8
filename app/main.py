"""The app factory. `uvicorn app.main:app` serves the embedded default (SQLite)."""

import asyncio
import copy
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app.files import routes as files
from app.files.housekeeping import StorageHousekeeping
from app.identity import routes as identity
from app.platform import health
from app.platform.body_limit import BodyLimitMiddleware
from app.platform.config import Settings, load_settings
from app.platform.db.migrate import upgrade
from app.platform.observability import RequestContextMiddleware, configure_logging
from app.platform.problems import install_error_handlers
from app.platform.runtime import Runtime
from app.tenants import routes as tenants
from app.users import routes as users

logger = logging.getLogger("app")
# Health is never limited; the auth routes limit by address or by the credential they
# prove; every /api/v1 route declares `require(action)`, which limits per user.
ROUTERS = (health.router, identity.router, users.router, files.router, tenants.router)
# How long shutdown waits for the start-up cleanup before cancelling it.
HOUSEKEEPING_GRACE_S = 2.0

DESCRIPTION = """Multi-tenant SaaS API: tenants, users with roles, files, JWT sessions.

Authenticate with **Authorize** (OAuth2 password flow on `/auth/login`). Every error
is an RFC 9457 problem document."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app keeps its settings in `app.state.settings`. Only `version` is read while
    building it; the lifespan and the OpenAPI document read the rest when they run, so
    settings given before start-up are the ones the app runs with."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings: Settings = app.state.settings
        configure_logging(settings.log_level)
        if settings.auto_migrate:
            await asyncio.to_thread(upgrade, settings.effective_database_url)
        runtime = Runtime.build(settings)
        app.state.runtime = runtime
        cleanup = None
        if settings.startup_housekeeping:
            cleanup = asyncio.create_task(_housekeeping(runtime))
        logger.info("started", extra={"fields": {"environment": settings.api_env.value}})
        try:
            yield
        finally:
            if cleanup is not None:
                # A start-up cleanup still running gets a moment to end on its own:
                # cancelled while aiosqlite's thread opens a connection for it, that
                # thread would finish the connection for an event loop that is gone,
                # and leak it.
                await asyncio.wait({cleanup}, timeout=HOUSEKEEPING_GRACE_S)
                cleanup.cancel()
                await asyncio.gather(cleanup, return_exceptions=True)
            await runtime.close()

    settings = settings or load_settings()
    app = FastAPI(
        title="Multi-tenant SaaS API",
        version=settings.version,
        description=DESCRIPTION,
        lifespan=lifespan,
        # A path with a trailing slash is a 404, not a redirect built from the Host
        # header the client sent.
        redirect_slashes=False,
    )
    app.state.settings = settings
    _document_settings_limits(app)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    # Both routes read their bodies themselves, within limits of their own.
    exempt = frozenset({files.UPLOAD_PATH, identity.LOGOUT_PATH})
    app.add_middleware(BodyLimitMiddleware, exempt_paths=exempt)
    app.add_middleware(RequestContextMiddleware)
    return app


def _document_settings_limits(app: FastAPI) -> None:
    """Limits that come from settings (MAX_PAGE_SIZE, ALLOWED_FILE_TYPES) are written
    into the OpenAPI document, so that it states exactly what this deployment accepts
    and answers: a download is served with the type it was stored with.

    What FastAPI builds from the routes is built once (it is slow); the limits are written
    into a copy of it, made again when `app.openapi_schema` is cleared for other
    settings (as the tests do, giving one app object each test's settings)."""
    from_routes = functools.cache(app.openapi)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        settings: Settings = app.state.settings
        document = copy.deepcopy(from_routes())
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter.get("name") != "page_size":
                        continue
                    schema = parameter["schema"]
                    for variant in schema.get("anyOf", [schema]):
                        if variant.get("type") == "integer":
                            variant["maximum"] = settings.max_page_size
        download = document.get("paths", {}).get("/api/v1/files/{file_id}", {}).get("get")
        if download:
            download["responses"]["200"]["content"] = {
                media_type: {"schema": {"type": "string", "format": "binary"}}
                for media_type in settings.allowed_file_types
            }
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


async def _housekeeping(runtime: Runtime) -> None:
    """Start-up cleanup, run in the background: a failure is logged, never fatal."""
    storage = StorageHousekeeping(runtime.db, runtime.storage, runtime.settings)
    try:
        storage.remove_stale_spool_files()
        await storage.sweep_orphans()
        await runtime.token_service.purge_expired()
    except Exception:
        logger.exception("start-up housekeeping failed; `python -m app sweep-orphans` retries")


app = create_app()
