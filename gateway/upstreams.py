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


# Each prefix reaches its own API only: never another API of the same service, nor its
# operational routes (/metrics would show every tenant's traffic).
# (public prefix, upstream service, upstream prefix, whether a token is needed)
_PREFIXES = (
    ("/services/customerservice/api/v2", "customer_service", "/api/v2", True),
    # TWC v1 (API.md §12): its two resources only.
    ("/services/customerservice/api/customers", "customer_service", "/api/customers", True),
    (
        "/services/customerservice/api/upload-customers",
        "customer_service",
        "/api/upload-customers",
        True,
    ),
    ("/services/impex/api/import", "customer_service", "/api/import", True),
    ("/auth", "auth_service", "/auth", False),
)


def build_routes(settings: Settings) -> tuple[Route, ...]:
    """The routes, each to its service's address (`<service>_url` in the settings)."""
    return tuple(
        Route(public, getattr(settings, f"{service}_url"), upstream, authenticated)
        for public, service, upstream, authenticated in _PREFIXES
    )


def resolve(routes: tuple[Route, ...], path: str) -> Target | None:
    """The upstream for a public path, prefix swapped and a trailing slash dropped."""
    for route in routes:
        if _under(path, route.public_prefix):
            rest = path[len(route.public_prefix) :]
            upstream_path = (route.upstream_prefix + rest).rstrip("/") or "/"
            return Target(route, upstream_path)
    return None


def public_location(location: str) -> str:
    """Rewrite an upstream `Location` path to the public path that reaches it (the same table
    read backwards); anything else is left as it is."""
    for public, _, upstream, _ in _PREFIXES:
        if _under(location, upstream):
            return public + location[len(upstream) :]
    return location


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + "/", prefix + "?"))
