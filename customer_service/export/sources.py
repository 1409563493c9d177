"""Where the parts of an export that other features own come from: the order facts (§11,
`shared.orders`) and the shopper account metadata (§10, `customer_service.shoppers`).

A reader runs in the export's tenant transaction, so it sees the same moment's data, and a
store that fails fails the whole export (never a partial one). Tests may pass other readers.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from customer_service.shoppers.account import account_metadata
from shared.orders.service import facts_of

OrdersReader = Callable[[asyncpg.Connection, str, uuid.UUID], Awaitable[list[dict[str, Any]]]]
AccountReader = Callable[[asyncpg.Connection, str, uuid.UUID], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class ExportSources:
    """The readers of the export's `orders` and `account` keys."""

    orders: OrdersReader = facts_of
    account: AccountReader = account_metadata
