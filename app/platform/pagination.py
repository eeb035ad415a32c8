"""Pages of every listing: the query parameters, the page object, and the statement
that reads a page with its total."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import BigInteger, ColumnElement, Executable, func, select
from sqlalchemy import bindparam as param

from app.platform.db.database import DbSession, ReadRow
from app.platform.errors import InvalidInput

T = TypeVar("T")
# Past any real table, and still inside the 64-bit OFFSET every database accepts.
MAX_OFFSET = 2**62


class Page(BaseModel, Generic[T]):
    data: list[T]
    page: int
    page_size: int
    total_count: int
    has_next: bool
    has_prev: bool


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


async def get_page(
    request: Request,
    page: Annotated[int, Query(ge=1, description="1-based page number")] = 1,
    page_size: Annotated[
        int | None, Query(ge=1, description="Items per page, at most MAX_PAGE_SIZE (100)")
    ] = None,
) -> PageParams:
    """The page a listing asks for; its size defaults to, and is bounded by, settings."""
    settings = request.app.state.settings
    size = settings.default_page_size if page_size is None else page_size
    if size > settings.max_page_size:
        raise InvalidInput(
            [
                {
                    "loc": ["query", "page_size"],
                    "msg": f"Input should be less than or equal to {settings.max_page_size}",
                    "type": "less_than_equal",
                }
            ]
        )
    return PageParams(page=page, page_size=size)


PageDep = Annotated[PageParams, Depends(get_page)]


class PageQuery:
    """A page of the rows that match, and how many match, in one statement: the count
    rides on each row as an uncorrelated scalar subquery, which SQLite and PostgreSQL
    compute once. Only a page past the end, with no row to carry it, costs a second
    query. (A window `count(*) OVER ()` would sort every matching row first.)

    Rows carry `columns` (a read's view, app/platform/db/database.py), plus the total
    as `page_total`."""

    def __init__(
        self,
        table: Any,
        columns: Sequence[Any],
        conditions: Sequence[ColumnElement[bool]],
        order_by: Sequence[Any],
    ) -> None:
        self._total = select(func.count()).select_from(table).where(*conditions)
        carried = self._total.scalar_subquery().correlate(None)  # the table, not the row
        self._page = (
            select(*columns, carried.label("page_total"))
            .where(*conditions)
            .order_by(*order_by)
            .offset(param("offset", type_=BigInteger))
            .limit(param("limit", type_=BigInteger))
        )

    @property
    def statements(self) -> tuple[Executable, Executable]:
        """(the page with its total, the total alone)."""
        return self._page, self._total

    async def run(
        self, session: DbSession, *, offset: int, limit: int, **values: Any
    ) -> tuple[Sequence[ReadRow], int]:
        page = {**values, "offset": offset, "limit": limit}
        rows = (await session.execute(self._page, page)).all()
        if rows:
            return rows, rows[0].page_total
        if offset == 0:
            return [], 0  # not even a first row: nothing matches
        return [], await session.scalar(self._total, values) or 0
