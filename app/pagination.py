"""Page parameters and the page object, shared by every listing."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from app.schemas import Page

T = TypeVar("T")
# Past any real table, and still inside the 64-bit OFFSET every database accepts.
MAX_OFFSET = 2**62


@dataclass(frozen=True, slots=True)
class PageParams:
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return min((self.page - 1) * self.page_size, MAX_OFFSET)

    def of(self, items: Sequence[T], total: int) -> Page[T]:
        return Page[T](
            data=list(items),
            page=self.page,
            page_size=self.page_size,
            total_count=total,
            has_next=self.page * self.page_size < total,
            has_prev=self.page > 1,
        )
