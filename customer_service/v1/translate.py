"""v1 bodies to v2 changes (plus the v1-only fields), and the v1 representation.

Only v1's own rules live here (integer ids, E.164 phones, tags, the default state); every other
check is the v2 schema's, its error paths renamed back to v1 names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.customers.representation import render_address
from shared.customers.rules import default_address, effective_customer
from shared.customers.v1_fields import HIDDEN_FIELDS, HIDDEN_PARSERS
from shared.schemas.patterns import WHITESPACE_CLASS
from shared.timefmt import iso_ms

# v1 name -> v2 name, for the fields both versions have.
FIELDS = {
    "email": "email",
    "first_name": "firstName",
    "last_name": "lastName",
    "state": "customer_state",
    "verified_email": "verified_email",
    "accepts_marketing": "accepts_marketing",
    "marketing_opt_in_level": "marketing_optin_level",
    "tax_exempt": "taxExempt",
    "tax_exemptions": "taxExemptions",
    "phone": "phone",
    "addresses": "addresses",
}
ADDRESS_FIELDS = {
    "id": "id",
    "address1": "address1",
    "address2": "address2",
    "city": "city",
    "company": "company",
    "country": "country",
    "country_code": "countryCode",
    "province": "province",
    "province_code": "provinceCode",
    "zip": "postcode",
    "phone": "phone",
    "first_name": "firstName",
    "last_name": "lastName",
    "name": "name",
    "default": "defaultAddress",
}
_V1_NAMES = {v2: v1 for v1, v2 in FIELDS.items()} | {"customerRef": "id"}
_V1_ADDRESS_NAMES = {v2: v1 for v1, v2 in ADDRESS_FIELDS.items()}
V1_CREATE_STATE = "disabled"
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_PHONE_SEPARATORS = re.compile(r"[\s\-()]")
# The same rule as one JSON Schema pattern (the OpenAPI document's): separators anywhere.
_SEPARATOR = "[" + WHITESPACE_CLASS + r"\-()]*"
PHONE_PATTERN = rf"^{_SEPARATOR}\+{_SEPARATOR}[1-9](?:{_SEPARATOR}[0-9]){{1,14}}{_SEPARATOR}$"


def v1_ref(value: Any) -> str:
    """A v1 `id` as the customerRef it names: a JSON integer as its decimal string."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("Not an integer or a string.")
    text = str(value).strip()
    if not text or len(text) > 255:
        raise ValueError("Must be 1 to 255 characters.")
    return text


def to_v2(body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[str]]]:
    """(v2 body, v1-only fields, v1 errors) of a v1 body; absent fields stay absent (a merge)."""
    v2: dict[str, Any] = {}
    hidden: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    def checked(name: str, parse: Any) -> None:
        if name not in body:
            return
        try:
            value = body[name]
            result = None if value is None else parse(value)
        except ValueError as exc:
            errors[name] = [str(exc)]
            return
        if name in HIDDEN_FIELDS:
            hidden[name] = result
        else:
            v2[FIELDS.get(name, name)] = result

    for v1_name, v2_name in FIELDS.items():
        if v1_name in body and v1_name not in ("phone", "tax_exemptions", "addresses"):
            v2[v2_name] = body[v1_name]
    if "id" in body and body["id"] is not None:
        try:
            v2["customerRef"] = v1_ref(body["id"])
        except ValueError as exc:
            errors["id"] = [str(exc)]
    checked("phone", _phone)
    checked("tax_exemptions", _exemptions)
    checked("addresses", _addresses)
    for name, parse in HIDDEN_PARSERS.items():
        checked(name, parse)
    return v2, hidden, errors


def v1_errors(errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """v2 error paths (`firstName`, `addresses.0.countryCode`) in v1 names."""
    renamed = {}
    for path, messages in errors.items():
        head, *rest = path.split(".")
        if head == "addresses" and len(rest) == 2:
            rest[1] = _V1_ADDRESS_NAMES.get(rest[1], rest[1])
        renamed[".".join([_V1_NAMES.get(head, head), *rest])] = messages
    return renamed


def render_v1(record: Mapping[str, Any], state: Mapping[str, Any], totals: Any) -> dict[str, Any]:
    """The v1 customer: `state` is the stored state (hidden fields included), `totals` the
    customer's order totals row or None."""
    customer = effective_customer(state)
    customer_id = str(record["id"])
    v2_addresses = [render_address(a, customer_id) for a in customer["addresses"]]
    default = default_address(v2_addresses)
    tags = customer.get("tags") or []
    return {
        "id": customer.get("customerRef"),
        "twc_customer_id": customer_id,
        "email": customer.get("email"),
        "first_name": customer.get("firstName"),
        "last_name": customer.get("lastName"),
        "phone": customer.get("phone"),
        "state": customer.get("customer_state"),
        "verified_email": customer.get("verified_email"),
        "accepts_marketing": customer.get("accepts_marketing"),
        "accepts_marketing_updated_at": customer.get("marketing_preferences_updated_at"),
        "marketing_opt_in_level": customer.get("marketing_optin_level"),
        "tax_exempt": customer.get("taxExempt"),
        "tax_exemptions": customer.get("taxExemptions") or [],
        "tags": ", ".join(tags),
        "note": customer.get("note"),
        "multipass_identifier": customer.get("multipass_identifier"),
        "addresses": [_v1_address(a) for a in v2_addresses],
        "default_address": _v1_address(default) if default else None,
        "created_at": iso_ms(record["created_at"]),
        "updated_at": iso_ms(record["last_modified_at"]),
        "orders_count": totals["total_orders"] if totals else 0,
        "total_spent": float(totals["total_spend"]) if totals else 0.0,
        "last_order_id": totals["last_order_ref"] if totals else None,
        "last_order_name": totals["last_order_name"] if totals else None,
        "currency": totals["last_currency"] if totals else None,
    }


def _v1_address(address: Mapping[str, Any]) -> dict[str, Any]:
    v1 = {v1_name: address.get(v2_name) for v1_name, v2_name in ADDRESS_FIELDS.items()}
    v1["customer_id"] = address.get("customerId")
    return v1


def _phone(value: Any) -> str:
    """E.164 once spaces, dashes and parentheses are removed."""
    if not isinstance(value, str):
        raise ValueError("Not a valid string.")
    phone = _PHONE_SEPARATORS.sub("", value)
    if not _E164.fullmatch(phone):
        raise ValueError("Not an E.164 phone number, e.g. +14155550123.")
    return phone


def _exemptions(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise ValueError("Not a comma-separated string or a list of strings.")


def _addresses(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("Not a list.")
    return [
        {ADDRESS_FIELDS[k]: v for k, v in item.items() if k in ADDRESS_FIELDS}
        if isinstance(item, Mapping)
        else item
        for item in value
    ]
