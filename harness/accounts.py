"""A fresh tenant on a live server, for tests and benchmarks that call it over HTTP."""

import uuid

import httpx


def new_tenant_admin(base_url: str) -> dict[str, str]:
    """Registers a tenant with a unique name and returns its admin's auth header."""
    username, password = new_tenant_credentials(base_url)
    login = httpx.post(f"{base_url}/auth/login", json={"username": username, "password": password})
    if login.status_code != 200:
        raise AssertionError(f"login answered {login.status_code}: {login.text}")
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def new_tenant_credentials(base_url: str) -> tuple[str, str]:
    """Registers a tenant with a unique name; its admin's username and password."""
    suffix = uuid.uuid4().hex[:10]
    username, password = f"live_{suffix}", f"Live-{suffix}-pw"
    registered = httpx.post(
        f"{base_url}/auth/register",
        json={
            "tenant_name": f"Live {suffix}",
            "admin_email": f"{username}@live.example.org",
            "admin_username": username,
            "admin_password": password,
        },
    )
    if registered.status_code != 201:
        raise AssertionError(f"register answered {registered.status_code}: {registered.text}")
    return username, password
