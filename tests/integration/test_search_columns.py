"""The functions behind the generated search columns (0020 made them PL/pgSQL) give exactly what
their first, SQL definitions (0009, 0015) gave, for any profile: stored search_text and
search_head values written before 0020 stay true, and searches find the same customers."""

from __future__ import annotations

import json
import random
from typing import Any

import asyncpg

# 0009's and 0015's definitions, as temporary functions of the test's session.
_REFERENCE = (
    """
    CREATE FUNCTION pg_temp.address_search_values(profile jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT coalesce(string_agg(v.value #>> '{}', chr(31)), '')
        FROM jsonb_array_elements(
                 CASE WHEN jsonb_typeof(profile -> 'addresses') = 'array'
                      THEN profile -> 'addresses' ELSE '[]'::jsonb END
             ) AS a(address),
             LATERAL (VALUES (a.address -> 'city'), (a.address -> 'postcode'),
                             (a.address -> 'company')) AS v(value)
        WHERE jsonb_typeof(v.value) = 'string'
    $$
    """,
    """
    CREATE FUNCTION pg_temp.search_head(
        first_name text, last_name text, email text, mobile text, profile jsonb
    ) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT CASE WHEN length(t) <= 500 THEN t END
        FROM (SELECT lower(
                chr(31) || coalesce(first_name, '') || chr(31) || coalesce(last_name, '')
                || chr(31) || coalesce(email, '') || chr(31) || coalesce(mobile, '')
                || chr(31) || pg_temp.address_search_values(profile) || chr(31)
            ) AS t) AS s
    $$
    """,
)

_COMPARE = """
SELECT count(*) FILTER (WHERE customer.address_search_values(p)
                          IS DISTINCT FROM pg_temp.address_search_values(p)) AS values_differ,
       count(*) FILTER (WHERE customer.search_head(f, l, e, m, p)
                          IS DISTINCT FROM pg_temp.search_head(f, l, e, m, p)) AS heads_differ,
       count(*) FILTER (WHERE pg_temp.search_head(f, l, e, m, p) IS NULL) AS too_long,
       count(*) FILTER (WHERE pg_temp.address_search_values(p) <> '') AS with_values,
       count(*) AS n
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[]) AS x(f, l, e, m, p)
"""


def _text(rng: random.Random) -> str | None:
    return rng.choice(
        [None, "", "Ümlaut Straße", "O'Brien", "x" * rng.randint(1, 300), "Ab\u001fc", "ÉCOLE"]
    )


def _scalar(rng: random.Random) -> Any:
    return rng.choice([_text(rng), 12, 3.5, True, None, [], {"city": "Nested"}])


def _address(rng: random.Random) -> Any:
    if rng.random() < 0.1:
        return rng.choice(["not an object", 7, None, ["city"]])
    keys = ["city", "postcode", "company", "line1", "country"]
    return {key: _scalar(rng) for key in rng.sample(keys, rng.randint(0, len(keys)))}


def _profile(rng: random.Random) -> dict[str, Any] | list[Any]:
    shape = rng.random()
    if shape < 0.05:
        return [1, 2]  # not an object at all
    profile: dict[str, Any] = {"attributeGroups": {"g": {"attributes": {"a": "b"}}}}
    if shape < 0.25:
        return profile
    if shape < 0.35:
        profile["addresses"] = rng.choice([None, "London", {"city": "Paris"}, 3])
        return profile
    profile["addresses"] = [_address(rng) for _ in range(rng.randint(0, 4))]
    return profile


async def test_search_functions_equal_their_sql_definitions(test_settings) -> None:
    rng = random.Random(20)
    rows = [(_text(rng), _text(rng), _text(rng), _text(rng), _profile(rng)) for _ in range(3000)]
    columns = [list(column) for column in zip(*rows, strict=True)]
    columns[4] = [json.dumps(profile) for profile in columns[4]]
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        for statement in _REFERENCE:
            await conn.execute(statement)
        result = await conn.fetchrow(_COMPARE, *columns)
    finally:
        await conn.close()
    assert (result["values_differ"], result["heads_differ"]) == (0, 0)
    # The inputs reach every branch: no addresses, addresses with values, heads over 500.
    assert 0 < result["with_values"] < result["n"]
    assert 0 < result["too_long"] < result["n"]
