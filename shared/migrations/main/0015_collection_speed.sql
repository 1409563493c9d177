-- The customer collection at speed (issue 14, API.md §7).
--
-- "query" search without reading every match. A 3-letter substring of a common surname matches
-- tens of thousands of a big tenant's customers: the trigram index finds them at once, but
-- each match is a heap row to read (visibility, the LIKE recheck), ~1 s for 25,000 of them at
-- 1M customers. A page needs only pageSize of them in sort order, so:
--
-- 1. Up to SEARCH_TOTAL_CAP + 1 matches are read through the trigram index (a bitmap scan,
--    stopped by its LIMIT), id and sort key only. At most the cap: that is every match, so the
--    total is exact and the page is cut from them sorted.
-- 2. More than the cap: the tenant's (tenant_id, <sort column>, id) index is walked in sort order
--    and each row tested until the page is full: 20 matches at 2% selectivity are ~1,000 rows.
--    The walk is only taken when matches are common (more than the cap), so it ends soon; the
--    total answered is then the cap ("at least this many").
--
-- Both run as the table owner (row-level security keeps LIKE away from an index, as in 0009)
-- and answer only for the transaction's own tenant (app.tenant). The page's rows are then read
-- by id as the app role, under row-level security.

-- search_head: search_text (0009) when it is at most 500 characters (nearly every customer),
-- else null. customers_created_idx carries it, so the walk of the default sort tests each row in
-- the index alone (search_text itself may be far longer than an index entry may be). A generated
-- column cannot read another, so the function computes the text as 0009's expression does
-- (tests/integration/test_query_plans.py checks they agree). Adding it rewrites the table once.
CREATE FUNCTION customer.search_head(
    first_name text, last_name text, email text, mobile text, profile jsonb
) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN length(t) <= 500 THEN t END
    FROM (SELECT lower(
            chr(31) || coalesce(first_name, '') || chr(31) || coalesce(last_name, '')
            || chr(31) || coalesce(email, '') || chr(31) || coalesce(mobile, '')
            || chr(31) || customer.address_search_values(profile) || chr(31)
        ) AS t) AS s
$$;

ALTER TABLE customer.customers
    ADD COLUMN search_head text GENERATED ALWAYS AS (
        customer.search_head(first_name, last_name, email, mobile, profile)
    ) STORED;

DROP INDEX customer.customers_created_idx;
CREATE INDEX customers_created_idx
    ON customer.customers (tenant_id, created_at, id) INCLUDE (search_head) WHERE NOT deleted;

-- The WHERE of a search as the functions below EXECUTE it, but for the pattern: $1 tenant,
-- ($2 the LIKE pattern,) then the optional exact criteria $3 email, $4 mobile, $5 store, $6
-- created since (null: not given).
CREATE FUNCTION customer.search_where(
    p_email text, p_mobile text, p_store text, p_since timestamptz
) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT 'c.tenant_id = $1 AND $1 = current_setting(''app.tenant'', true) AND NOT c.deleted'
        || CASE WHEN p_email IS NULL THEN '' ELSE ' AND c.email_lower = lower($3)' END
        || CASE WHEN p_mobile IS NULL THEN '' ELSE ' AND c.mobile = $4' END
        || CASE WHEN p_store IS NULL THEN ''
                ELSE ' AND (c.joined_store_id = $5 OR c.location = $5)' END
        || CASE WHEN p_since IS NULL THEN '' ELSE ' AND c.created_at >= $6' END
$$;

-- Step 1: up to p_cap + 1 matches, and of them the page (p_offset, p_limit) in sort order, nulls
-- last, ties on id. `total` is how many were read: p_cap + 1 means "more than the cap". Through
-- the trigram index, or, for a substring in most rows (the planner's estimate), any of the
-- tenant's indexes read until the LIMIT; never a sequential scan (a tenant's rows may all lie
-- behind another's).
CREATE FUNCTION customer.search_capped(
    p_tenant text, p_pattern text, p_email text, p_mobile text, p_store text,
    p_since timestamptz, p_column text, p_descending boolean, p_limit integer,
    p_offset integer, p_cap integer, OUT total bigint, OUT ids uuid[]
)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET max_parallel_workers_per_gather = 0
AS $$
DECLARE
    dir text := CASE WHEN p_descending THEN ' DESC' ELSE '' END;
BEGIN
    EXECUTE format(
        'SELECT count(*), (array_agg(m.id ORDER BY m.k%1$s NULLS LAST, m.id%1$s))[$7 + 1 : $7 + $8]
         FROM (SELECT c.id, c.%2$I AS k FROM customer.customers AS c
               WHERE %3$s AND c.search_text LIKE $2 LIMIT $9 + 1) AS m',
        dir, p_column, customer.search_where(p_email, p_mobile, p_store, p_since))
    INTO total, ids
    USING p_tenant, p_pattern, p_email, p_mobile, p_store, p_since, p_offset, p_limit, p_cap;
    ids := coalesce(ids, '{}');
END
$$;

-- Step 2: the page by walking the sort column's index in order (no bitmap: a bitmap would read
-- every match again; no parallel workers: they would each read their share past the LIMIT). DESC on a nullable column keeps nulls last as the list does: the rows with
-- a value (the index backwards), then those without. The default sort (createdDate) walks its
-- index alone: customers_created_idx carries search_head (above), so only a row whose searched
-- text is too long for it is read from the table; other sorts read each row they pass.
CREATE FUNCTION customer.search_walk(
    p_tenant text, p_pattern text, p_email text, p_mobile text, p_store text,
    p_since timestamptz, p_column text, p_descending boolean, p_nullable boolean,
    p_limit integer, p_offset integer
) RETURNS uuid[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET max_parallel_workers_per_gather = 0
SET enable_bitmapscan = off
AS $$
DECLARE
    wanted integer := p_offset + p_limit;
    dir text := CASE WHEN p_descending THEN ' DESC' ELSE '' END;
    base text := customer.search_where(p_email, p_mobile, p_store, p_since);
    found uuid[];
    more uuid[];
BEGIN
    IF p_column = 'created_at' THEN
        EXECUTE format(
            'SELECT ARRAY(
                 SELECT w.id FROM (
                     SELECT c.id, c.search_head IS NULL AS long FROM customer.customers AS c
                     WHERE %1$s AND (c.search_head LIKE $2 OR c.search_head IS NULL)
                     ORDER BY c.created_at%2$s, c.id%2$s
                 ) AS w
                 WHERE NOT w.long OR EXISTS (
                     SELECT FROM customer.customers AS x
                     WHERE x.tenant_id = $1 AND x.id = w.id AND x.search_text LIKE $2)
                 LIMIT $7)',
            base, dir)
        INTO found USING p_tenant, p_pattern, p_email, p_mobile, p_store, p_since, wanted;
    ELSIF p_descending AND p_nullable THEN
        EXECUTE format(
            'SELECT ARRAY(SELECT c.id FROM customer.customers AS c
                          WHERE %1$s AND c.search_text LIKE $2 AND c.%2$I IS NOT NULL
                          ORDER BY c.%2$I DESC, c.id DESC LIMIT $7)',
            base, p_column)
        INTO found USING p_tenant, p_pattern, p_email, p_mobile, p_store, p_since, wanted;
        IF cardinality(found) < wanted THEN
            EXECUTE format(
                'SELECT ARRAY(SELECT c.id FROM customer.customers AS c
                              WHERE %1$s AND c.search_text LIKE $2 AND c.%2$I IS NULL
                              ORDER BY c.%2$I DESC, c.id DESC LIMIT $7)',
                base, p_column)
            INTO more
            USING p_tenant, p_pattern, p_email, p_mobile, p_store, p_since,
                  wanted - cardinality(found);
            found := found || more;
        END IF;
    ELSE
        EXECUTE format(
            'SELECT ARRAY(SELECT c.id FROM customer.customers AS c
                          WHERE %1$s AND c.search_text LIKE $2
                          ORDER BY c.%2$I%3$s, c.id%3$s LIMIT $7)',
            base, p_column, dir)
        INTO found USING p_tenant, p_pattern, p_email, p_mobile, p_store, p_since, wanted;
    END IF;
    RETURN coalesce(found[p_offset + 1 : wanted], '{}');
END
$$;

-- What customer_service calls: the page's ids in order and the total (exact up to p_cap; p_cap
-- when there are more). p_column is one of the sort columns, each with its
-- (tenant_id, column, id) index (0009).
CREATE FUNCTION customer.search_page(
    p_tenant text, p_pattern text, p_email text, p_mobile text, p_store text,
    p_since timestamptz, p_column text, p_descending boolean, p_limit integer,
    p_offset integer, p_cap integer, OUT total bigint, OUT ids uuid[]
)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_column NOT IN ('created_at', 'last_modified_at', 'email_lower', 'first_name',
                        'last_name', 'customer_ref') THEN
        RAISE EXCEPTION 'not a sort column: %', p_column;
    END IF;
    SELECT s.total, s.ids INTO total, ids
    FROM customer.search_capped(p_tenant, p_pattern, p_email, p_mobile, p_store, p_since,
                                p_column, p_descending, p_limit, p_offset, p_cap) AS s;
    IF total > p_cap THEN
        total := p_cap;
        ids := customer.search_walk(
            p_tenant, p_pattern, p_email, p_mobile, p_store, p_since, p_column, p_descending,
            p_column NOT IN ('created_at', 'last_modified_at'), p_limit, p_offset);
    END IF;
END
$$;

REVOKE ALL ON FUNCTION customer.search_where(text, text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION customer.search_capped(
    text, text, text, text, text, timestamptz, text, boolean, integer, integer, integer
) FROM PUBLIC;
REVOKE ALL ON FUNCTION customer.search_walk(
    text, text, text, text, text, timestamptz, text, boolean, boolean, integer, integer
) FROM PUBLIC;
REVOKE ALL ON FUNCTION customer.search_page(
    text, text, text, text, text, timestamptz, text, boolean, integer, integer, integer
) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION customer.search_page(
    text, text, text, text, text, timestamptz, text, boolean, integer, integer, integer
) TO customer_suite_app;

-- List pages (GET /customers, any sortBy, page <= 50): the page's ids come from the sort
-- column's index alone (an index-only scan, so the up to 1,000 rows an OFFSET skips are never
-- read from the table), then 20 rows by primary key. The email and customerRef sorts use their
-- unique indexes, which gain `id` (INCLUDE, so uniqueness is unchanged) under their old names,
-- which 409s map to fields (shared.customers.columns.UNIQUE_INDEX_FIELDS).
CREATE UNIQUE INDEX customers_email_key_0015
    ON customer.customers (tenant_id, email_lower) INCLUDE (id) WHERE NOT deleted;
DROP INDEX customer.customers_email_key;
ALTER INDEX customer.customers_email_key_0015 RENAME TO customers_email_key;
CREATE UNIQUE INDEX customers_customer_ref_key_0015
    ON customer.customers (tenant_id, customer_ref) INCLUDE (id) WHERE NOT deleted;
DROP INDEX customer.customers_customer_ref_key;
ALTER INDEX customer.customers_customer_ref_key_0015 RENAME TO customers_customer_ref_key;

-- The live-customer counter (0009) without a cost on every update: only a soft delete (or
-- anything else setting `deleted` or `tenant_id`) can change it, yet the statement trigger made
-- every UPDATE collect its old and new rows and run. Now a row trigger fires only when an UPDATE
-- names one of those columns and the row's liveness or tenant actually changes; inserts and
-- deletes keep their statement triggers.
CREATE FUNCTION customer.count_live_customer_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT OLD.deleted THEN
        INSERT INTO customer.live_counts AS lc (tenant_id, shard, live)
        VALUES (OLD.tenant_id, pg_backend_pid() % 16, -1)
        ON CONFLICT (tenant_id, shard) DO UPDATE SET live = lc.live - 1;
    END IF;
    IF NOT NEW.deleted THEN
        INSERT INTO customer.live_counts AS lc (tenant_id, shard, live)
        VALUES (NEW.tenant_id, pg_backend_pid() % 16, 1)
        ON CONFLICT (tenant_id, shard) DO UPDATE SET live = lc.live + 1;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER customers_live_count_update ON customer.customers;
CREATE TRIGGER customers_live_count_update
    AFTER UPDATE OF deleted, tenant_id ON customer.customers
    FOR EACH ROW
    WHEN (OLD.deleted IS DISTINCT FROM NEW.deleted OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION customer.count_live_customer_update();
