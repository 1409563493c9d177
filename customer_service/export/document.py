"""The export document of API.md §9 from what the stores returned: every key always present."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.timefmt import iso_ms


def render_export(
    *,
    tenant: str,
    now: datetime,
    customer: dict[str, Any],
    notes: Sequence[Mapping[str, Any]],
    wishlists: Sequence[Mapping[str, Any]],
    items: Sequence[Mapping[str, Any]],
    orders: list[dict[str, Any]],
    account: dict[str, Any] | None,
    import_errors: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    by_wishlist: dict[Any, list[dict[str, Any]]] = {row["id"]: [] for row in wishlists}
    for item in items:
        by_wishlist[item["wishlist_id"]].append(
            {
                "id": str(item["id"]),
                "productRef": item["product_ref"],
                "variantRef": item["variant_ref"],
                "purchased": item["purchased"],
                "createdAt": iso_ms(item["created_at"]),
            }
        )
    return {
        "exportedAt": iso_ms(now),
        "tenant": tenant,
        "customer": customer,
        "notes": [
            {
                "id": str(note["id"]),
                "customerId": customer["id"],
                "customerRef": customer["customerRef"],
                "note": note["note"],
                "createdDate": iso_ms(note["created_at"]),
                "lastModifiedDate": iso_ms(note["last_modified_at"]),
            }
            for note in notes
        ],
        "wishlists": [
            {
                "id": str(row["id"]),
                "name": row["name"],
                "description": row["description"],
                "wishlistRef": row["wishlist_ref"],
                "isPrivate": row["is_private"],
                "createdAt": iso_ms(row["created_at"]),
                "updatedAt": iso_ms(row["updated_at"]),
                "items": by_wishlist[row["id"]],
            }
            for row in wishlists
        ],
        "orders": orders,
        "account": account,
        "importErrors": [
            {"batchId": str(row["batch_id"]), "row": row["record_no"], "errors": row["errors"]}
            for row in import_errors
        ],
    }
