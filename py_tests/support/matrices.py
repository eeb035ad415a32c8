"""The contract's RBAC matrix, read from contract/facts.json, the file the Rust suite
reads too, so the two suites cannot drift apart."""

import json
from pathlib import Path

FACTS = json.loads((Path(__file__).resolve().parents[2] / "contract" / "facts.json").read_text())

# Expected status for (anonymous, user, admin, other tenant's admin, platform operator).
# The target user and file are tenant A's and someone else's than the member's (a
# colleague, a file the tenant admin uploaded). Tenant B's admin acts in its own tenant
# on the collections and cannot see A's ids; the operator is no tenant's member.
ROLES: tuple[str, ...] = tuple(FACTS["roles"])
MATRIX: dict[tuple[str, str], tuple[int, ...]] = {
    (route["method"], route["path"]): tuple(route["expected"][role] for role in ROLES)
    for route in FACTS["routes"]
}
