"""The environment variables shared/settings.py reads, found in its source (so a new setting
is noticed by the chart, compose and README tests without anyone listing it twice)."""

from __future__ import annotations

import re
from pathlib import Path

SETTINGS_MODULE = Path(__file__).resolve().parents[2] / "shared" / "settings.py"


def setting_names() -> set[str]:
    source = SETTINGS_MODULE.read_text(encoding="utf-8")
    names = set(re.findall(r"env\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", source))
    assert names, 'no env.<type>("NAME", ...) calls found in shared/settings.py'
    return names
