"""`python -m impex_worker`: consume until SIGTERM, serving health and metrics on its port."""

from __future__ import annotations

from impex_worker.app import SERVICE_NAME, create_app
from shared.app_factory import run_service
from shared.insecure_defaults import refuse_insecure_defaults
from shared.settings import load_settings


def main() -> None:
    settings = load_settings()
    refuse_insecure_defaults(settings, SERVICE_NAME)  # it keys the wishlist pseudonyms
    run_service(
        create_app(settings),
        port=settings.impex_worker_port,
        service_name=SERVICE_NAME,
        settings=settings,
    )


if __name__ == "__main__":
    main()
