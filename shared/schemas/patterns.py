"""The validation rules of the request schemas as JSON Schema patterns (ECMA 262 regexes that
Python's `re` reads the same way), built from the very definitions the validators use, so the
OpenAPI document states exactly what the server accepts.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.schemas.customer import ALPHA2_CODES

# What Python's str.strip() and str.split() take for whitespace (str.isspace()): not the same
# set as a regex `\s` in either language, so spelled out.
WHITESPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
# Its members as the inside of a regex character class.
WHITESPACE_CLASS = "".join(f"\\u{ord(c):04x}" for c in WHITESPACE)
_WS = f"[{WHITESPACE_CLASS}]"
# No NUL (PostgreSQL text cannot hold one).
NO_NUL = "^[^\\u0000]*$"


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def one_of(words: Iterable[str], *, any_case: bool = False) -> str:
    """Exactly one of `words` (in any case when `any_case`)."""
    options = sorted({_any_case(w) if any_case else w for w in words})
    return f"^(?:{'|'.join(options)})$"


def stripped_one_of(words: Iterable[str], *, any_case: bool = False) -> str:
    """One of `words` (in any case when `any_case`), with any whitespace around it."""
    options = sorted({_any_case(w) if any_case else w for w in words})
    return f"^{_WS}*(?:{'|'.join(options)}){_WS}*$"


# ISO 3166-1 alpha-2, any case, surrounding whitespace ignored (the field strips and upper-cases).
COUNTRY_CODE = stripped_one_of(ALPHA2_CODES, any_case=True)


def space_separated(words: Iterable[str]) -> str:
    """Any whitespace-separated list of `words` (str.split()), possibly empty."""
    word = f"(?:{'|'.join(sorted(words))})"
    return f"^{_WS}*(?:{word}(?:{_WS}+{word})*)?{_WS}*$"


def _day_month_year() -> str:
    """dd-mm-yyyy of a real calendar date, years 0001-9999 (datetime.date's range)."""
    year = "(?!0000)[0-9]{4}"
    # Divisible by 4 and not by 100, or divisible by 400.
    leap = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
    days_31 = "(?:0[1-9]|[12][0-9]|3[01])-(?:0[13578]|1[02])"
    days_30 = "(?:0[1-9]|[12][0-9]|30)-(?:0[469]|11)"
    february = "(?:0[1-9]|1[0-9]|2[0-8])-02"
    return f"^(?:(?:{days_31}|{days_30}|{february})-{year}|29-02-{leap})$"


DAY_MONTH_YEAR = _day_month_year()


def _excluded(chars: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in chars)


def stripped_length_at_least(count: int, *, without: str = "") -> str:
    """A string whose strip() keeps at least `count` (>= 1) characters, holding none of
    `without`."""
    other = f"[^{_excluded(without)}]" if without else "[\\s\\S]"
    kept = f"[^{_excluded(without)}{WHITESPACE_CLASS}]"
    if count == 1:
        return f"^{other}*{kept}{other}*$"
    return f"^{other}*{kept}{other}{{{count - 2},}}{kept}{other}*$"
