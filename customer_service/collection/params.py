"""What the collection endpoints accept: paging, sorting, exact filters and the search body.

Pure rules (no SQL, no aiohttp); each parser raises the 400 a client should see, naming the
parameter or field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from customer_service.imports.inputs import paging
from shared.customers.collection import (
    DEFAULT_SORT,
    FILTER_NAMES,
    MAX_QUERY_LENGTH,
    SORT_COLUMNS,
)
from shared.errors import InvalidInput

NOT_NULL_COLUMNS = frozenset({"created_at", "last_modified_at"})

MIN_CONTAINS_LENGTH = 3
# search_text separates its values with U+001F (0009): a query holding it could match across
# two values, so it is refused.
SEPARATOR = "\x1f"


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return self.number * self.size


@dataclass(frozen=True, slots=True)
class Sort:
    field: str  # the API name
    descending: bool

    @property
    def column(self) -> str:
        return SORT_COLUMNS[self.field]

    @property
    def nullable(self) -> bool:
        return self.column not in NOT_NULL_COLUMNS


@dataclass(frozen=True, slots=True)
class Condition:
    """One exact criterion: `template` with `{p}` for its parameter, and the value."""

    template: str
    value: Any


# Exact filters of GET /customers and /customers/count: query parameter → condition. Every
# condition compares a plain column with a parameter (leakproof), so row-level security lets it
# use its index; email through email_lower as in 0004.
_FILTERS = {
    "customerRef": "customer_ref = {p}",
    "alternateCustomerRef": "alternate_customer_ref = {p}",
    "email": "email_lower = lower({p})",
    "firstName": "first_name = {p}",
    "lastName": "last_name = {p}",
    "mobile": "mobile = {p}",
    "phone": "phone = {p}",
}
# The modified time's index is customer.modified_order's (0021), a table of the live customers:
# the repository reads that table for this condition (collection.repository), as `m`.
MODIFIED_SINCE = "m.modified_at >= {p}"
_SINCE = {"createdSince": "created_at >= {p}", "modifiedSince": MODIFIED_SINCE}
_ALIASES = {"customerExternalId": "customerRef"}


def page_of(query: Mapping[str, str]) -> Page:
    """`page` (or the POS name `pageNumber`; both and different → 400) and `pageSize`."""
    number = query.get("pageNumber")
    if number is not None:
        page = query.get("page")
        if page is not None and page != number:
            raise InvalidInput(
                "Give page or pageNumber, not two different values.",
                errors={"pageNumber": ["Differs from page."]},
            )
        query = {**query, "page": number}
    page_number, size = paging(query)
    return Page(page_number, size)


def sort_of(query: Mapping[str, str]) -> Sort:
    """`sortBy` (default createdDate) and `sortDirection` (ASC default, DESC; any case)."""
    field = query.get("sortBy") or DEFAULT_SORT
    if field not in SORT_COLUMNS:
        raise InvalidInput(
            "sortBy is not one of the sortable fields.",
            errors={"sortBy": [f"Must be one of {', '.join(SORT_COLUMNS)}."]},
        )
    direction = (query.get("sortDirection") or "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise InvalidInput(
            "sortDirection must be ASC or DESC.", errors={"sortDirection": ["Must be ASC or DESC."]}
        )
    return Sort(field, direction == "DESC")


def filters_of(query: Mapping[str, str]) -> list[Condition]:
    """The exact filters given (empty values are not given), ANDed."""
    errors: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    for name in FILTER_NAMES:
        raw = query.get(name)
        if not raw:
            continue
        target = _ALIASES.get(name, name)
        if target in values and values[target] != raw:
            errors[name] = [f"Differs from {target}."]
            continue
        values[target] = raw
    conditions = [Condition(_FILTERS[k], value) for k, value in values.items() if k in _FILTERS]
    for name, template in _SINCE.items():
        if name in values:
            instant = parse_instant(values[name])
            if instant is None:
                errors[name] = ["Not an ISO 8601 instant (e.g. 2024-05-19T03:48:22.075Z)."]
            else:
                conditions.append(Condition(template, instant))
    if errors:
        raise InvalidInput("The filters are not valid.", errors=errors)
    return conditions


# A "+hh:mm" offset sent unencoded in a query string arrives as " hh:mm".
_SPACED_OFFSET = re.compile(r" (\d{2}(:?\d{2})?)$")


def parse_instant(raw: str) -> datetime | None:
    """An ISO 8601 date or date-time; without an offset it is UTC. None when unparseable."""
    text = _SPACED_OFFSET.sub(r"+\1", raw.strip())
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """The body of POST /customers/search, validated."""

    pattern: str | None  # a LIKE pattern over search_text, or None for no "query"
    conditions: list[Condition]
    # The same exact criteria by name (None: not given), as customer.search_page takes them.
    email: str | None = None
    mobile: str | None = None
    store: str | None = None
    since: datetime | None = None


def search_of(body: object) -> SearchQuery:
    """Validate the search body; every field optional, unknown fields ignored, vatNumber → 400."""
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise InvalidInput("Expected a JSON object.", errors={"_body": ["Expected an object."]})
    errors: dict[str, list[str]] = {}
    if body.get("vatNumber") is not None:
        errors["vatNumber"] = ["Searching by vatNumber is not supported."]
    exact = body.get("exactMatch", False)
    if exact is None:
        exact = False
    if not isinstance(exact, bool):
        errors["exactMatch"] = ["Not a valid boolean."]
    texts: dict[str, str] = {}
    for name in ("query", "email", "mobile", "storeUid", "createdSince"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            errors[name] = ["Not a valid string."]
        elif not value.strip() or len(value) > MAX_QUERY_LENGTH:
            errors[name] = [f"Must be 1 to {MAX_QUERY_LENGTH} characters."]
        else:
            texts[name] = value
    pattern = None
    if "query" in texts:
        pattern, problem = _pattern(texts["query"], exact=exact is True)
        if problem:
            errors["query"] = [problem]
    conditions = []
    criteria: dict[str, Any] = {}
    if "email" in texts:
        criteria["email"] = texts["email"].strip()
        conditions.append(Condition("email_lower = lower({p})", criteria["email"]))
    if "mobile" in texts:
        criteria["mobile"] = texts["mobile"]
        conditions.append(Condition("mobile = {p}", texts["mobile"]))
    if "storeUid" in texts:
        criteria["store"] = texts["storeUid"]
        conditions.append(Condition("(joined_store_id = {p} OR location = {p})", texts["storeUid"]))
    if "createdSince" in texts:
        instant = parse_instant(texts["createdSince"])
        if instant is None:
            errors["createdSince"] = ["Not an ISO 8601 instant (e.g. 2024-05-19T03:48:22.075Z)."]
        else:
            criteria["since"] = instant
            conditions.append(Condition("created_at >= {p}", instant))
    if errors:
        raise InvalidInput("The search is not valid.", errors=errors)
    return SearchQuery(pattern, conditions, **criteria)


def _pattern(query: str, *, exact: bool) -> tuple[str, str | None]:
    """The LIKE pattern over search_text for `query`, or a reason it is refused."""
    trimmed = query.strip()
    text = trimmed.lower()
    if SEPARATOR in text:
        return "", "Must not contain control character U+001F."
    # Counted before lower(), which can lengthen a string ("İ" → "i̇").
    if not exact and len(trimmed) < MIN_CONTAINS_LENGTH:
        return "", f"Must be at least {MIN_CONTAINS_LENGTH} characters (or use exactMatch)."
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if exact:
        return f"%{SEPARATOR}{escaped}{SEPARATOR}%", None
    return f"%{escaped}%", None
