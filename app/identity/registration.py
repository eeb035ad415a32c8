"""Registration of a tenant together with its first administrator."""

import uuid

from sqlalchemy.exc import IntegrityError

from app.identity.passwords import Passwords, ensure_password_allowed
from app.identity.schemas import RegisterRequest
from app.platform.db.database import Database, DbSession
from app.platform.errors import Conflict
from app.tenants.models import Tenant
from app.tenants.repository import Tenants
from app.users.models import User
from app.users.repository import Accounts


class RegistrationService:
    def __init__(self, db: Database, passwords: Passwords) -> None:
        self._db = db
        self._passwords = passwords

    async def register(self, body: RegisterRequest) -> tuple[uuid.UUID, uuid.UUID]:
        """Creates the tenant and its first admin in one transaction: (tenant id, admin
        id). Taken names are answered before the password is hashed, and checked again,
        with the database's unique indexes behind the check, in the short write at the end."""
        ensure_password_allowed(body.admin_password, body.admin_username, str(body.admin_email))
        async with self._db.session() as session:
            await _raise_if_taken(session, body)
        tenant = Tenant(id=uuid.uuid4(), name=body.tenant_name)
        admin = User(
            id=uuid.uuid4(),
            tenant_id=tenant.id,
            username=body.admin_username,
            email=str(body.admin_email),
            full_name="",
            role="admin",
            password_hash=await self._passwords.hash(body.admin_password),
        )
        try:
            async with self._db.transaction() as session:
                await _raise_if_taken(session, body)
                Tenants(session).add(tenant)
                await session.flush()  # the tenant row before its admin's foreign key
                Accounts(session).add(admin)
        except IntegrityError as exc:
            raise Conflict("The tenant name, username or email was taken meanwhile") from exc
        return tenant.id, admin.id

    async def create_operator(self, username: str, email: str, password: str) -> uuid.UUID:
        """A platform operator (no tenant; the admin views of every tenant). The caller
        has checked the password's rules; a taken username or email is a Conflict."""
        password_hash = await self._passwords.hash(password)  # before the transaction
        operator = User(
            id=uuid.uuid4(),
            tenant_id=None,
            username=username,
            email=email,
            full_name="Platform operator",
            role="operator",
            password_hash=password_hash,
        )
        try:
            async with self._db.transaction() as session:
                accounts = Accounts(session)
                taken = await accounts.taken([username], [email])
                if taken.usernames or taken.emails:
                    raise Conflict("That username or email is already taken")
                accounts.add(operator)
        except IntegrityError as exc:
            raise Conflict("That username or email is already taken") from exc
        return operator.id


async def _raise_if_taken(session: DbSession, body: RegisterRequest) -> None:
    taken = []
    if await Tenants(session).name_taken(body.tenant_name):
        taken.append("tenant_name")
    identity = await Accounts(session).taken([body.admin_username], [str(body.admin_email)])
    if identity.usernames:
        taken.append("admin_username")
    if identity.emails:
        taken.append("admin_email")
    if taken:
        raise Conflict(f"Already taken: {', '.join(taken)}", extra={"fields": taken})
