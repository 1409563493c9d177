"""`python -m auth_service`: serve the auth endpoints until SIGTERM.
`python -m auth_service <command> …`: the provisioning CLI (see `auth_service.cli`)."""

from __future__ import annotations

import sys

from auth_service import cli
from auth_service.app import create_app
from shared.app_factory import run_service
from shared.settings import load_settings


def main() -> None:
    if len(sys.argv) > 1:
        sys.exit(cli.main(sys.argv[1:]))
    settings = load_settings()
    run_service(
        create_app(settings),
        port=settings.auth_service_port,
        service_name="auth_service",
        settings=settings,
    )


if __name__ == "__main__":
    main()
