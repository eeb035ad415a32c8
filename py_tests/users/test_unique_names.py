"""Names are unique by their NFKC case-folded key, as the contract compares them: two
spellings of one tenant name or email clash on registration, user creation and email
update, a username's other spelling logs in, and display names refuse format
characters (Cf). Display values are kept as written."""

import re
import unicodedata
from collections.abc import Callable

import httpx
import hypothesis
import pytest
from hypothesis import strategies as st
from pydantic_core import SchemaValidator, ValidationError, core_schema

from app.platform.schemas import DISPLAY_TEXT
from app.platform.text import ASSIGNED_PLANES, FORMAT_CHARACTERS
from py_tests.fixtures.clients import ApiClient, Member, Tenant
from py_tests.support.accounts import login
from py_tests.support.assertions import assert_invalid, assert_problem
from py_tests.support.factories import RegistrationFactory, UserPayloadFactory, unique_suffix
from py_tests.support.routes import BULK, REGISTER, USERS
from py_tests.support.spellings import EMAILS, TENANT_NAMES, Spellings, fullwidth

pytestmark = pytest.mark.security


# --- spellings of one name clash --------------------------------------------------------


@pytest.mark.auth
@pytest.mark.parametrize("spellings", TENANT_NAMES)
def test_register_clashes_with_another_spelling_of_a_tenant_name(
    anonymous: ApiClient, spellings: Spellings
) -> None:
    first, *others = spellings(unique_suffix())
    registered = anonymous.post(REGISTER, json=RegistrationFactory.build(tenant_name=first))
    assert registered.status_code == 201, registered.text
    for other in others:
        payload = RegistrationFactory.build(tenant_name=other)
        body = assert_problem(anonymous.post(REGISTER, json=payload), 409)
        assert body["fields"] == ["tenant_name"]


@pytest.mark.auth
@pytest.mark.parametrize("spellings", EMAILS)
def test_register_clashes_with_another_spelling_of_an_email(
    anonymous: ApiClient, spellings: Spellings
) -> None:
    first, other = spellings(unique_suffix())
    registered = anonymous.post(REGISTER, json=RegistrationFactory.build(admin_email=first))
    assert registered.status_code == 201, registered.text
    payload = RegistrationFactory.build(admin_email=other)
    body = assert_problem(anonymous.post(REGISTER, json=payload), 409)
    assert body["fields"] == ["admin_email"]


@pytest.mark.users
@pytest.mark.parametrize("spellings", EMAILS)
def test_create_user_clashes_with_another_spelling_of_an_email(
    tenant_a: Tenant, spellings: Spellings
) -> None:
    first, other = spellings(unique_suffix())
    created = tenant_a.admin.api.post(USERS, json=UserPayloadFactory.build(email=first))
    assert created.status_code == 201, created.text
    assert created.json()["email"] == first  # kept as written
    response = tenant_a.admin.api.post(USERS, json=UserPayloadFactory.build(email=other))
    assert assert_problem(response, 409)["conflicts"] == [
        {"index": 0, "field": "email", "reason": "exists"}
    ]


@pytest.mark.users
@pytest.mark.parametrize("spellings", EMAILS)
def test_bulk_create_clashes_with_another_spelling_inside_the_batch(
    tenant_a: Tenant, spellings: Spellings
) -> None:
    items = [UserPayloadFactory.build(email=email) for email in spellings(unique_suffix())]
    response = tenant_a.admin.api.post(BULK, json=items)
    assert assert_problem(response, 409)["conflicts"] == [
        {"index": 1, "field": "email", "reason": "duplicate of item 0"}
    ]


@pytest.mark.users
@pytest.mark.parametrize("spellings", EMAILS)
def test_email_update_clashes_with_another_spelling_of_a_taken_email(
    tenant_a: Tenant, tenant_a_member: Member, spellings: Spellings
) -> None:
    first, other = spellings(unique_suffix())
    tenant_a.make_user(email=first)
    url = f"{USERS}/{tenant_a_member.id}"
    body = assert_problem(tenant_a.admin.api.put(url, json={"email": other}), 409)
    assert body["fields"] == ["email"]
    assert tenant_a.admin.api.get(url).json()["email"] == tenant_a_member.email


@pytest.mark.users
@pytest.mark.parametrize("spellings", EMAILS)
def test_own_email_in_another_spelling_is_stored_as_written(
    tenant_a: Tenant, spellings: Spellings
) -> None:
    """Another spelling of one's own email is no conflict, and no change of address
    (no current_password needed): only how it is written changes (the email validator
    writes every domain in lower case)."""
    first, other = spellings(unique_suffix())
    member = tenant_a.make_user(email=first)
    url = f"{USERS}/{member.id}"
    response = member.api.put(url, json={"email": other})
    assert response.status_code == 200, response.text
    local_part, domain = other.split("@")
    assert response.json()["email"] == f"{local_part}@{domain.lower()}"


# --- login by another spelling ----------------------------------------------------------


@pytest.mark.auth
@pytest.mark.parametrize(
    "spell",
    [
        pytest.param(str.upper, id="upper-case"),
        pytest.param(fullwidth, id="fullwidth"),
    ],
)
def test_login_finds_the_account_by_another_spelling_of_its_username(
    client: httpx.Client, tenant_a_member: Member, spell: Callable[[str], str]
) -> None:
    username = spell(tenant_a_member.username)
    assert username != tenant_a_member.username
    response = login(client, username, tenant_a_member.password)
    assert response.status_code == 200, response.text


# --- format characters ------------------------------------------------------------------

FORMAT_SAMPLES = [
    pytest.param("\u202e", id="right-to-left-override"),
    pytest.param("\u200b", id="zero-width-space"),
    pytest.param("\u2066", id="left-to-right-isolate"),
    pytest.param("\ufeff", id="byte-order-mark"),
]


@pytest.mark.auth
@pytest.mark.parametrize("char", FORMAT_SAMPLES)
def test_register_refuses_format_characters_in_the_tenant_name(
    anonymous: ApiClient, char: str
) -> None:
    payload = RegistrationFactory.build(tenant_name=f"Acme{char} Works {unique_suffix()}")
    assert_invalid(anonymous.post(REGISTER, json=payload), "tenant_name")


@pytest.mark.users
@pytest.mark.parametrize("char", FORMAT_SAMPLES)
def test_create_user_refuses_format_characters_in_the_full_name(
    tenant_a_admin: ApiClient, char: str
) -> None:
    payload = UserPayloadFactory.build(full_name=f"Jane{char} Doe")
    assert_invalid(tenant_a_admin.post(USERS, json=payload), "full_name")


@pytest.mark.users
@pytest.mark.parametrize("char", FORMAT_SAMPLES)
def test_update_refuses_format_characters_in_the_full_name(
    tenant_a_admin: ApiClient, tenant_a_member: Member, char: str
) -> None:
    url = f"{USERS}/{tenant_a_member.id}"
    before = tenant_a_admin.get(url).json()
    assert_invalid(tenant_a_admin.put(url, json={"full_name": f"Jane{char} Doe"}), "full_name")
    assert tenant_a_admin.get(url).json() == before


@pytest.mark.users
@pytest.mark.parametrize("char", FORMAT_SAMPLES)
def test_create_user_refuses_format_characters_in_the_email(
    tenant_a_admin: ApiClient, char: str
) -> None:
    payload = UserPayloadFactory.build(email=f"jane{char}.{unique_suffix()}@example.org")
    assert_invalid(tenant_a_admin.post(USERS, json=payload), "email")


# --- the published pattern ------------------------------------------------------------


RUST_DISPLAY_TEXT = SchemaValidator(
    core_schema.str_schema(pattern=DISPLAY_TEXT, regex_engine="rust-regex")
)


def rust_accepts(text: str) -> bool:
    try:
        RUST_DISPLAY_TEXT.validate_python(text)
    except ValidationError:
        return False
    return True


def test_display_text_pattern_refuses_every_format_character_in_both_engines() -> None:
    """The server validates with pydantic's Rust regex, the OpenAPI document's readers
    (Schemathesis) with Python's `re`: both read the generated class alike."""
    escapes = re.findall(r"\\[uU]([0-9a-f]+)(?:-\\[uU]([0-9a-f]+))?", FORMAT_CHARACTERS)
    assert escapes
    for first, last in escapes:
        for code_point in range(int(first, 16), int(last or first, 16) + 1):
            name = f"Acme{chr(code_point)}Works"
            assert re.fullmatch(DISPLAY_TEXT, name) is None, hex(code_point)
            assert not rust_accepts(name), hex(code_point)
    for invisible in ("\u034f", "\u3164", "\u115f", "\ufe0f", "\u17b4", "\u2028", "\u2029"):
        assert re.fullmatch(DISPLAY_TEXT, f"Acme{invisible}Works") is None, invisible
        assert not rust_accepts(f"Acme{invisible}Works"), invisible
    for name in ("Ärzte Praxis", "ΣΊΣΥΦΟΣ Λtd", "İstanbul 😀 Tours", fullwidth("Acme")):
        assert re.fullmatch(DISPLAY_TEXT, name), name
        assert rust_accepts(name), name


def test_the_planes_left_unwalked_hold_no_assigned_character() -> None:
    """`FORMAT_CHARACTERS` walks only the planes where Unicode assigns characters; in
    this Python's Unicode data every other code point is unassigned or private use."""
    skipped = (p for p in range(17) if p not in ASSIGNED_PLANES)
    categories = {
        unicodedata.category(chr(cp)) for p in skipped for cp in range(p << 16, (p + 1) << 16)
    }
    assert categories <= {"Cn", "Co"}


@hypothesis.given(st.from_regex(DISPLAY_TEXT, fullmatch=True))
@hypothesis.settings(max_examples=200, deadline=None)
def test_what_the_display_text_pattern_generates_the_server_accepts(name: str) -> None:
    assert rust_accepts(name)
    assert not re.search(f"[{FORMAT_CHARACTERS}]", name)


def test_a_refused_display_name_is_explained_without_the_pattern(
    anonymous: ApiClient,
) -> None:
    payload = RegistrationFactory.build(tenant_name="Evil\u202eLtd")
    body = assert_problem(anonymous.post(REGISTER, json=payload), 422)
    assert "not allowed" in body["detail"]
    assert len(body["detail"]) < 300, body["detail"]
    assert "\\u" not in body["detail"]
