"""Unicode rules for names: when two names are the same, and which characters no
name may hold.

Tenant names, usernames and emails are unique by `unique_key`: NFKC normalisation
and case folding, so that `Ärzte` and `ärzte`, a precomposed and a decomposed `Ä`,
`ΣΊΣΥΦΟΣ` and `σίσυφος`, and fullwidth and ASCII letters all name one thing. The
database holds each key in a column of its own under a unique index; every lookup
compares keys. Display values are stored as given.

Format characters (Unicode category Cf: bidi overrides, zero-width spaces and
joiners, the byte order mark) change how a name looks without being seen, so display
names refuse them (`FORMAT_CHARACTERS`, for the schemas' patterns).
"""

import sys
import unicodedata


def unique_key(value: str) -> str:
    """The form in which two names are compared. Case folding can leave a string
    unnormalised (it decomposes some characters), hence NFKC on both sides of it."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())


def _escape(code_point: int) -> str:
    # Escapes that Python's `re` and pydantic's Rust regex read alike.
    return f"\\u{code_point:04x}" if code_point <= 0xFFFF else f"\\U{code_point:08x}"


def _class_body(category: str) -> str:
    """A regex character-class body (no brackets) of every code point of `category`,
    in ranges, from the Unicode database of the running Python (one pass over every
    code point: about 0.1 s, once per process)."""
    categories = map(unicodedata.category, map(chr, range(sys.maxunicode + 1)))
    members = [code_point for code_point, found in enumerate(categories) if found == category]
    ranges: list[list[int]] = []
    for code_point in members:
        if ranges and ranges[-1][1] == code_point - 1:
            ranges[-1][1] = code_point
        else:
            ranges.append([code_point, code_point])
    return "".join(
        _escape(start) if start == end else f"{_escape(start)}-{_escape(end)}"
        for start, end in ranges
    )


# Cf, as escapes to put inside a character class: `[^...{FORMAT_CHARACTERS}]`.
FORMAT_CHARACTERS = _class_body("Cf")
