"""The original assessment's two example tests, verbatim."""

import pytest


@pytest.mark.tenant_isolation
def test_cross_tenant_user_access_denied(tenant_a_admin, tenant_b_admin):
    user_b = tenant_b_admin.post("/api/v1/users", json={
        "username": "bob", "email": "bob@tenant-b.com", "full_name": "Bob User"})
    user_b_id = user_b.json()["id"]
    response = tenant_a_admin.get(f"/api/v1/users/{user_b_id}")
    assert response.status_code == 404

def test_rate_limit_enforcement(tenant_a_admin):
    for i in range(11):
        response = tenant_a_admin.get("/api/v1/users")
        if i < 10:
            assert response.status_code == 200
        else:
            assert response.status_code == 429
            assert "X-RateLimit-Reset" in response.headers
