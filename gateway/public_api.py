"""The gateway's description of the public API: `GET /openapi.json`, the `/docs` page (Swagger UI,
served from the swagger-ui-bundle package, never a CDN), and metric labels for proxied requests
(the public route template they match, e.g. `/services/customerservice/api/v2/customers/{id}`).

All three come from gateway/openapi.json, which a build step writes from the services' route
tables and schemas (`make openapi`, deploy/local/openapi.py): the gateway imports no service.
It is read once, off the event loop; a missing or broken file is a packaging bug, logged once,
and /openapi.json answers 503 while the gateway keeps serving the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import structlog
from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from shared.app_factory import add_readiness_check
from shared.errors import Unavailable
from shared.web import ROUTE_LABEL_KEY

log = structlog.get_logger("public_api")

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
SWAGGER_UI_DIR = Path(str(swagger_ui_path))
# The only files of the bundle the page uses; nothing else is served from it.
_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "application/javascript",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
_CATCH_ALL = "/{path}"
# The page loads its own scripts and styles only; Swagger UI sets inline styles and shows
# inline (data:) images.
_DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
)

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Customer suite API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""
DOCS_INIT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    displayRequestDuration: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""


@dataclass
class PublicApi:
    """The OpenAPI document (bytes, as served) and the route matcher built from its paths, read
    once, off the event loop (a worker thread at start-up, or the first /openapi.json request).

    A failure to read the document is a packaging bug, not a passing state: it is remembered
    (and logged once) rather than retried on every request."""

    path: Path = DOCUMENT_PATH
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _failure: Exception | None = None
    _document: bytes | None = None
    _matchers: tuple[re.Pattern[str], list[str]] | None = None

    def build(self) -> bytes:
        """The document (reading it on the first call); blocking, thread-safe."""
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._document is None:
                try:
                    document = self.path.read_bytes()
                    paths = orjson.loads(document)["paths"]
                except Exception as exc:
                    self._failure = exc
                    log.exception("cannot read the API document", path=str(self.path))
                    raise
                self._document = document
                self._matchers = _matchers(paths)
            return self._document

    @property
    def ready(self) -> bool:
        return self._matchers is not None

    def route_of(self, path: str) -> str | None:
        """The public route template `path` matches; None until built or if nothing matches."""
        matchers = self._matchers
        if matchers is None:
            return None
        pattern, templates = matchers
        match = pattern.fullmatch(path.rstrip("/") or "/")
        return None if match is None else templates[match.lastindex - 1]


PUBLIC_API = web.AppKey("public_api", PublicApi)


def _matchers(templates: Iterable[str]) -> tuple[re.Pattern[str], list[str]]:
    """One pattern of every template, each a group of its own, and the templates in group order:
    matched in C in one call (the loop over one pattern each took 5.2 µs a label, this 3.5 µs)."""

    def literal_length(template: str) -> int:
        return len(re.sub(r"\{[^{}]*\}", "", template))

    # Most literal first: `/customers/search` before `/customers/{id}` (alternatives are tried
    # in order; the first that matches the whole path wins).
    ordered = sorted(templates, key=lambda t: (-literal_length(t), t))
    return re.compile("|".join(f"({_compile(t).pattern})" for t in ordered)), ordered


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^{}]*\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p))


def install(app: web.Application) -> None:
    """Serve `/openapi.json` and `/docs`, and label proxied requests' metrics by public route.
    Call before the catch-all proxy route is added."""
    app[PUBLIC_API] = PublicApi()
    app.cleanup_ctx.append(_build_in_background)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/docs", docs_page)
    app.router.add_get("/docs/", docs_page)
    app.router.add_get("/docs/init.js", docs_init)
    app.router.add_get("/docs/{asset}", docs_asset)
    app.middlewares.append(route_label_middleware)


async def _build_in_background(app: web.Application) -> AsyncIterator[None]:
    # Reading and parsing the file: keep that off the event loop.
    task = asyncio.create_task(asyncio.to_thread(app[PUBLIC_API].build))

    async def attempted() -> None:
        # Ready once tried (so metrics carry public routes from the first request); a failure
        # is a packaging bug to fix, not a reason to keep the gateway out of service.
        if not task.done():
            raise RuntimeError("The public API description is being built.")

    add_readiness_check(app, "public_api", attempted)
    yield
    with contextlib.suppress(Exception):  # a failure was logged when it happened
        await task


async def openapi_json(request: web.Request) -> web.Response:
    try:
        body = await asyncio.to_thread(request.app[PUBLIC_API].build)
    except Exception:
        raise Unavailable("The API document is not available.") from None
    return web.Response(
        body=body, content_type="application/json", headers={"Cache-Control": "no-cache"}
    )


async def docs_page(_request: web.Request) -> web.Response:
    return web.Response(
        text=DOCS_PAGE, content_type="text/html", headers={"Content-Security-Policy": _DOCS_CSP}
    )


async def docs_init(_request: web.Request) -> web.Response:
    return web.Response(text=DOCS_INIT, content_type="application/javascript")


async def docs_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["asset"]
    if name not in _ASSETS:
        raise web.HTTPNotFound()
    return web.FileResponse(
        SWAGGER_UI_DIR / name,
        headers={"Content-Type": _ASSETS[name], "Cache-Control": "public, max-age=3600"},
    )


@web.middleware
async def route_label_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Proxied requests are counted under the public route they match (a template: never the
    raw path, which can hold emails), or `unmatched`."""
    api = request.app[PUBLIC_API]
    resource = request.match_info.route.resource
    if api.ready and resource is not None and resource.canonical == _CATCH_ALL:
        request[ROUTE_LABEL_KEY] = api.route_of(request.path) or "unmatched"
    return await handler(request)
