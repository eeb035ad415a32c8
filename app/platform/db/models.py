"""Every table of the service, for Alembic and for code that needs the whole schema.
Each domain defines its own tables; uniqueness lives in the database, not only in
Python."""

from app.files.models import StoredFile
from app.identity.models import AuthSession
from app.platform.db.base import Base
from app.tenants.models import Tenant
from app.users.models import User

__all__ = ["AuthSession", "Base", "StoredFile", "Tenant", "User"]
