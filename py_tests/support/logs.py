"""What the app logs, collected for a test: the app's loggers do not propagate to
pytest's, so `caplog` does not see them."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class _Collected(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self._records = records

    def emit(self, record: logging.LogRecord) -> None:
        self._records.append(record)


@contextmanager
def logged(name: str) -> Iterator[list[logging.LogRecord]]:
    """The records the logger `name` (and those under it) emits meanwhile."""
    records: list[logging.LogRecord] = []
    handler, logger = _Collected(records), logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
