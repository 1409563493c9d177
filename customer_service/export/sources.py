"""Where the parts of an export that other features own come from.

Orders (§11) and shopper accounts (§10) are not part of the suite yet: until they are, an export
holds `"orders": []` and `"account": null`. Those features plug their readers in here (passed to
ExportService by the app factory) and the document fills without touching the export itself.
A reader runs in the export's tenant transaction, so it sees the same moment's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

OrdersReader = Callable[[asyncpg.Connection, str, uuid.UUID], Awaitable[list[dict[str, Any]]]]
AccountReader = Callable[[asyncpg.Connection, str, uuid.UUID], Awaitable[dict[str, Any] | None]]


async def no_orders(_conn: asyncpg.Connection, _tenant: str, _customer_id: uuid.UUID) -> list:
    return []


async def no_account(_conn: asyncpg.Connection, _tenant: str, _customer_id: uuid.UUID) -> None:
    return None


@dataclass(frozen=True, slots=True)
class ExportSources:
    """The readers of the export's `orders` and `account` keys."""

    orders: OrdersReader = no_orders
    account: AccountReader = no_account
