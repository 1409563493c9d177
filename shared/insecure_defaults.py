"""Refusing to start with the public default of a secret setting.

A default written in this repository is known to everyone: a pseudonym keyed with it can be
recomputed from a customer id, which undoes the de-identification. A service that uses such a
setting calls `refuse_insecure_defaults` before it serves; only a development machine, which
says so with ALLOW_INSECURE_DEV_DEFAULTS=1, may run with them (and is warned).
"""

from __future__ import annotations

import structlog

from shared.log import configure_logging
from shared.settings import DEFAULT_PSEUDONYM_KEY, Settings

log = structlog.get_logger("settings")

FLAG = "ALLOW_INSECURE_DEV_DEFAULTS"


def insecure_settings(settings: Settings) -> list[str]:
    """The secret settings left empty or at their public default."""
    insecure = []
    if settings.pseudonym_key.strip() in ("", DEFAULT_PSEUDONYM_KEY):
        insecure.append("PSEUDONYM_KEY")
    return insecure


def refuse_insecure_defaults(settings: Settings, service_name: str) -> None:
    """Exit (status 1, the reason on stderr) when a secret setting is empty or public, unless
    the development flag is set; with the flag, log a warning and go on."""
    insecure = insecure_settings(settings)
    if not insecure:
        return
    names = ", ".join(insecure)
    if settings.allow_insecure_dev_defaults:
        configure_logging(service_name, settings.log_level)
        log.warning("insecure development defaults in use", settings=insecure, flag=FLAG)
        return
    raise SystemExit(
        f"{service_name}: refusing to start: {names} is empty or the public default. "
        f"Set {names} to a secret value (e.g. `openssl rand -hex 32`) and keep it; "
        f"on a development machine only, {FLAG}=1 allows the default."
    )
