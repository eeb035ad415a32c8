"""Tenant registration and the admin views (tenants, stats) with their scoping."""

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Passwords, Principal
from app.db.models import Tenant, User
from app.db.repositories import Accounts, Blobs, Sessions, Tenants
from app.db.session import Database
from app.errors import Conflict, Forbidden
from app.schemas import RegisterRequest, Stats, TenantList, TenantOut
from app.services.users import ensure_password_allowed


async def register_tenant(
    db: Database, passwords: Passwords, body: RegisterRequest
) -> tuple[uuid.UUID, uuid.UUID]:
    """Creates the tenant and its first admin in one transaction: (tenant id, admin id).
    Taken names are answered before the password is hashed, and checked again, with
    the database's unique indexes behind the check, in the short write at the end."""
    ensure_password_allowed(body.admin_password, body.admin_username, str(body.admin_email))
    async with db.session() as session:
        await _raise_if_taken(session, body)
    tenant = Tenant(id=uuid.uuid4(), name=body.tenant_name)
    admin = User(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        username=body.admin_username,
        email=str(body.admin_email),
        full_name="",
        role="admin",
        password_hash=await passwords.hash(body.admin_password),
    )
    try:
        async with db.transaction() as session:
            await _raise_if_taken(session, body)
            Tenants(session).add(tenant)
            await session.flush()  # the tenant row before its admin's foreign key
            Accounts(session).add(admin)
    except IntegrityError as exc:
        raise Conflict("The tenant name, username or email was taken meanwhile") from exc
    return tenant.id, admin.id


async def _raise_if_taken(session: AsyncSession, body: RegisterRequest) -> None:
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


def _visible_tenant(principal: Principal) -> uuid.UUID | None:
    """None means every tenant (platform operator); a tenant admin sees its own."""
    if principal.is_operator:
        return None
    if not principal.is_tenant_admin:
        raise Forbidden("Only administrators may use the admin endpoints")
    return principal.tenant_id


async def list_tenants(db: Database, principal: Principal) -> TenantList:
    scope = _visible_tenant(principal)
    async with db.session() as session:
        tenants = Tenants(session)
        if scope is None:
            rows = list(await tenants.all())
        else:
            own = await tenants.get(scope)
            rows = [own] if own else []
    return TenantList(tenants=[TenantOut.model_validate(t) for t in rows], total=len(rows))


async def stats(db: Database, principal: Principal) -> Stats:
    scope = _visible_tenant(principal)
    async with db.session() as session:
        total_tenants, total_users = await Tenants(session).totals(scope)
        total_files, total_bytes = await Blobs(session).totals(scope)
    return Stats(
        total_tenants=total_tenants,
        total_users=total_users,
        total_files=total_files,
        total_storage_bytes=total_bytes,
    )


async def set_tenant_active(session: AsyncSession, tenant_id: uuid.UUID, active: bool) -> bool:
    """Platform operation (CLI): a deactivated tenant's sessions end at once and its
    members cannot log in until it is activated again. False if there is no such tenant."""
    tenant = await Tenants(session).get(tenant_id)
    if tenant is None:
        return False
    tenant.is_active = active
    if not active:
        await Sessions(session).revoke_all_in_tenant(tenant_id)
    await session.commit()
    return True
