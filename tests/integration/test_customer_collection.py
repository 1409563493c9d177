"""GET /customers, /customers/count and POST /customers/search against real PostgreSQL
(API.md §7): paging, sorting with nulls last, exact filters, query search, 400s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from customer_service.collection import repository as collection_repository


async def _people(calls, specs):
    created = []
    for spec in specs:
        created.append(await calls.create(**spec))
    return created


PEOPLE = [
    {"email": "ann.archer@example.com", "firstName": "Ann", "lastName": "Archer",
     "customerRef": "R-3", "mobile": "+447700900001"},
    {"email": "Bob.Baker@Example.com", "firstName": "Bob", "lastName": "Baker",
     "customerRef": "R-1", "joinedStoreId": "store-9"},
    {"email": "cy@example.com", "firstName": "Cy", "customerRef": "R-2", "location": "store-9",
     "addresses": [{"city": "Manchester", "postcode": "M1 1AE", "company": "Acme Widgets"}]},
    {"email": "dee@example.org", "lastName": "Dunn"},
]  # fmt: skip


async def test_list_pages_in_created_order_with_exact_total(calls):
    created = await _people(calls, PEOPLE)
    status, body = await calls.call("GET", "/customers?pageSize=3")
    assert status == 200
    assert (body["page"], body["pageSize"], body["total"]) == (0, 3, 4)
    assert [c["id"] for c in body["results"]] == [c["id"] for c in created[:3]]
    assert body["results"][0] == created[0]  # full customers
    status, body = await calls.call("GET", "/customers?pageNumber=1&pageSize=3")
    assert [c["id"] for c in body["results"]] == [created[3]["id"]]
    status, body = await calls.call("GET", "/customers?page=5")
    assert (status, body["results"], body["total"]) == (200, [], 4)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("sortBy=lastName", ["Archer", "Baker", "Dunn", None]),
        ("sortBy=lastName&sortDirection=desc", ["Dunn", "Baker", "Archer", None]),
        ("sortBy=firstName&sortDirection=DESC", ["Cy", "Bob", "Ann", None]),
        ("sortBy=customerRef&sortDirection=Asc", ["R-1", "R-2", "R-3", None]),
        ("sortBy=customerRef&sortDirection=DESC", ["R-3", "R-2", "R-1", None]),
    ],
)
async def test_sorts_keep_nulls_last_in_both_directions(calls, sort, expected):
    await _people(calls, PEOPLE)
    field = sort.split("&")[0].removeprefix("sortBy=")
    status, body = await calls.call("GET", f"/customers?{sort}")
    assert status == 200
    assert [c[field] for c in body["results"]] == expected


async def test_a_desc_page_straddling_the_nulls_continues_into_them(calls):
    await _people(calls, [{"email": f"n{i}@x.com", "lastName": f"L{i}"} for i in range(3)])
    nameless = await _people(calls, [{"email": f"m{i}@x.com"} for i in range(3)])
    status, body = await calls.call(
        "GET", "/customers?sortBy=lastName&sortDirection=DESC&pageSize=2&page=1"
    )
    assert status == 200
    assert [c["lastName"] for c in body["results"]] == ["L0", None]
    # Ties (all null) break on id, descending in a DESC sort.
    ids = sorted((c["id"] for c in nameless), reverse=True)
    assert body["results"][1]["id"] == ids[0]
    _, body = await calls.call(
        "GET", "/customers?sortBy=lastName&sortDirection=DESC&pageSize=2&page=2"
    )
    assert [c["id"] for c in body["results"]] == ids[1:]
    assert body["total"] == 6


async def test_email_sort_ignores_case(calls):
    await _people(calls, PEOPLE)
    _, body = await calls.call("GET", "/customers?sortBy=email")
    assert [c["email"] for c in body["results"]] == [
        "ann.archer@example.com", "Bob.Baker@Example.com", "cy@example.com", "dee@example.org",
    ]  # fmt: skip


async def test_modified_since_with_last_modified_sort_is_an_incremental_sync(calls, clock):
    first, _second = await _people(calls, PEOPLE[:2])
    since = clock.advance(milliseconds=10)
    clock.advance(milliseconds=10)
    status, changed = await calls.call("PUT", f"/customers/id={first['id']}", {"lastName": "Z"})
    assert status == 200
    query = f"modifiedSince={since.isoformat()}&sortBy=lastModifiedDate"
    status, body = await calls.call("GET", f"/customers?{query}")
    assert status == 200
    assert [c["id"] for c in body["results"]] == [first["id"]]
    # Inclusive: the exact lastModifiedDate selects the customer; "+" sent unencoded is a space.
    stamp = changed["lastModifiedDate"].replace("Z", "+00:00")
    status, body = await calls.call("GET", f"/customers/count?modifiedSince={stamp}")
    assert body == {"count": 1}


async def test_exact_filters_and_count(calls):
    await _people(calls, PEOPLE)
    for query, count in [
        ("", 4),
        ("email=BOB.baker@example.COM", 1),
        ("customerRef=R-2", 1),
        ("customerExternalId=R-2", 1),
        ("firstName=Ann&lastName=Archer", 1),
        ("firstName=Ann&lastName=Baker", 0),
        ("mobile=%2B447700900001", 1),
        ("lastName=archer", 0),  # exact
        (f"createdSince={(datetime.now(UTC) - timedelta(hours=1)).isoformat()}", 4),
        (f"createdSince={(datetime.now(UTC) + timedelta(hours=1)).isoformat()}", 0),
    ]:
        status, body = await calls.call("GET", f"/customers/count?{query}".replace("+", "%2B"))
        assert (status, body) == (200, {"count": count}), query
        status, body = await calls.call("GET", f"/customers?{query}".replace("+", "%2B"))
        assert (status, body["total"], len(body["results"])) == (200, count, count), query


async def test_deleted_customers_never_count(calls):
    created = await _people(calls, PEOPLE)
    status, _ = await calls.call("DELETE", f"/customers/{created[0]['id']}")
    assert status == 204
    assert (await calls.call("GET", "/customers/count"))[1] == {"count": 3}
    status, body = await calls.call("GET", "/customers")
    assert created[0]["id"] not in [c["id"] for c in body["results"]]


async def test_other_tenants_are_invisible(calls, customer_client, mint):
    await _people(calls, PEOPLE[:1])
    other = mint.headers("t_other_collection")
    response = await customer_client.get("/api/v2/customers/count", headers=other)
    assert (await response.json())["count"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("sortBy=dob", "sortBy"),
        ("sortDirection=up", "sortDirection"),
        ("pageSize=501", "pageSize"),
        ("pageSize=0", "pageSize"),
        ("page=-1", "page"),
        ("page=x", "page"),
        ("page=1&pageNumber=2", "pageNumber"),
        ("createdSince=yesterday", "createdSince"),
        ("modifiedSince=2024-13-01", "modifiedSince"),
        ("customerRef=a&customerExternalId=b", "customerExternalId"),
    ],
)
async def test_bad_parameters_are_400_naming_them(calls, query, field):
    for path in ("/customers", "/customers/count"):
        if path.endswith("count") and field.startswith(("sort", "page")):
            continue
        status, body = await calls.call("GET", f"{path}?{query}")
        assert status == 400, (path, body)
        assert field in body["errors"], body


async def test_page_and_page_number_may_agree(calls):
    await _people(calls, PEOPLE[:1])
    status, body = await calls.call("GET", "/customers?page=0&pageNumber=0")
    assert (status, body["total"]) == (200, 1)


# --- POST /customers/search ------------------------------------------------------------------


async def _search(calls, body, query=""):
    status, page = await calls.call("POST", f"/customers/search{query}", body)
    assert status == 200, page
    return page


def _emails(page):
    return sorted(c["email"] for c in page["results"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("arch", ["ann.archer@example.com"]),  # last name (and email)
        ("BOB", ["Bob.Baker@Example.com"]),  # first name, any case
        ("example.org", ["dee@example.org"]),  # email
        ("7700900", ["ann.archer@example.com"]),  # mobile
        ("chester", ["cy@example.com"]),  # address city
        ("m1 1", ["cy@example.com"]),  # address postcode
        ("widget", ["cy@example.com"]),  # address company
        ("  dunn ", ["dee@example.org"]),  # trimmed
        ("nobody-has-this", []),
    ],
)
async def test_query_matches_a_substring_of_any_searched_field(calls, query, expected):
    await _people(calls, PEOPLE)
    assert _emails(await _search(calls, {"query": query})) == expected


async def test_exact_match_equals_a_whole_field(calls):
    await _people(calls, PEOPLE)
    assert _emails(await _search(calls, {"query": "cy", "exactMatch": True})) == ["cy@example.com"]
    assert _emails(await _search(calls, {"query": "archer", "exactMatch": True})) == [
        "ann.archer@example.com"
    ]
    assert _emails(await _search(calls, {"query": "arch", "exactMatch": True})) == []
    assert _emails(await _search(calls, {"query": "MANCHESTER", "exactMatch": True})) == [
        "cy@example.com"
    ]


async def test_like_wildcards_in_a_query_are_literal(calls):
    await _people(calls, [*PEOPLE, {"email": "under_score@example.com"}])
    assert _emails(await _search(calls, {"query": "r_s"})) == ["under_score@example.com"]
    assert _emails(await _search(calls, {"query": "%%%"})) == []


async def test_criteria_are_anded(calls):
    await _people(calls, PEOPLE)
    assert _emails(await _search(calls, {"query": "example.com", "storeUid": "store-9"})) == [
        "Bob.Baker@Example.com",
        "cy@example.com",
    ]
    assert _emails(await _search(calls, {"storeUid": "store-9", "email": "CY@example.com"})) == [
        "cy@example.com"
    ]
    assert _emails(await _search(calls, {"mobile": "+447700900001"})) == ["ann.archer@example.com"]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert _emails(await _search(calls, {"query": "example", "createdSince": future})) == []


async def test_an_empty_body_lists_everyone_paged_and_sorted(calls):
    await _people(calls, PEOPLE)
    page = await _search(calls, {}, "?sortBy=firstName&sortDirection=DESC&pageSize=2")
    assert [c["firstName"] for c in page["results"]] == ["Cy", "Bob"]
    assert (page["total"], page["pageSize"]) == (4, 2)
    page = await _search(calls, {"query": "example"}, "?sortBy=lastName&sortDirection=DESC")
    assert [c["lastName"] for c in page["results"]] == ["Dunn", "Baker", "Archer", None]
    page = await _search(calls, {"query": "example"}, "?pageSize=1&page=9")
    assert (page["results"], page["total"]) == ([], 4)


@pytest.mark.parametrize(
    "sort",
    ["", "sortBy=lastName&sortDirection=DESC", "sortBy=customerRef&sortDirection=desc",
     "sortBy=firstName", "sortBy=email&sortDirection=DESC", "sortBy=lastModifiedDate"],
)  # fmt: skip
async def test_a_search_matching_more_than_the_total_cap_pages_the_same(calls, monkeypatch, sort):
    """Over SEARCH_TOTAL_CAP matches the page is found by walking the sort order (nulls last
    in both directions, ties on id): the same pages as reading every match; `total` is the cap."""
    await _people(calls, [*PEOPLE, {"email": "eve@example.com", "lastName": "Baker"}])

    async def pages(size):
        return [
            await _search(calls, {"query": "example"}, f"?{sort}&pageSize={size}&page={n}")
            for n in range(6 // size + 1)
        ]

    every = await pages(2)
    assert [page["total"] for page in every] == [5, 5, 5, 5]
    monkeypatch.setattr(collection_repository, "SEARCH_TOTAL_CAP", 2)
    for size in (1, 2, 3):
        capped = await pages(size)
        assert [page["total"] for page in capped] == [2] * len(capped)
        ids = [c["id"] for page in capped for c in page["results"]]
        assert ids == [c["id"] for page in every for c in page["results"]]


async def test_the_walk_finds_a_customer_whose_searched_text_is_long(calls, monkeypatch):
    """Past the cap, createdDate pages walk the index's short copy of the searched text; a
    customer whose text is too long for it is tested against the full text instead."""
    # Three ~230-character companies: ~700 characters, no copy in the index.
    companies = ["Widget " * 32, "Gadget " * 32, "Gizmo " * 36 + "Holdings"]
    long_one = await calls.create(
        email="long@example.com", addresses=[{"company": c} for c in companies]
    )
    short_one = await calls.create(email="short@example.com", addresses=[{"company": "Holdings"}])
    await calls.create(email="other@example.com")
    monkeypatch.setattr(collection_repository, "SEARCH_TOTAL_CAP", 1)
    for direction, expected in (("ASC", [long_one, short_one]), ("DESC", [short_one, long_one])):
        page = await _search(calls, {"query": "holdings"}, f"?sortDirection={direction}")
        assert [c["id"] for c in page["results"]] == [c["id"] for c in expected]
        assert page["total"] == 1  # the cap
    page = await _search(calls, {"query": "widget"})
    assert [c["id"] for c in page["results"]] == [long_one["id"]]


async def test_a_query_search_sees_no_deleted_or_foreign_customers(calls, customer_client, mint):
    created = await _people(calls, PEOPLE)
    await calls.call("DELETE", f"/customers/{created[0]['id']}")
    assert _emails(await _search(calls, {"query": "archer"})) == []
    response = await customer_client.post(
        "/api/v2/customers/search", json={"query": "example"}, headers=mint.headers("t_other_q")
    )
    assert (await response.json())["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": "ab"}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "x" * 256}, "query"),
        ({"query": 5}, "query"),
        ({"query": "a\u001fb c"}, "query"),
        ({"exactMatch": "yes"}, "exactMatch"),
        ({"vatNumber": "GB123"}, "vatNumber"),
        ({"createdSince": "soon"}, "createdSince"),
        ({"email": 1}, "email"),
        ([], "_body"),
    ],
)
async def test_bad_search_bodies_are_400_naming_the_field(calls, body, field):
    status, problem = await calls.call("POST", "/customers/search", body)
    assert status == 400, problem
    assert field in problem["errors"]


async def test_a_two_character_query_is_fine_with_exact_match(calls):
    await _people(calls, PEOPLE)
    assert _emails(await _search(calls, {"query": "Cy", "exactMatch": True})) == ["cy@example.com"]


async def test_get_search_is_unchanged(calls):
    await _people(calls, PEOPLE)
    status, body = await calls.call("GET", "/customers/search?lastName=Baker")
    assert status == 200 and isinstance(body, list) and len(body) == 1
    status, body = await calls.call("GET", "/customers/search")
    assert status == 400


async def test_search_without_a_body_lists_everyone(calls, customer_client, mint, unique_tenant):
    await _people(calls, PEOPLE[:2])
    response = await customer_client.post(
        "/api/v2/customers/search", headers=mint.headers(unique_tenant)
    )
    assert response.status == 200
    assert (await response.json())["total"] == 2
