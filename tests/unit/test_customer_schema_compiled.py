"""The customer schema's precompiled twin (shared.schemas.compiled), used by bulk imports: over
broad generated corpora it accepts only what the marshmallow schema accepts, loading it to the
very same result, and on ordinary records it decides exactly as the schema does."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields

from impex_worker.imports.checks import check_records, row_error
from impex_worker.imports.formats import Record
from shared.schemas import (
    CUSTOMER_STATES,
    MARKETING_OPTIN_LEVELS,
    MAX_ATTRIBUTE_GROUPS,
    MAX_ATTRIBUTES_PER_GROUP,
    CustomerValidationError,
    load_customer,
)
from shared.schemas import compiled as twin

BROAD = settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ORDINARY = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def schema_result(data: object) -> dict[str, Any] | None:
    try:
        return load_customer(data)
    except CustomerValidationError:
        return None


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types and the same key order all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# ------------------------------------------------------------------------------ strategies

ATEXT = "abcXYZ0189!#$%&'*+/=?^_`{|}~-"
TRICKY = ' ."@<>()[]\\,;:\x00\u00e9\u0131\u00df\uff20\u200b\u0301\ud800\n\t'
_today = datetime.now(UTC) + timedelta(hours=14)

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**20), st.floats(allow_nan=True),
    st.just([]), st.just({}), st.just(("tuple",)), st.binary(max_size=3),
)  # fmt: skip
texts = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=ATEXT + TRICKY, max_size=12),
    st.sampled_from(["", " ", "a\x00b", "\ud800", "x" * 255, "x" * 256, "é" * 255, "é" * 256]),
)
labels = st.one_of(
    st.text(alphabet="abcXYZ019-", min_size=1, max_size=8),
    st.sampled_from(["xn--bcher-kva", "ab--cd", "-a", "a-", "a" * 63, "a" * 64, "é", "1"]),
)
tlds = st.one_of(
    st.sampled_from(["com", "COM", "org", "uk", "test", "local", "localhost", "invalid", "onion",
                     "arpa", "example", "1", "c0m", "x1", "a-b", "xn--p1ai", "é"]),
    labels,
)  # fmt: skip
locals_ = st.one_of(
    st.text(alphabet=ATEXT + ".", min_size=0, max_size=10),
    st.text(alphabet=ATEXT + TRICKY, min_size=1, max_size=6),
    st.sampled_from(['"quoted"', "a" * 64, "a" * 65, "postmaster", "Info", ".a", "a.", "a..b"]),
)
emails = st.one_of(
    st.builds(
        lambda pad, local, domain, tld, end: f"{pad}{local}@{'.'.join([*domain, tld])}{end}",
        st.sampled_from(["", " ", "\t"]), locals_, st.lists(labels, max_size=3), tlds,
        st.sampled_from(["", " ", ".", "\n"]),
    ),
    st.builds(lambda n: "a@" + "b" * n + ".com", st.integers(240, 255)),
    st.builds(lambda n: "a" * n + "@example.com", st.integers(55, 250)),
    texts,
    junk,
)  # fmt: skip


def _dmy(day: int, month: int, year: int, pad: bool) -> str:
    return f"{day:02d}-{month:02d}-{year:04d}" if pad else f"{day}-{month}-{year}"


dates = st.one_of(
    st.builds(_dmy, st.integers(0, 32), st.integers(0, 13), st.integers(0, 2200), st.booleans()),
    st.builds(
        lambda delta, pad: _dmy(*((_today + timedelta(days=delta)).timetuple()[2::-1]), pad),
        st.integers(-2, 2), st.booleans(),
    ),
    st.sampled_from(["1-1-2000 ", "01/01/2000", "29-02-2000", "29-02-1900", "", "5-1-1985",
                     "05-1-1985", "5-01-1985", "005-01-1985", "05-01-01985", "05-01-1985\n"]),
    st.just("\u0661-\u0661-\u0662\u0660\u0660\u0660"),  # Arabic-Indic digits
    texts,
    junk,
)  # fmt: skip
codes = st.one_of(
    st.sampled_from(
        ["GB", "gb", " fr ", "Us", "XX", "UK", "\u0131t", "\u0131T", "G", "GBR", "", "de\n"]
    ),
    texts,
    junk,
)
flags = st.one_of(st.booleans(), st.none(), st.sampled_from(["true", "false", 1, 0, "yes"]), junk)
words = st.one_of(
    st.booleans(), st.none(), st.sampled_from(["true", " FALSE ", "True", "yes", "1", ""]), junk
)
# spendToNextTier is a string: numbers (which it once took and stringified) must be refused.
amounts = st.one_of(
    st.integers(-(10**30), 10**30), st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, places=2, min_value=-1000, max_value=1000),
    st.booleans(), texts, st.none(), st.just([1]), st.sampled_from(["12.5", "0", ""]),
)  # fmt: skip
# customerRef / alternateCustomerRef: at least one character; "" must be refused.
identifiers = st.one_of(st.just(""), st.sampled_from([" ", "X", "x" * 255, "x" * 256]), texts)


def choices(allowed: tuple[str, ...]) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from([*allowed, "Enabled", "other", ""]), texts, junk)


def optional_text() -> st.SearchStrategy[Any]:
    return st.one_of(texts, st.none(), junk)


address = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(optional_text(), st.integers(0, 9)), "address1": optional_text(),
        "city": optional_text(),
        "countryCode": st.one_of(codes, st.none()), "postcode": optional_text(),
        "email": st.one_of(emails, st.none()), "defaultAddress": flags,
        "customerId": junk, "unknownField": junk,
    },
)  # fmt: skip
addresses = st.one_of(
    st.lists(st.one_of(address, junk), max_size=3),
    st.builds(lambda n: [{"city": "x"}] * n, st.sampled_from([50, 51])),
    st.none(),
    junk,
)
attribute_groups = st.one_of(
    st.dictionaries(
        st.one_of(st.sampled_from(["", "g", "x" * 256]), texts),
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {},
                optional={
                    "attributes": st.one_of(
                        st.dictionaries(st.one_of(texts, st.just("x" * 256)), texts, max_size=3),
                        st.none(),
                        junk,
                    ),
                    "description": optional_text(),
                    "other": junk,
                },
            ),
            junk,
        ),
        max_size=3,
    ),
    # Around the caps: 50 groups or 100 attributes are fine, one more is not.
    st.builds(
        lambda n: {f"g{i}": {"attributes": {}} for i in range(n)},
        st.sampled_from([MAX_ATTRIBUTE_GROUPS, MAX_ATTRIBUTE_GROUPS + 1]),
    ),
    st.builds(
        lambda n: {"g": {"attributes": {f"a{i}": "v" for i in range(n)}}},
        st.sampled_from([MAX_ATTRIBUTES_PER_GROUP, MAX_ATTRIBUTES_PER_GROUP + 1]),
    ),
    st.none(),
    junk,
)
optins = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "email": st.one_of(st.fixed_dictionaries({}, optional={"opt_in_active": flags}), junk),
            "sms": st.one_of(st.fixed_dictionaries({}, optional={"opt_in_active": flags}), junk),
            "push": junk,
        },
    ),
    st.none(),
    junk,
)
# Ordinary records, as files hold them: ASCII text, addresses of the usual shape, real dates.
plain_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC 0123456789-'.", max_size=20)
plain_emails = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join([*labels, tld])}",
    st.from_regex(r"[a-z0-9_+]{1,10}(\.[a-z0-9_+-]{1,8}){0,2}", fullmatch=True),
    st.lists(
        st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True), min_size=1, max_size=3
    ).filter(lambda labels: all("--" not in label for label in labels)),
    st.sampled_from(["com", "org", "co", "uk", "io", "test", "local", "c0m"]),
)
plain_dates = st.builds(
    _dmy, st.integers(1, 31), st.integers(1, 12), st.integers(1900, 2100), st.booleans()
)
plain_address = st.fixed_dictionaries(
    {},
    optional={
        "address1": plain_text, "city": plain_text, "postcode": plain_text,
        "countryCode": st.sampled_from(["GB", "fr", "US", "XX", "de "]),
        "defaultAddress": st.booleans(), "email": plain_emails,
    },
)  # fmt: skip
# Broad records: each field ordinary or odd, the email ordinary half of the time, so that a record
# is often valid but for one field (the twin must then refuse, and load the others right).
customers = st.fixed_dictionaries(
    {"email": st.one_of(plain_emails, emails)},
    optional={
        "customerRef": st.one_of(plain_text, identifiers, optional_text()),
        "alternateCustomerRef": st.one_of(identifiers, optional_text()),
        "firstName": st.one_of(plain_text, optional_text()), "lastName": optional_text(),
        "mobile": optional_text(),
        "dob": st.one_of(plain_dates, dates, st.none()),
        "memberSince": st.one_of(plain_dates, dates, st.none()),
        "customer_state": st.one_of(choices(CUSTOMER_STATES), st.none()),
        "marketing_optin_level": st.one_of(choices(MARKETING_OPTIN_LEVELS), st.none()),
        "active": flags, "verified_email": flags, "taxExempt": flags, "accepts_marketing": flags,
        "vipStatus": words, "spendToNextTier": amounts,
        "taxExemptions": st.one_of(
            st.lists(plain_text, max_size=2), st.lists(st.one_of(texts, junk), max_size=3),
            st.none(), junk,
        ),
        "loyaltyTier": optional_text(), "location": optional_text(),
        "addresses": st.one_of(st.lists(plain_address, max_size=2), addresses),
        "attributeGroups": attribute_groups, "optin_preferences": optins,
        "id": junk, "createdDate": junk, "defaultAddress": junk, "somethingElse": junk,
    },
)  # fmt: skip

ordinary = st.fixed_dictionaries(
    {"email": st.one_of(plain_emails, plain_emails.map(lambda e: e.replace("@", "-at-")))},
    optional={
        "customerRef": st.one_of(plain_text, st.just("")),
        "alternateCustomerRef": st.one_of(plain_text, st.just("")), "firstName": plain_text,
        "lastName": plain_text, "mobile": plain_text, "dob": plain_dates,
        "memberSince": plain_dates, "loyaltyTier": plain_text, "accepts_marketing": st.booleans(),
        "vipStatus": st.sampled_from([True, False, "false", "TRUE", "maybe"]),
        "spendToNextTier": st.one_of(st.integers(0, 10**6), st.floats(0, 10**6), plain_text),
        "taxExemptions": st.lists(plain_text, max_size=3),
        "customer_state": st.sampled_from([*CUSTOMER_STATES, "gone"]),
        "addresses": st.lists(plain_address, max_size=2),
        "attributeGroups": st.one_of(
            st.dictionaries(
                plain_text,
                st.fixed_dictionaries({"attributes": st.dictionaries(plain_text, plain_text)}),
                max_size=2,
            ),
            st.builds(
                lambda n: {f"g{i}": {"attributes": {f"a{a}": "v" for a in range(n)}}
                           for i in range(n // 2)},
                st.sampled_from([MAX_ATTRIBUTES_PER_GROUP, MAX_ATTRIBUTES_PER_GROUP + 1, 102]),
            ),
        ),
        "optin_preferences": st.fixed_dictionaries(
            {}, optional={"email": st.fixed_dictionaries({"opt_in_active": st.booleans()})}
        ),
    },
)  # fmt: skip


# ------------------------------------------------------------------------------- properties


@BROAD
@given(customers)
@example({"email": "a@example.com", "addresses": [{"countryCode": "\u0131t"}]})
@example({"email": "Ada.Lovelace+x@Sub.Example.COM ", "dob": "1-2-1990"})
@example({"email": "a@b.test"})
@example({"email": "a@xn--bcher-kva.example"})
@example({"email": "é@example.com"})
@example({"email": "a@example.com", "spendToNextTier": math.nan})
@example({"email": "a@example.com", "spendToNextTier": Decimal("12.50")})
@example({"email": "a@ab--cd.com"})
@example({"email": "a@xn--zz.com"})
@example({"email": "a@example.com", "firstName": "a\x00b"})
@example({"email": "a@example.com", "lastName": "\ud800"})
@example({"email": "a@example.com", "addresses": [{"city": "x"}] * 51})
@example({"email": "a@example.com", "addresses": [{"countryCode": "XX"}]})
@example({"email": "a@example.com", "customer_state": "gone"})
@example({"email": "a@example.com", "dob": "31-02-1990"})
@example({"email": "a@example.com", "dob": "5-1-1985"})
@example({"email": "a@example.com", "memberSince": "05-01-1985"})
@example({"email": "a@example.com", "customerRef": ""})
@example({"email": "a@example.com", "alternateCustomerRef": ""})
@example({"email": "a@example.com", "vipStatus": "true"})
@example({"email": "a@example.com", "spendToNextTier": 12.5})
@example({"email": "a@example.com", "addresses": [{"id": 5}]})
@example({"email": ""})
@example({"firstName": "no email"})
@example({"email": "a@example.com", "attributeGroups": {f"g{i}": {} for i in range(51)}})
@example(
    {
        "email": "a@example.com",
        "attributeGroups": {"g": {"attributes": {str(i): "v" for i in range(101)}}},
    }
)
def test_whatever_the_twin_accepts_the_schema_loads_identically(data: dict[str, Any]) -> None:
    loaded = twin.load_plain_customer(data)
    if loaded is not None:
        expected = schema_result(data)
        assert expected is not None, data
        assert same(loaded, expected), (loaded, expected)


@ORDINARY
@given(ordinary)
def test_on_ordinary_records_the_twin_decides_exactly_as_the_schema(data: dict[str, Any]) -> None:
    loaded, expected = twin.load_plain_customer(data), schema_result(data)
    assert (loaded is None) == (expected is None), (data, loaded, expected)
    if loaded is not None:
        assert same(loaded, expected)


@BROAD
@given(st.lists(st.one_of(customers, ordinary, junk), min_size=1, max_size=4))
def test_checking_records_gives_the_schemas_results_and_errors(items: list[Any]) -> None:
    """What the importer uses: the twin first, the schema for the rest."""
    records = [Record(row, data) for row, data in enumerate(items, start=1)]
    checked = check_records(records)
    expected_valid, expected_errors = [], []
    for record in records:
        try:
            expected_valid.append((record.row, load_customer(record.data)))
        except CustomerValidationError as exc:
            expected_errors.append(row_error(record.row, record.data, exc.errors))
    assert [(v.row, v.changes) for v in checked.valid] == expected_valid
    assert all(same(v.changes, e) for v, (_, e) in zip(checked.valid, expected_valid, strict=True))
    assert checked.errors == expected_errors


@BROAD
@given(emails.filter(lambda e: isinstance(e, str)))
@example("a@b.co")
@example("a" * 64 + "@example.com")
@example("x@" + ".".join(["a" * 63] * 3) + ".com")
def test_plain_emails_are_ones_email_validator_accepts(email: str) -> None:
    if twin.plain_email(email):
        validate_email(email, check_deliverability=False)


@ORDINARY
@given(plain_emails)
def test_ordinary_emails_are_decided_without_email_validator(email: str) -> None:
    try:
        validate_email(email, check_deliverability=False)
        accepted = True
    except EmailNotValidError:
        accepted = False
    assert twin.plain_email(email) == accepted, email


def test_the_twin_is_compiled_for_the_customer_schema() -> None:
    """Not silently refusing everything (which would be correct, but slow)."""
    record = {
        "email": " ada@example.com", "dob": "01-02-1990", "addresses": [{"countryCode": "gb"}],
        "attributeGroups": {"g": {"attributes": {"a": "b"}}}, "vipStatus": True,
        "spendToNextTier": "10", "optin_preferences": {"sms": {"opt_in_active": False}},
        "customer_state": "enabled", "taxExemptions": ["VAT"], "customerRef": "C",
        "ignored": object(),
    }  # fmt: skip
    assert twin.load_plain_customer(record) == load_customer(record)
    assert twin.load_plain_customer(record)["dob"] == "01-02-1990"
    assert twin.load_plain_customer({"email": "nope"}) is None


@pytest.mark.parametrize(
    "field",
    [
        {"customerRef": ""},
        {"alternateCustomerRef": ""},
        {"vipStatus": "true"},
        {"vipStatus": "false"},
        {"spendToNextTier": 12.5},
        {"spendToNextTier": 150},
        {"dob": "5-1-1985"},
        {"memberSince": "05-1-1985"},
        {"addresses": [{"id": 5}]},
        {"email": ""},
    ],
)
def test_the_twin_refuses_what_the_schema_refuses(field: dict[str, Any]) -> None:
    """The rules tightened in the schema hold on the import fast path too: the twin leaves
    these records to the schema, which refuses them."""
    record = {"email": "a@example.com", **field}
    assert twin.load_plain_customer(record) is None
    assert schema_result(record) is None


def test_a_field_the_twin_does_not_know_makes_it_unsupported() -> None:
    class Odd(Schema):
        when = fields.DateTime()

    with pytest.raises(twin.Unsupported):
        twin.compile_schema(Odd())


def test_the_latest_date_is_today_in_utc_plus_14_and_follows_the_clock() -> None:
    latest = twin._LatestDate()
    assert latest() == (datetime.now(UTC) + timedelta(hours=14)).date()
    latest._date, latest._until = date(2000, 1, 1), 0.0  # as if computed long ago
    assert latest() == (datetime.now(UTC) + timedelta(hours=14)).date()
    midnight = datetime.combine(latest(), datetime.min.time(), UTC) - timedelta(hours=14)
    assert latest._until == (midnight + timedelta(days=1)).timestamp()
