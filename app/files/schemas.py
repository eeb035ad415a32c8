"""Bodies of the file routes."""

import uuid
from datetime import datetime

from app.platform.schemas import ResponseBody


class FileOut(ResponseBody):
    id: uuid.UUID
    tenant_id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    uploaded_by: uuid.UUID
    uploaded_at: datetime
    sha256: str
