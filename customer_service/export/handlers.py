"""GET /customers/{id}/export: the document as a JSON attachment nobody caches."""

from __future__ import annotations

from aiohttp import web

from customer_service.app_keys import EXPORT
from shared.authz import claims_of
from shared.web import json_response


async def export_customer(request: web.Request) -> web.Response:
    document = await request.app[EXPORT].export(claims_of(request).tenant, request.match_info["id"])
    filename = f"customer-{document['customer']['id']}.json"
    return json_response(
        document,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
