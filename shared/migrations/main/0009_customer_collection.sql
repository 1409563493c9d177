-- The customer collection (API.md §7): listing, counting and "query" search at scale.
--
-- Sorts: one (tenant_id, column, id) index per sort key serves a page of any sort in either
-- direction (a backward scan for DESC; "nulls last" is kept by reading the non-null and the null
-- rows as two ranges of the same index). The name indexes gain `id` under their old names, so
-- equality lookups keep them. customers_email_key (unique) serves the email sort; it and
-- customers_customer_ref_key have no ties among live non-null values.
DROP INDEX customer.customers_first_name_idx;
CREATE INDEX customers_first_name_idx
    ON customer.customers (tenant_id, first_name, id) WHERE NOT deleted;
DROP INDEX customer.customers_last_name_idx;
CREATE INDEX customers_last_name_idx
    ON customer.customers (tenant_id, last_name, id) WHERE NOT deleted;
CREATE INDEX customers_created_idx
    ON customer.customers (tenant_id, created_at, id) WHERE NOT deleted;
CREATE INDEX customers_modified_idx
    ON customer.customers (tenant_id, last_modified_at, id) WHERE NOT deleted;

-- "query" search: a substring of any of first name, last name, email, mobile, or an address's
-- city, postcode or company, case-insensitively. search_text holds those values lowered, each
-- between two unit separators (U+001F), so `LIKE '%<q>%'` is "contains" and
-- `LIKE '%<US><q><US>%'` is "equals one of them"; a trigram index answers both.
--
-- Stored generated columns (like email_lower in 0004): the store filter compares plain columns,
-- which row-level security lets use an index; `profile->>…` is not leakproof and could not.
-- Adding them rewrites the table once, under an exclusive lock: a quiet moment for big tenants.
-- INSERT and COPY column lists must never name them.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

-- The addresses' city, postcode and company values (strings only), joined by U+001F.
CREATE FUNCTION customer.address_search_values(profile jsonb) RETURNS text
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
$$;

ALTER TABLE customer.customers
    ADD COLUMN search_text text GENERATED ALWAYS AS (
        lower(
            chr(31) || coalesce(first_name, '') || chr(31) || coalesce(last_name, '')
            || chr(31) || coalesce(email, '') || chr(31) || coalesce(mobile, '')
            || chr(31) || customer.address_search_values(profile) || chr(31)
        )
    ) STORED,
    ADD COLUMN joined_store_id text GENERATED ALWAYS AS (profile ->> 'joinedStoreId') STORED,
    ADD COLUMN location text GENERATED ALWAYS AS (profile ->> 'location') STORED;

CREATE INDEX customers_search_text_trgm
    ON customer.customers USING gin (search_text public.gin_trgm_ops) WHERE NOT deleted;
CREATE INDEX customers_joined_store_idx
    ON customer.customers (tenant_id, joined_store_id) WHERE NOT deleted;
CREATE INDEX customers_location_idx
    ON customer.customers (tenant_id, location) WHERE NOT deleted;

-- Under row-level security LIKE (not leakproof) cannot use the trigram index: the policy's
-- condition would run first, on every row of the tenant. This function runs as the table owner
-- (no RLS, the index is used) and answers only for the tenant of the transaction's own
-- app.tenant, as customer.live_customer_ids_by_email does (0003). It returns live customers of
-- that tenant only. EXECUTE plans each call with its pattern, so the trigram index is chosen.
CREATE FUNCTION customer.customers_matching(p_tenant text, p_pattern text)
RETURNS SETOF customer.customers
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE
        'SELECT c.* FROM customer.customers AS c
         WHERE c.tenant_id = $1
           AND $1 = current_setting(''app.tenant'', true)
           AND c.search_text LIKE $2
           AND NOT c.deleted'
        USING p_tenant, p_pattern;
END
$$;
REVOKE ALL ON FUNCTION customer.customers_matching(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION customer.customers_matching(text, text) TO customer_suite_app;

-- Exact live-customer counts per tenant without reading the tenant: `total` of an unfiltered
-- page and `GET /customers/count` read these rows (a scan of a big tenant's index takes ~100 ms
-- a million customers). Statement triggers keep them: an insert of live rows adds, a soft
-- delete subtracts. Each backend writes its own shard of its tenant's counter (its pid modulo
-- 16), so concurrent writers of one tenant rarely wait on the same counter row; a reader sums
-- the shards, and sees exactly the committed customers, as count(*) would.
CREATE TABLE customer.live_counts (
    tenant_id  text NOT NULL,
    shard      smallint NOT NULL,
    live       bigint NOT NULL,
    PRIMARY KEY (tenant_id, shard)
);

CREATE FUNCTION customer.count_live_customers() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM customer.live_counts;
        RETURN NULL;
    END IF;
    -- Only the transition tables of the firing event exist; plpgsql plans a branch when it runs.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO customer.live_counts AS lc (tenant_id, shard, live)
        SELECT n.tenant_id, pg_backend_pid() % 16, count(*)
        FROM new_rows AS n WHERE NOT n.deleted GROUP BY n.tenant_id
        ON CONFLICT (tenant_id, shard) DO UPDATE SET live = lc.live + EXCLUDED.live;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO customer.live_counts AS lc (tenant_id, shard, live)
        SELECT d.tenant_id, pg_backend_pid() % 16, sum(d.change)
        FROM (
            SELECT o.tenant_id, -1 AS change FROM old_rows AS o WHERE NOT o.deleted
            UNION ALL
            SELECT n.tenant_id, 1 FROM new_rows AS n WHERE NOT n.deleted
        ) AS d
        GROUP BY d.tenant_id HAVING sum(d.change) <> 0
        ON CONFLICT (tenant_id, shard) DO UPDATE SET live = lc.live + EXCLUDED.live;
    ELSE
        INSERT INTO customer.live_counts AS lc (tenant_id, shard, live)
        SELECT o.tenant_id, pg_backend_pid() % 16, -count(*)
        FROM old_rows AS o WHERE NOT o.deleted GROUP BY o.tenant_id
        ON CONFLICT (tenant_id, shard) DO UPDATE SET live = lc.live + EXCLUDED.live;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER customers_live_count_insert AFTER INSERT ON customer.customers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customer.count_live_customers();
CREATE TRIGGER customers_live_count_update AFTER UPDATE ON customer.customers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customer.count_live_customers();
CREATE TRIGGER customers_live_count_delete AFTER DELETE ON customer.customers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customer.count_live_customers();
CREATE TRIGGER customers_live_count_truncate AFTER TRUNCATE ON customer.customers
    FOR EACH STATEMENT EXECUTE FUNCTION customer.count_live_customers();

-- The customers already there (the table is locked by this migration's ALTER above).
INSERT INTO customer.live_counts (tenant_id, shard, live)
SELECT tenant_id, 0, count(*) FROM customer.customers WHERE NOT deleted GROUP BY tenant_id;

GRANT SELECT ON customer.live_counts TO customer_suite_app;
ALTER TABLE customer.live_counts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer.live_counts
    USING (tenant_id = current_setting('app.tenant', true));
