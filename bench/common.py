"""What the benchmarks share: a tenant with a token on a live server, and reports."""

import uuid

import httpx

from harness.live_server import ROOT


def authenticated_header(base_url: str) -> dict[str, str]:
    """Registers a new tenant and returns its admin's Authorization header."""
    suffix = uuid.uuid4().hex[:10]
    username, password = f"bench_{suffix}", f"Bench-{suffix}-pw"
    httpx.post(
        f"{base_url}/auth/register",
        json={
            "tenant_name": f"Bench {suffix}",
            "admin_email": f"{username}@bench.example.org",
            "admin_username": username,
            "admin_password": password,
        },
    ).raise_for_status()
    login = httpx.post(f"{base_url}/auth/login", json={"username": username, "password": password})
    return {"Authorization": f"Bearer {login.raise_for_status().json()['access_token']}"}


def write_report(name: str, title: str, body: str) -> None:
    report = ROOT / "reports" / name
    report.parent.mkdir(exist_ok=True)
    report.write_text(f"# {title}\n\n{body}\n")
