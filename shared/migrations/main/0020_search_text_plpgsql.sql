-- The generated search columns at a tenth of their cost per written row (issue 14's batch).
--
-- Every INSERT and UPDATE of a customer recomputes its stored generated columns: search_text
-- (0009) calls customer.address_search_values, search_head (0015) calls customer.search_head,
-- which calls it again. Both were SQL functions with a FROM clause, which PostgreSQL cannot
-- inline: each call runs the body through the SQL-function executor, planned anew for every
-- statement that uses it. For a one-row write (every API write, every batch item) that planning
-- is nearly all the cost: measured on the 1M-customer bench tenant, 100 µs per search_head call,
-- and an update that changes no indexed column took 450-500 µs in PostgreSQL, 137 µs with these.
-- PL/pgSQL keeps each function's plan for the session, so the same bodies cost it once.
--
-- Same arguments, same results (tests/integration/test_search_columns.py holds them to the SQL
-- definitions below it): no stored value changes, so no rewrite and no reindex.

CREATE OR REPLACE FUNCTION customer.address_search_values(profile jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    -- No addresses (most writes): a simple expression, no query at all.
    IF jsonb_typeof(profile -> 'addresses') IS DISTINCT FROM 'array' THEN
        RETURN '';
    END IF;
    RETURN (
        SELECT coalesce(string_agg(v.value #>> '{}', chr(31)), '')
        FROM jsonb_array_elements(profile -> 'addresses') AS a(address),
             LATERAL (VALUES (a.address -> 'city'), (a.address -> 'postcode'),
                             (a.address -> 'company')) AS v(value)
        WHERE jsonb_typeof(v.value) = 'string'
    );
END
$$;

CREATE OR REPLACE FUNCTION customer.search_head(
    first_name text, last_name text, email text, mobile text, profile jsonb
) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    head constant text := lower(
        chr(31) || coalesce(first_name, '') || chr(31) || coalesce(last_name, '')
        || chr(31) || coalesce(email, '') || chr(31) || coalesce(mobile, '')
        || chr(31) || customer.address_search_values(profile) || chr(31)
    );
BEGIN
    RETURN CASE WHEN length(head) <= 500 THEN head END;
END
$$;
