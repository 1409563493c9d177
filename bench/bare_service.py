"""The floor bench_cost measures customer_service against: the same reads and writes with nothing
around them. aiohttp + uvloop + an asyncpg pool of the same size as the service's, no token, no
tenant transaction, no validation, no logging, no metrics; asyncpg's defaults (its pool resets a
connection on release, as a plain `async with pool.acquire()` does).

  GET  /customers/{id}  the row by primary key (tenant BENCH_TENANT), as JSON
  POST /customers       the JSON body's fields into one customer row and one outbox row, in one
                        transaction; 201 with the row as JSON

    python -m bench.bare_service --port 18204   # DATABASE_URL, BENCH_TENANT, BENCH_WRITE_TENANT
"""

from __future__ import annotations

import argparse
import os
import uuid
from datetime import UTC, datetime

import asyncpg
import orjson
import uvloop
from aiohttp import web

from customer_service.repository import SELECT_BY
from shared.outbox import INSERT_OUTBOX

_COLUMNS = (
    "customer_ref, alternate_customer_ref, email, first_name, last_name, mobile, phone, profile"
)
INSERT = f"""
INSERT INTO customer.customers (tenant_id, id, {_COLUMNS}, created_at, last_modified_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
RETURNING id, {_COLUMNS}, deleted, created_at, last_modified_at
"""
_FIELDS = ("customerRef", "alternateCustomerRef", "email", "firstName", "lastName", "mobile")
POOL = web.AppKey("pool", asyncpg.Pool)
TENANT = web.AppKey("tenant", str)
WRITE_TENANT = web.AppKey("write_tenant", str)


async def init_connection(conn: asyncpg.Connection) -> None:
    """jsonb as orjson-encoded binary, as the services' own pools have it."""
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=lambda value: b"\x01" + orjson.dumps(value),
        decoder=lambda data: orjson.loads(data[1:]),
        format="binary",
    )


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, default=str), status=status, content_type="application/json"
    )


async def get_customer(request: web.Request) -> web.Response:
    try:
        customer_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    row = await request.app[POOL].fetchrow(SELECT_BY["id"], request.app[TENANT], customer_id)
    if row is None:
        raise web.HTTPNotFound()
    return _json(dict(row))


async def create_customer(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    now = datetime.now(UTC)
    tenant = request.app[WRITE_TENANT]
    async with request.app[POOL].acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            INSERT, tenant, uuid.uuid4(), *(body.get(f) for f in _FIELDS), body.get("phone"),
            {k: v for k, v in body.items() if k not in _FIELDS and k != "phone"}, now,
        )  # fmt: skip
        customer = {"id": str(row["id"]), "customerRef": row["customer_ref"]}
        event = {"eventId": str(uuid.uuid4()), "type": "customer.created", "tenant": tenant,
                 "customer": customer}  # fmt: skip
        await conn.execute(
            INSERT_OUTBOX, uuid.uuid4(), tenant, "customer.events", "customer.created", event, None
        )
    return _json(dict(row), status=201)


async def _pool_context(app: web.Application) -> object:
    app[POOL] = await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=1, max_size=int(os.environ.get("DB_POOL_MAX", 10)),
        init=init_connection,
    )  # fmt: skip
    yield
    await app[POOL].close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app[TENANT] = os.environ.get("BENCH_TENANT", "bench")
    app[WRITE_TENANT] = os.environ.get("BENCH_WRITE_TENANT", "bench_writes")
    app.cleanup_ctx.append(_pool_context)
    app.router.add_get("/customers/{id}", get_customer)
    app.router.add_post("/customers", create_customer)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
