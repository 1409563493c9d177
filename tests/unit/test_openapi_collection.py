"""The OpenAPI document describes the collection operations (API.md §7 to §9) as served."""

from __future__ import annotations

import pytest

from tests.support.openapi_build import build_document

V2 = "/services/customerservice/api/v2"


@pytest.fixture(scope="module")
def paths() -> dict:
    return build_document()["paths"]


def test_listing_documents_paging_sorting_and_every_filter(paths):
    operation = paths[f"{V2}/customers"]["get"]
    names = {p.get("name") for p in operation["parameters"]}
    assert {"page", "pageNumber", "pageSize", "sortBy", "sortDirection"} <= names
    assert {"customerExternalId", "createdSince", "modifiedSince", "email", "phone"} <= names
    sort_by = next(p for p in operation["parameters"] if p.get("name") == "sortBy")
    assert "lastModifiedDate" in sort_by["schema"]["enum"]
    assert "CustomerPage" in str(operation["responses"]["200"])


def test_search_is_a_read_and_batch_answers_200_or_207(paths):
    search = paths[f"{V2}/customers/search"]["post"]
    assert "`customers:read`" in search["description"]
    assert "CustomerSearchRequest" in str(search["requestBody"])
    batch = paths[f"{V2}/customers/batch"]["post"]
    assert "`customers:write`" in batch["description"]
    assert batch["responses"]["200"] == batch["responses"]["207"]
    assert "CustomerBatchResult" in str(batch["responses"]["207"])


def test_export_count_and_address_operations_are_described(paths):
    assert "CustomerExport" in str(paths[f"{V2}/customers/{{id}}/export"]["get"]["responses"])
    assert "CustomerCount" in str(paths[f"{V2}/customers/count"]["get"]["responses"])
    addresses = paths[f"{V2}/customers/{{id}}/address"]["get"]["responses"]["200"]
    assert addresses["content"]["application/json"]["schema"]["type"] == "array"
    change = paths[f"{V2}/customers/{{id}}/address/{{address_id}}"]["put"]
    assert "AddressRequest" in str(change["requestBody"])
