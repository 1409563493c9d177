-- The query search of a common substring without the trigram bitmap (issue 14, API.md §7).
--
-- customer.search_page (0015) first reads up to SEARCH_TOTAL_CAP + 1 matches through the
-- trigram index. For a common trigram that is a bitmap of every candidate in the index, all
-- tenants' (67,000 for `bor` at 1.5M customers): ~40 ms to build and ~30 ms to sort before the
-- first row is read, on the busy 2-vCPU machine, however few rows the LIMIT then reads. When the
-- substring is common, cap + 1 matches are found sooner by walking the tenant's part of
-- customers_created_idx, which carries search_head (0015), testing index entries only:
-- ~22,000 entries for `bor` (4.5% of customers), 83 ms -> 17 ms alone on the busy machine.
--
-- Which way is cheaper depends on how common the substring is, so a sample decides: the first
-- 2,000 entries of the walk (the tenant's oldest customers: the same index pages every time).
-- At least 5% of them matching, the walk counts on, up to cap + 1 matches or 100,000 entries;
-- cap + 1 found: the total is the cap, and the page comes from search_walk (0015) as before.
-- Below 5% the walk was measured slower than the bitmap (2-5%: 20,000-50,000 entries of an index
-- larger than shared_buffers). Otherwise (rarer, the budget spent, or the tenant's entries ended
-- first) the search goes on exactly as 0015 did. With exact criteria (email, mobile, store, createdSince) too, it always
-- goes as 0015 did: their indexes narrow it more.
--
-- As search_capped and search_walk: the table owner's rights inside search_page (row-level
-- security would keep LIKE from the index), answering only for the transaction's own tenant.

-- How many of the first p_limit live customers of the tenant in createdDate order match, at
-- most p_matches (the walk stops there). No JIT: the planner prices the walk as if it read the
-- whole LIMIT (it stops far sooner), past jit_above_cost, and compiling took longer (10-40 ms)
-- than the walk itself.
CREATE FUNCTION customer.search_walk_count(
    p_tenant text, p_pattern text, p_limit integer, p_matches integer
) RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET enable_bitmapscan = off
SET max_parallel_workers_per_gather = 0
SET jit = off
AS $$
DECLARE
    found bigint;
BEGIN
    EXECUTE
        'SELECT count(*) FROM (
             SELECT FROM (
                 SELECT c.id, c.search_head FROM customer.customers AS c
                 WHERE c.tenant_id = $1 AND $1 = current_setting(''app.tenant'', true)
                   AND NOT c.deleted
                 ORDER BY c.created_at, c.id
                 LIMIT $3
             ) AS w
             WHERE w.search_head LIKE $2 OR (w.search_head IS NULL AND EXISTS (
                 SELECT FROM customer.customers AS x
                 WHERE x.tenant_id = $1 AND x.id = w.id AND x.search_text LIKE $2))
             LIMIT $4
         ) AS m'
    INTO found USING p_tenant, p_pattern, p_limit, p_matches;
    RETURN found;
END
$$;

CREATE OR REPLACE FUNCTION customer.search_page(
    p_tenant text, p_pattern text, p_email text, p_mobile text, p_store text,
    p_since timestamptz, p_column text, p_descending boolean, p_limit integer,
    p_offset integer, p_cap integer, OUT total bigint, OUT ids uuid[]
)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    search_sample constant integer := 2000;
    search_common constant integer := 100;  -- of the sample: 5%
    search_budget constant integer := 100000;
    nullable boolean := p_column NOT IN ('created_at', 'last_modified_at');
BEGIN
    IF p_column NOT IN ('created_at', 'last_modified_at', 'email_lower', 'first_name',
                        'last_name', 'customer_ref') THEN
        RAISE EXCEPTION 'not a sort column: %', p_column;
    END IF;
    IF p_email IS NULL AND p_mobile IS NULL AND p_store IS NULL AND p_since IS NULL
       AND customer.search_walk_count(p_tenant, p_pattern, search_sample, search_common)
           >= search_common
       AND customer.search_walk_count(p_tenant, p_pattern, search_budget, p_cap + 1) > p_cap
    THEN
        total := p_cap;
        ids := customer.search_walk(
            p_tenant, p_pattern, NULL, NULL, NULL, NULL, p_column, p_descending, nullable,
            p_limit, p_offset);
        RETURN;
    END IF;
    SELECT s.total, s.ids INTO total, ids
    FROM customer.search_capped(p_tenant, p_pattern, p_email, p_mobile, p_store, p_since,
                                p_column, p_descending, p_limit, p_offset, p_cap) AS s;
    IF total > p_cap THEN
        total := p_cap;
        ids := customer.search_walk(
            p_tenant, p_pattern, p_email, p_mobile, p_store, p_since, p_column, p_descending,
            nullable, p_limit, p_offset);
    END IF;
END
$$;

REVOKE ALL ON FUNCTION customer.search_walk_count(text, text, integer, integer) FROM PUBLIC;

-- Index-only counts (GET /customers/count with a filter) skip the table only for pages the
-- visibility map marks all-visible; every update clears a page's bit until VACUUM sets it again,
-- and the GIN index's pending list (what the trigram index has not merged yet) is read by every
-- search until VACUUM merges it. The default autovacuum waits for 20% of a table to change (300,000
-- rows of a 1.5M-customer table); 1% keeps both short. A setting of the table: no rewrite.
ALTER TABLE customer.customers SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02
);
