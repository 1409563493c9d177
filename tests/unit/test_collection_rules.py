"""Pure rules of the customer collection (API.md §7, §8): paging, sorting, filters, the search
body and its LIKE pattern, batch sections, the address rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from customer_service.address_rules import with_address_id, with_address_ids
from customer_service.batch.items import delete_identifier, sections_of, upsert_identifier
from customer_service.collection.params import (
    Page,
    Sort,
    filters_of,
    page_of,
    parse_instant,
    search_of,
    sort_of,
)
from shared.customers.collection import FILTER_NAMES
from shared.errors import InvalidInput


def _errors(call, *args):
    with pytest.raises(InvalidInput) as caught:
        call(*args)
    return caught.value.errors


def test_page_defaults_and_pos_alias():
    assert page_of({}) == Page(0, 20)
    assert page_of({"pageNumber": "3", "pageSize": "50"}) == Page(3, 50)
    assert page_of({"page": "2", "pageNumber": "2"}).offset == 40
    assert "pageNumber" in _errors(page_of, {"page": "1", "pageNumber": "2"})
    assert "pageSize" in _errors(page_of, {"pageSize": "501"})


def test_sort_defaults_and_any_case_direction():
    assert sort_of({}) == Sort("createdDate", False)
    assert sort_of({"sortBy": "lastName", "sortDirection": "desc"}) == Sort("lastName", True)
    assert sort_of({"sortBy": "email"}).column == "email_lower"
    assert not Sort("createdDate", True).nullable and Sort("firstName", True).nullable
    assert "sortBy" in _errors(sort_of, {"sortBy": "createdAt"})
    assert "sortDirection" in _errors(sort_of, {"sortDirection": "sideways"})


def test_filters_are_exact_conditions_on_plain_columns():
    conditions = filters_of({"customerExternalId": "R1", "email": "A@B.c", "unknown": "x"})
    assert sorted((c.template, c.value) for c in conditions) == [
        ("customer_ref = {p}", "R1"),
        ("email_lower = lower({p})", "A@B.c"),
    ]
    assert filters_of({"firstName": ""}) == []  # empty is not given
    assert filters_of({"customerRef": "R1", "customerExternalId": "R1"})[0].value == "R1"
    assert "customerExternalId" in _errors(
        filters_of, {"customerRef": "R1", "customerExternalId": "R2"}
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-05-19T03:48:22.075Z", datetime(2024, 5, 19, 3, 48, 22, 75000, tzinfo=UTC)),
        ("2024-05-19T05:48:22+02:00", datetime(2024, 5, 19, 3, 48, 22, tzinfo=UTC)),
        ("2024-05-19T05:48:22 02:00", datetime(2024, 5, 19, 3, 48, 22, tzinfo=UTC)),  # unencoded +
        ("2024-05-19", datetime(2024, 5, 19, tzinfo=UTC)),
        ("2024-05-19T03:48:22", datetime(2024, 5, 19, 3, 48, 22, tzinfo=UTC)),
    ],
)
def test_instants_parse_to_aware_times(raw, expected):
    assert parse_instant(raw) == expected


@pytest.mark.parametrize("raw", ["yesterday", "2024-02-30", "", "19-05-2024"])
def test_unparseable_instants_are_none(raw):
    assert parse_instant(raw) is None


def test_since_filters_are_inclusive_lower_bounds():
    (condition,) = filters_of({"modifiedSince": "2024-01-01T00:00:00-05:00"})
    assert condition.template == "m.modified_at >= {p}"  # customer.modified_order's (0021)
    assert condition.value == datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-5)))


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ({"query": " Smi "}, "%smi%"),
        ({"query": "O'Brien", "exactMatch": True}, "%\x1fo'brien\x1f%"),
        ({"query": "a_b%c\\d"}, "%a\\_b\\%c\\\\d%"),
        ({"query": "Jo", "exactMatch": True}, "%\x1fjo\x1f%"),
        ({}, None),
        (None, None),
    ],
)
def test_query_becomes_an_escaped_like_pattern(body, pattern):
    assert search_of(body).pattern == pattern


def test_search_criteria_are_conditions():
    search = search_of({"email": "A@x.com", "mobile": "+44", "storeUid": "S1"})
    assert [c.template for c in search.conditions] == [
        "email_lower = lower({p})",
        "mobile = {p}",
        "(joined_store_id = {p} OR location = {p})",
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": "ab"}, "query"),
        ({"query": ""}, "query"),
        ({"query": "x" * 256}, "query"),
        ({"query": "ab\x1fcd"}, "query"),
        ({"exactMatch": 1}, "exactMatch"),
        ({"vatNumber": "GB1"}, "vatNumber"),
        ({"storeUid": 3}, "storeUid"),
        ({"createdSince": "never"}, "createdSince"),
        ("query", "_body"),
    ],
)
def test_bad_search_bodies_name_the_field(body, field):
    assert field in _errors(search_of, body)


def test_batch_sections_come_in_processing_order():
    sections = sections_of({"delete": [{"id": "x"}], "create": [{}], "other": 1})
    assert list(sections) == ["create", "update", "upsert", "delete"]
    assert sections["update"] == []


@pytest.mark.parametrize(
    "body",
    [{}, {"create": []}, {"create": [{}] * 101}, {"create": [{}] * 50, "upsert": [{}] * 51}, []],
)
def test_batch_size_is_one_to_a_hundred(body):
    assert "_body" in _errors(sections_of, body)


def test_batch_section_must_be_an_array():
    assert _errors(sections_of, {"create": {"email": "a@x.com"}}) == {
        "create": ["Must be an array."]
    }


def test_batch_items_name_their_customer():
    assert upsert_identifier({"customerRef": "R", "email": "e@x"}).kind == "customerRef"
    assert upsert_identifier({"id": "", "email": "e@x"}).kind == "email"
    assert upsert_identifier({"firstName": "x"}) is None
    assert delete_identifier({"customerRef": "R"}).value == "R"
    assert "id" in _errors(delete_identifier, {"email": "e@x"})


def test_address_id_alias():
    assert with_address_id({"addressID": "a1", "city": "X"})["id"] == "a1"
    assert with_address_id({"addressID": "a1", "id": "a2"})["id"] == "a2"
    assert with_address_id("not an address") == "not an address"
    body = with_address_ids({"addresses": [{"addressID": "a1"}, {"city": "Y"}]})
    assert [a.get("id") for a in body["addresses"]] == ["a1", None]


def test_every_documented_filter_name_filters():
    """The gateway documents shared.customers.collection.FILTER_NAMES; each one is a filter the
    service applies (a name without a condition would be documented and ignored)."""
    for name in FILTER_NAMES:
        value = "2024-01-01T00:00:00Z" if name.endswith("Since") else "x"
        assert len(filters_of({name: value})) == 1, name
    assert filters_of({"unknownFilter": "x"}) == []
