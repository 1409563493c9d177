"""`python -m gateway`: serve the public entry point until SIGTERM (its metrics and detailed
readiness on the internal port GATEWAY_ADMIN_PORT).
`python -m gateway rate-limit set|show|clear TENANT …`: manage a tenant's rate limits."""

from __future__ import annotations

import sys

from gateway import cli
from gateway.app import create_app
from shared.app_factory import admin_app, run_service
from shared.settings import load_settings


def main() -> int:
    settings = load_settings()
    if len(sys.argv) > 1:
        return cli.main(sys.argv[1:], settings)
    app = create_app(settings)
    run_service(
        app,
        port=settings.gateway_port,
        service_name="gateway",
        settings=settings,
        admin=(admin_app(app), settings.gateway_admin_port),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
