"""Which public path goes to which service, under which upstream path."""

from __future__ import annotations

from dataclasses import dataclass

from shared.settings import Settings


@dataclass(frozen=True, slots=True)
class Route:
    public_prefix: str
    upstream_base: str
    upstream_prefix: str
    authenticated: bool


@dataclass(frozen=True, slots=True)
class Target:
    route: Route
    upstream_path: str

    @property
    def url(self) -> str:
        return self.route.upstream_base + self.upstream_path


def build_routes(settings: Settings) -> tuple[Route, ...]:
    """Each prefix reaches its own API only: never another API of the same service, nor its
    operational routes (/metrics would show every tenant's traffic)."""
    return (
        Route("/services/customerservice/api/v2", settings.customer_service_url, "/api/v2", True),
        # TWC v1 (API.md §12): its two resources only.
        Route(
            "/services/customerservice/api/customers",
            settings.customer_service_url,
            "/api/customers",
            True,
        ),
        Route(
            "/services/customerservice/api/upload-customers",
            settings.customer_service_url,
            "/api/upload-customers",
            True,
        ),
        Route("/services/impex/api/import", settings.customer_service_url, "/api/import", True),
        Route("/auth", settings.auth_service_url, "/auth", False),
    )


def resolve(routes: tuple[Route, ...], path: str) -> Target | None:
    """The upstream for a public path, prefix swapped and a trailing slash dropped."""
    for route in routes:
        prefix = route.public_prefix
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            rest = path[len(prefix) :]
            upstream_path = (route.upstream_prefix + rest).rstrip("/") or "/"
            return Target(route, upstream_path)
    return None


def public_location(location: str) -> str:
    """Rewrite an upstream `Location` path to the public path that reaches it."""
    if location.startswith("/api/import"):
        return "/services/impex" + location
    if location.startswith("/api/"):
        return "/services/customerservice" + location
    return location
