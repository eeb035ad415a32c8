"""`python -m app serve | migrate | create-platform-operator | sweep-orphans`."""

import argparse
import asyncio
import getpass
import sys
import uuid

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from app.config import Settings
from app.db.migrate import upgrade
from app.db.models import User
from app.db.repositories import Accounts
from app.errors import InvalidInput
from app.runtime import Runtime
from app.schemas import MAX_PASSWORD_LENGTH
from app.services.files import remove_stale_spool_files, sweep_orphans
from app.services.users import ensure_password_allowed


def _settings() -> Settings:
    try:
        return Settings()
    except (ValidationError, ValueError) as exc:
        sys.exit(f"Invalid configuration: {exc}")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    _settings()  # refuse to start on a weak configuration, with a readable message
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        proxy_headers=False,
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
        async with runtime.db.session(write=True) as session:
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
                    password_hash=await runtime.passwords.hash(password),
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                raise SystemExit("That username or email is already taken") from None
    finally:
        await runtime.close()


def _create_platform_operator(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat: "):
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

    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result
