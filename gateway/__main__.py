"""`python -m gateway`: serve the public entry point until SIGTERM."""

from __future__ import annotations

from gateway.app import create_app
from shared.service import run_service
from shared.settings import load_settings


def main() -> None:
    settings = load_settings()
    run_service(
        create_app(settings), port=settings.gateway_port, service_name="gateway", settings=settings
    )


if __name__ == "__main__":
    main()
