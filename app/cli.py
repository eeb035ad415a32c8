"""`python -m app serve | migrate | create-platform-operator | tenant | sweep-orphans |
purge-sessions`."""

import argparse
import asyncio
import getpass
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import InvalidConfiguration, Settings, load_settings
from app.db import sqlite
from app.db.migrate import upgrade
from app.db.models import User
from app.db.repositories import Accounts
from app.errors import InvalidInput
from app.runtime import Runtime
from app.schemas import MAX_PASSWORD_LENGTH
from app.services.files import remove_stale_spool_files, sweep_orphans
from app.services.tenants import set_tenant_active
from app.services.tokens import purge_expired_sessions
from app.services.users import ensure_password_allowed

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except InvalidConfiguration as exc:
        sys.exit(f"Invalid configuration: {exc}")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.server import HEADER_TIMEOUT_ENV, BoundedClientProtocol

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
    # The workers read it where uvicorn builds their protocol (app/server.py).
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
        password_hash = await runtime.passwords.hash(password)  # before the transaction
        async with runtime.db.transaction() as session:
            accounts = Accounts(session)
            taken = await accounts.taken([username], [email])
            if taken.usernames or taken.emails:
                raise SystemExit("That username or email is already taken")
            accounts.add(
                User(
                    id=uuid.uuid4(),
                    tenant_id=None,
                    username=username,
                    email=email,
                    full_name="Platform operator",
                    role="operator",
                    password_hash=password_hash,
                )
            )
    except IntegrityError:
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
        remove_stale_spool_files(settings)
        return await sweep_orphans(runtime.db, runtime.storage, settings.orphan_grace_seconds)
    finally:
        await runtime.close()


def _sweep_orphans(_: argparse.Namespace) -> int:
    removed = asyncio.run(_sweep(_settings()))
    print(f"removed {removed} orphaned blobs")
    return 0


async def _with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    runtime = Runtime.build(settings)
    try:
        async with runtime.db.session(write=True) as session:
            return await work(session)
    finally:
        await runtime.close()


def _tenant(args: argparse.Namespace) -> int:
    try:
        tenant_id = uuid.UUID(args.tenant_id)
    except ValueError:
        sys.exit(f"Not a tenant id: {args.tenant_id}")
    active = args.action == "activate"
    found = asyncio.run(
        _with_session(_settings(), lambda s: set_tenant_active(s, tenant_id, active))
    )
    if not found:
        sys.exit(f"No tenant {tenant_id}")
    print(f"tenant {tenant_id} {'activated' if active else 'deactivated; its sessions ended'}")
    return 0


def _purge_sessions(_: argparse.Namespace) -> int:
    settings = _settings()

    async def purge() -> int:
        runtime = Runtime.build(settings)
        try:
            return await purge_expired_sessions(runtime.db)
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
