"""The customer representation rendered straight from a row is what the rules say a stored
customer means: `effective_customer(state_from_record(row))`, field for field and in order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.customers.representation import render_address, render_customer, state_from_record
from shared.customers.rules import (
    ADDRESS_FIELDS,
    COLUMN_FIELDS,
    default_address,
    effective_customer,
)
from shared.timefmt import iso_ms

_RENDERED_FIELDS = (
    "dob", "customer_state", "active", "verified_email", "taxExempt", "taxExemptions", "location",
    "vipStatus", "loyaltyTier", "spendToNextTier", "joinedStoreId", "memberSince",
    "accepts_marketing", "marketing_optin_level", "marketing_preferences_updated_at",
)  # fmt: skip


def _by_the_rules(record: dict[str, Any]) -> dict[str, Any]:
    """The representation as the rules define it, through the intermediate states."""
    customer = effective_customer(state_from_record(record))
    customer_id = str(record["id"])
    addresses = [render_address(a, customer_id) for a in customer["addresses"]]
    body: dict[str, Any] = {"id": customer_id}
    for field in (*COLUMN_FIELDS, *_RENDERED_FIELDS):
        body[field] = customer.get(field)
    body |= {
        "optin_preferences": customer["optin_preferences"],
        "attributeGroups": customer["attributeGroups"],
        "addresses": addresses,
        "defaultAddress": default_address(addresses),
        "deleted": bool(record["deleted"]),
        "createdDate": iso_ms(record["created_at"]),
        "lastModifiedDate": iso_ms(record["last_modified_at"]),
    }
    return body


_text = st.one_of(st.none(), st.text(max_size=5))
_address = st.dictionaries(
    st.sampled_from([f for f in ADDRESS_FIELDS if f != "customerId"]),
    st.one_of(_text, st.booleans()),
)
_optin = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["email", "sms"]),
        st.one_of(st.none(), st.fixed_dictionaries({"opt_in_active": st.booleans()})),
    ),
)
_profile = st.fixed_dictionaries(
    {},
    optional={
        "customer_state": st.one_of(st.none(), st.sampled_from(["enabled", "disabled"])),
        "active": st.one_of(st.none(), st.booleans()),
        "taxExemptions": st.one_of(st.none(), st.lists(st.text(max_size=3), max_size=2)),
        "loyaltyTier": _text,
        "dob": _text,
        "attributeGroups": st.one_of(st.none(), st.dictionaries(st.text(max_size=3), st.just({}))),
        "optin_preferences": _optin,
        "addresses": st.one_of(st.none(), st.lists(_address, max_size=3)),
        "email": _text,  # a column's field in the profile: the column wins unless it is null
        "unknownKey": _text,
    },
)
_moment = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
)


@given(
    profile=_profile,
    columns=st.fixed_dictionaries({column: _text for column in COLUMN_FIELDS.values()}),
    deleted=st.booleans(),
    created=_moment,
    modified=_moment,
)
def test_rendered_straight_from_the_row_as_the_rules_define_it(
    profile: dict[str, Any],
    columns: dict[str, Any],
    deleted: bool,
    created: datetime,
    modified: datetime,
) -> None:
    record = {"id": uuid.uuid4(), "profile": profile, "deleted": deleted,
              "created_at": created, "last_modified_at": modified, **columns}  # fmt: skip
    rendered = render_customer(record)
    expected = _by_the_rules(record)
    assert list(rendered)[: len(expected)] == list(expected)
    assert {k: rendered[k] for k in expected} == expected


@given(_moment, st.integers(min_value=-12, max_value=12))
def test_timestamps_are_utc_milliseconds_with_a_z(moment: datetime, offset_hours: int) -> None:
    zone = timezone(timedelta(hours=offset_hours))
    reference = moment.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"
    assert iso_ms(moment) == reference
    assert iso_ms(moment.astimezone(zone)) == reference
    assert iso_ms(None) is None
