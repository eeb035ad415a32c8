"""The contract's RBAC matrix as data, shared by its test and by the HTML report's grid."""

ROLES = ("anonymous", "user", "admin", "other_admin", "operator")
USERS, USER = "/api/v1/users", "/api/v1/users/{user_id}"
FILES, FILE = "/api/v1/files", "/api/v1/files/{file_id}"
TENANTS, STATS = "/api/v1/admin/tenants", "/api/v1/admin/stats"

# Expected status for (anonymous, user, admin, other tenant's admin, platform operator).
# The target user and file are tenant A's and someone else's than the member's (a
# colleague, a file the tenant admin uploaded). Tenant B's admin acts in its own tenant
# on the collections and cannot see A's ids; the operator is no tenant's member.
MATRIX: dict[tuple[str, str], tuple[int, int, int, int, int]] = {
    ("GET", USERS): (401, 200, 200, 200, 403),
    ("POST", USERS): (401, 403, 201, 201, 403),
    ("POST", f"{USERS}/bulk"): (401, 403, 201, 201, 403),
    ("GET", USER): (401, 200, 200, 404, 403),
    ("PUT", USER): (401, 403, 200, 404, 403),
    ("DELETE", USER): (401, 403, 204, 404, 403),
    ("POST", f"{FILES}/upload"): (401, 201, 201, 201, 403),
    ("GET", FILES): (401, 200, 200, 200, 403),
    ("GET", FILE): (401, 200, 200, 404, 403),
    ("DELETE", FILE): (401, 403, 204, 404, 403),
    ("GET", TENANTS): (401, 403, 200, 200, 200),
    ("GET", STATS): (401, 403, 200, 200, 200),
}
