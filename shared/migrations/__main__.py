"""`python -m shared.migrations`: create the databases if missing and apply every migration."""

from __future__ import annotations

import asyncio
import json

from shared.migrations import migrate_all, set_login_password
from shared.settings import load_settings


def main() -> None:
    settings = load_settings()
    applied = asyncio.run(migrate_all(settings.database_url, settings.wishlist_database_url))
    print(json.dumps({"migrations_applied": applied}))
    if asyncio.run(set_login_password(settings.database_url, settings.app_dsn)):
        print(json.dumps({"app_login_password_set": True}))


if __name__ == "__main__":
    main()
