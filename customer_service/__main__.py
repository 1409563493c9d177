"""`python -m customer_service`: serve the customer API until SIGTERM.

`python -m customer_service import FILE --tenant T` imports a file with a progress bar instead
(customer_service/imports/cli.py)."""

from __future__ import annotations

import sys

from customer_service.app import create_app
from shared.app_factory import run_service
from shared.settings import load_settings


def main() -> None:
    if sys.argv[1:2] == ["import"]:
        from customer_service.imports.cli import main as import_main

        sys.exit(import_main(sys.argv[2:]))
    settings = load_settings()
    run_service(
        create_app(settings),
        port=settings.customer_service_port,
        service_name="customer_service",
        settings=settings,
    )


if __name__ == "__main__":
    main()
