"""One name written in several ways that are the same name to the service (NFKC
normalisation and case folding), each with a unique tail so that tests never collide.
Each entry is a pytest param of a function from the tail to the spellings."""

import unicodedata
from collections.abc import Callable

import pytest

Spellings = Callable[[str], list[str]]


def fullwidth(text: str) -> str:
    """ASCII letters and digits as their fullwidth forms (NFKC maps them back)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


TENANT_NAMES = [
    pytest.param(
        lambda tail: [f"Ärzte Praxis {tail}", f"ärzte praxis {tail}"], id="umlaut-upper-and-lower"
    ),
    pytest.param(
        lambda tail: [nfc(f"Ärzte Praxis {tail}"), nfd(f"Ärzte Praxis {tail}")],
        id="precomposed-and-decomposed",
    ),
    pytest.param(
        lambda tail: [f"ΣΊΣΥΦΟΣ Λtd {tail}", f"σίσυφος λtd {tail}"], id="greek-final-sigma"
    ),
    pytest.param(
        lambda tail: [f"Acme Works {tail}", fullwidth(f"acme works {tail}")],
        id="ascii-and-fullwidth",
    ),
    pytest.param(
        # Case folding keeps the dot of U+0130 as U+0307; a dotless `istanbul` is
        # another name (Unicode's default folding, not Turkish's).
        lambda tail: [
            f"İstanbul Tours {tail}",
            f"İSTANBUL TOURS {tail}",
            f"i\u0307stanbul tours {tail}",
        ],
        id="dotted-capital-i",
    ),
]

EMAILS = [
    pytest.param(
        lambda tail: [f"jane.{tail}@example.org", f"JANE.{tail.upper()}@EXAMPLE.ORG"],
        id="ascii-lower-and-upper",
    ),
    pytest.param(
        lambda tail: [f"ÄRZTE.{tail.upper()}@example.org", f"ärzte.{tail}@example.org"],
        id="umlaut-upper-and-lower",
    ),
    pytest.param(
        lambda tail: [f"jane.{tail}@example.org", f"{fullwidth('jane')}.{tail}@example.org"],
        id="ascii-and-fullwidth-local-part",
    ),
]
