"""`python -m customer_service`: serve the customer API until SIGTERM."""

from __future__ import annotations

from customer_service.app import create_app
from shared.service import run_service
from shared.settings import load_settings


def main() -> None:
    settings = load_settings()
    run_service(
        create_app(settings),
        port=settings.customer_service_port,
        service_name="customer_service",
        settings=settings,
    )


if __name__ == "__main__":
    main()
