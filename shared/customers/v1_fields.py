"""The v1-only fields stored with a customer (API.md §12: `tags`, `note`,
`multipass_identifier`): their rules, and how a v1 upload's records carry them through an
import. customer_service's v1 translation validates them on the way in; impex_worker validates
them again on each imported record (it trusts no record); both with these very rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.schemas.notes import MAX_NOTE_LENGTH

# Stored with the customer, shown by v1 only (v2 renders a fixed list of fields).
HIDDEN_FIELDS = ("tags", "note", "multipass_identifier")
# Where a v1 upload's records carry their v1-only fields through the import.
IMPORT_KEY = "twcV1Fields"
MAX_TAGS = 250
MAX_TAG_LENGTH = 255


def tags(value: Any) -> list[str]:
    """Comma-separated (or a list): trimmed, empties and duplicates dropped, order kept."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        parts = value
    elif isinstance(value, str):
        parts = value.split(",")
    else:
        raise ValueError("Not a comma-separated string.")
    kept = list(dict.fromkeys(tag.strip() for tag in parts if tag.strip()))
    if len(kept) > MAX_TAGS:
        raise ValueError(f"At most {MAX_TAGS} tags.")
    if any(len(tag) > MAX_TAG_LENGTH or "\x00" in tag for tag in kept):
        raise ValueError(f"A tag is at most {MAX_TAG_LENGTH} characters, without NUL.")
    return kept


def note(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_NOTE_LENGTH or "\x00" in value:
        raise ValueError(f"Not a string of at most {MAX_NOTE_LENGTH} characters.")
    return value


def short_text(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 255 or "\x00" in value:
        raise ValueError("Not a string of 1 to 255 characters.")
    return value


HIDDEN_PARSERS: dict[str, Callable[[Any], Any]] = {
    "tags": tags,
    "note": note,
    "multipass_identifier": short_text,
}


def hidden_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The v1-only fields an imported record carries under IMPORT_KEY (put there by the v1
    upload), validated again as the worker trusts no record; ValueError names the field."""
    carried = data.get(IMPORT_KEY)
    if carried is None:
        return {}
    if not isinstance(carried, Mapping):
        raise ValueError(f"{IMPORT_KEY}: Not an object.")
    hidden = {}
    for name, parse in HIDDEN_PARSERS.items():
        if carried.get(name) is not None:
            try:
                hidden[name] = parse(carried[name])
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
    return hidden
