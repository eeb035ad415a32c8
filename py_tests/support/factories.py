"""Request payloads with realistic, unique data (factory_boy + Faker).

Every username, email and tenant name carries a random suffix, so the same test can
run again and again against a shared server without colliding.
"""

import uuid
from typing import Any

import factory
from faker import Faker

fake = Faker()


def unique_suffix() -> str:
    return uuid.uuid4().hex[:10]


def unique_username() -> str:
    stem = "".join(ch for ch in fake.user_name() if ch.isalnum())[:20] or "user"
    return f"{stem}_{unique_suffix()}"


def strong_password() -> str:
    return fake.password(length=16, special_chars=True, digits=True, upper_case=True)


class RegistrationFactory(factory.DictFactory):
    tenant_name = factory.LazyFunction(lambda: f"{fake.company()[:30]} {unique_suffix()}")
    admin_username = factory.LazyFunction(unique_username)
    admin_email = factory.LazyAttribute(lambda o: f"{o.admin_username}@{fake.domain_name()}")
    admin_password = factory.LazyFunction(strong_password)


class UserPayloadFactory(factory.DictFactory):
    username = factory.LazyFunction(unique_username)
    email = factory.LazyAttribute(lambda o: f"{o.username}@{fake.domain_name()}")
    full_name = factory.LazyFunction(fake.name)
    role = "user"


def user_payloads(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [UserPayloadFactory.build(**fields) for _ in range(count)]
