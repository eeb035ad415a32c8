"""Which usernames and emails of a create are taken or repeated, named per item, so a
client can fix a bulk request in one go. The database's unique indexes stand behind
this check (app/users/models.py)."""

from collections.abc import Sequence
from typing import Any

from app.platform.errors import Conflict
from app.platform.text import unique_key
from app.users.repository import Accounts, TakenIdentity
from app.users.schemas import UserCreate


async def raise_on_conflicts(accounts: Accounts, items: Sequence[UserCreate]) -> None:
    """A Conflict naming every taken or repeated username and email of `items`."""
    taken = await accounts.taken([i.username for i in items], [str(i.email) for i in items])
    conflicts = _conflicts(items, taken)
    if not conflicts:
        return
    if len(items) == 1:
        named = ", ".join(c["field"] for c in conflicts)
    else:
        named = ", ".join(f"item {c['index']} {c['field']}" for c in conflicts)
    raise Conflict(
        f"Already taken or repeated: {named}; nothing was created",
        extra={"conflicts": conflicts},
    )


def _conflicts(items: Sequence[UserCreate], taken: TakenIdentity) -> list[dict[str, Any]]:
    """Each item's username or email that exists already, or repeats an earlier item's."""
    conflicts: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        for field, value in (("username", item.username), ("email", str(item.email))):
            key = (field, unique_key(value))
            pool = taken.usernames if field == "username" else taken.emails
            if key[1] in pool:
                conflicts.append({"index": index, "field": field, "reason": "exists"})
            elif key in seen:
                conflicts.append(
                    {"index": index, "field": field, "reason": f"duplicate of item {seen[key]}"}
                )
            else:
                seen[key] = index
    return conflicts
