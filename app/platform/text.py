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

import unicodedata


def unique_key(value: str) -> str:
    """The form in which two names are compared. Case folding can leave a string
    unnormalised (it decomposes some characters), hence NFKC on both sides of it."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())


def _escape(code_point: int) -> str:
    # Escapes that Python's `re` and pydantic's Rust regex read alike.
    return f"\\u{code_point:04x}" if code_point <= 0xFFFF else f"\\U{code_point:08x}"


# The planes where Unicode assigns characters other than private use: multilingual
# (0, 1), ideographic (2, 3), special-purpose (14). Planes 4 to 13 are unassigned and
# 15 and 16 private use (Co); a test checks that in the running Python's data. The
# walk runs at every process start, so it skips the twelve planes that cannot matter.
ASSIGNED_PLANES = (0, 1, 2, 3, 14)


def code_points(categories: frozenset[str]) -> list[int]:
    """Every code point of these categories in the running Python's Unicode data;
    categories of assigned characters (not Cn or Co, which the skipped planes hold)."""
    found: list[int] = []
    for plane in ASSIGNED_PLANES:
        first = plane << 16
        of = map(unicodedata.category, map(chr, range(first, first + 0x10000)))
        found += [first + offset for offset, c in enumerate(of) if c in categories]
    return found


# Characters Unicode marks Default_Ignorable_Code_Point that are not format characters:
# they render as nothing (a combining grapheme joiner, Hangul fillers, Khmer inherent
# vowels, Mongolian and other variation selectors), so `Acme` and `Acme` followed by
# one of them would look like one name. (Unicode's DerivedCoreProperties.txt; Python's
# unicodedata does not carry the property.)
DEFAULT_IGNORABLE_NOT_CF = (
    *(0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x3164, 0xFFA0),
    *range(0xFE00, 0xFE10),
    *range(0xE0100, 0xE01F0),
)


def _class_body(members: list[int]) -> str:
    """A regex character-class body (no brackets) of these code points, in ranges."""
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


# What no display name may hold, as escapes to put inside a character class
# (`[^...{FORMAT_CHARACTERS}]`): format characters (Cf), line and paragraph separators
# (Zl, Zp), and the other default-ignorable code points.
FORMAT_CHARACTERS = _class_body(
    sorted({*code_points(frozenset({"Cf", "Zl", "Zp"})), *DEFAULT_IGNORABLE_NOT_CF})
)
