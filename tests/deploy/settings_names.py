"""The environment variables the suite reads (one per field of `shared.settings.Settings`), so a
new setting is noticed by the chart, compose and README tests without anyone listing it twice."""

from __future__ import annotations

from shared.settings import setting_variables


def setting_names() -> set[str]:
    return set(setting_variables())
