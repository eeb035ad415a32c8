"""Mass assignment (OWASP API3): fields a client may not set never take effect, in any
create, update, bulk or register body: unknown ones answer 422, known ones the caller's
role may not set answer 403, and nothing is changed either way."""

from typing import Any

import pytest

from py_tests.fixtures.clients import ApiClient, Member, Tenant
from py_tests.support.assertions import assert_invalid, assert_problem
from py_tests.support.factories import RegistrationFactory, UserPayloadFactory
from py_tests.support.routes import BULK, REGISTER, USERS

pytestmark = [pytest.mark.security, pytest.mark.rbac]
SERVER_OWNED = {
    "id": "00000000-0000-4000-8000-000000000000",
    "tenant_id": "00000000-0000-4000-8000-000000000001",
    "password_hash": "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA",
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
    "is_platform_operator": True,
}


@pytest.mark.parametrize(("field", "value"), list(SERVER_OWNED.items()), ids=list(SERVER_OWNED))
def test_register_body_cannot_carry_server_owned_fields(
    anonymous: ApiClient, field: str, value: Any
) -> None:
    response = anonymous.post(REGISTER, json={**RegistrationFactory.build(), field: value})
    assert_invalid(response, field)


@pytest.mark.parametrize("field", ["role", "is_active"])
def test_register_cannot_choose_role_or_state(anonymous: ApiClient, field: str) -> None:
    response = anonymous.post(REGISTER, json={**RegistrationFactory.build(), field: "user"})
    assert_invalid(response, field)


def test_register_cannot_join_an_existing_tenant(anonymous: ApiClient, tenant_a: Tenant) -> None:
    response = anonymous.post(
        REGISTER, json=RegistrationFactory.build(tenant_name=tenant_a.name.upper())
    )
    assert_problem(response, 409)
    assert tenant_a.admin.api.get(USERS).json()["total_count"] == 1


@pytest.mark.parametrize(("field", "value"), list(SERVER_OWNED.items()), ids=list(SERVER_OWNED))
@pytest.mark.parametrize("endpoint", ["single", "bulk"])
def test_user_create_bodies_cannot_carry_server_owned_fields(
    tenant_a_admin: ApiClient, endpoint: str, field: str, value: Any
) -> None:
    payload = {**UserPayloadFactory.build(), field: value}
    if endpoint == "single":
        response = tenant_a_admin.post(USERS, json=payload)
    else:
        response = tenant_a_admin.post(BULK, json=[payload])
    assert_invalid(response, field)
    assert tenant_a_admin.get(USERS).json()["total_count"] == 1


@pytest.mark.parametrize("field", [*SERVER_OWNED, "username"])
def test_update_body_cannot_carry_server_owned_fields(
    tenant_a_admin: ApiClient, tenant_a_member: Member, field: str
) -> None:
    value = SERVER_OWNED.get(field, "renamed_user")
    response = tenant_a_admin.put(f"{USERS}/{tenant_a_member.id}", json={field: value})
    assert_invalid(response, field)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"role": "admin"}, id="raise-own-role"),
        pytest.param({"is_active": False}, id="own-active-flag"),
        pytest.param({"full_name": "Fine", "role": "admin"}, id="role-hidden-in-allowed-change"),
    ],
)
def test_member_cannot_set_role_or_state_even_on_itself(
    tenant_a_admin: ApiClient, tenant_a_member: Member, change: dict[str, Any]
) -> None:
    before = tenant_a_admin.get(f"{USERS}/{tenant_a_member.id}").json()
    response = tenant_a_member.api.put(f"{USERS}/{tenant_a_member.id}", json=change)
    assert_problem(response, 403)
    assert tenant_a_admin.get(f"{USERS}/{tenant_a_member.id}").json() == before
