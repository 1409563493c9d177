"""The README's configuration table names every setting the suite reads, with a default."""

from __future__ import annotations

import re
from pathlib import Path

from tests.deploy.settings_names import setting_names

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_configuration_table() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Configuration", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)`[^|]*\| ([^|]+) \| ([^|]+) \|$", section, re.M)
    documented = {name for name, default, meaning in rows if default.strip() and meaning.strip()}
    assert setting_names() <= documented
    assert documented <= setting_names(), "the table lists a variable nothing reads"
