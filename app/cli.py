"""`python -m app serve | migrate | create-platform-operator | tenant | sweep-orphans |
purge-sessions`."""

import argparse
import asyncio
import getpass
import os
import sys
import uuid

from sqlalchemy.engine import make_url

from app.files.housekeeping import StorageHousekeeping
from app.identity.passwords import ensure_password_allowed
from app.identity.registration import RegistrationService
from app.platform.config import InvalidConfiguration, Settings, load_settings
from app.platform.db import sqlite
from app.platform.db.migrate import upgrade
from app.platform.errors import Conflict, InvalidInput
from app.platform.runtime import Runtime
from app.platform.schemas import MAX_PASSWORD_LENGTH
from app.tenants.service import TenantService


def _settings() -> Settings:
    try:
        return load_settings()
    except InvalidConfiguration as exc:
        sys.exit(f"Invalid configuration: {exc}")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.platform.server import HEADER_TIMEOUT_ENV, BoundedClientProtocol

    settings = _settings()  # refuse to start on a weak configuration, readably
    if args.workers > 1 and not sqlite.counts_commits(make_url(settings.effective_database_url)):
        # Workers would not see each other's revocations in their memory caches. On an
        # SQLite file they do: every cached state is checked against its change counter.
        os.environ.setdefault("SESSION_CACHE_SECONDS", "0")
    if args.workers > 1 and not settings.redis_url:
        print(
            f"warning: without REDIS_URL each of the {args.workers} workers counts rate limits "
            f"alone, so up to {args.workers} times each limit gets through",
            file=sys.stderr,
        )
    # The workers read it where uvicorn builds their protocol (app/platform/server.py).
    os.environ[HEADER_TIMEOUT_ENV] = str(settings.header_timeout_seconds)
    uvicorn.run(
        "app.main:app",
        http=BoundedClientProtocol,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    return 0


def _migrate(_: argparse.Namespace) -> int:
    settings = _settings()
    upgrade(settings.effective_database_url)
    print("database is at the latest revision")
    return 0


async def _create_operator(settings: Settings, username: str, email: str, password: str) -> None:
    runtime = Runtime.build(settings)
    try:
        await RegistrationService(runtime.db, runtime.passwords).create_operator(
            username, email, password
        )
    except Conflict:
        raise SystemExit("That username or email is already taken") from None
    finally:
        await runtime.close()


def _create_platform_operator(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        try:
            password = getpass.getpass("Password: ")
            repeated = getpass.getpass("Repeat: ")
        except EOFError:
            sys.exit("No password given: type it at the prompt, or use --password-stdin")
        if password != repeated:
            sys.exit("The passwords differ")
    if not 8 <= len(password) <= MAX_PASSWORD_LENGTH:
        sys.exit(f"The password needs 8 to {MAX_PASSWORD_LENGTH} characters")
    try:
        ensure_password_allowed(password, args.username, args.email)
    except InvalidInput as exc:
        sys.exit(exc.detail)
    if settings.auto_migrate:
        upgrade(settings.effective_database_url)
    asyncio.run(_create_operator(settings, args.username, args.email, password))
    print(f"platform operator {args.username} created")
    return 0


async def _sweep(settings: Settings) -> int:
    runtime = Runtime.build(settings)
    try:
        housekeeping = StorageHousekeeping(runtime.db, runtime.storage, settings)
        housekeeping.remove_stale_spool_files()
        return await housekeeping.sweep_orphans()
    finally:
        await runtime.close()


def _sweep_orphans(_: argparse.Namespace) -> int:
    removed = asyncio.run(_sweep(_settings()))
    print(f"removed {removed} orphaned blobs")
    return 0


async def _set_tenant_active(settings: Settings, tenant_id: uuid.UUID, active: bool) -> bool:
    runtime = Runtime.build(settings)
    try:
        return await TenantService(runtime.db).set_active(tenant_id, active)
    finally:
        await runtime.close()


def _tenant(args: argparse.Namespace) -> int:
    try:
        tenant_id = uuid.UUID(args.tenant_id)
    except ValueError:
        sys.exit(f"Not a tenant id: {args.tenant_id}")
    active = args.action == "activate"
    if not asyncio.run(_set_tenant_active(_settings(), tenant_id, active)):
        sys.exit(f"No tenant {tenant_id}")
    print(f"tenant {tenant_id} {'activated' if active else 'deactivated; its sessions ended'}")
    return 0


def _purge_sessions(_: argparse.Namespace) -> int:
    settings = _settings()

    async def purge() -> int:
        runtime = Runtime.build(settings)
        try:
            return await runtime.token_service.purge_expired()
        finally:
            await runtime.close()

    print(f"purged {asyncio.run(purge())} expired sessions")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API under uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="upgrade the database to the latest schema")
    migrate.set_defaults(run=_migrate)

    operator = commands.add_parser(
        "create-platform-operator", help="create a user that sees every tenant"
    )
    operator.add_argument("--username", required=True)
    operator.add_argument("--email", required=True)
    operator.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    operator.set_defaults(run=_create_platform_operator)

    sweep = commands.add_parser(
        "sweep-orphans", help="remove stored blobs that no file row points at"
    )
    sweep.set_defaults(run=_sweep_orphans)

    tenant = commands.add_parser("tenant", help="deactivate or activate a tenant")
    tenant.add_argument("action", choices=["deactivate", "activate"])
    tenant.add_argument("tenant_id")
    tenant.set_defaults(run=_tenant)

    purge = commands.add_parser("purge-sessions", help="delete sessions past their lifetime")
    purge.set_defaults(run=_purge_sessions)

    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result
