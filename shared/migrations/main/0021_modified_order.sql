-- Writes that change no searched or identifying value stay on their table page: HOT updates.
--
-- Every customer update sets last_modified_at, and customers_modified_idx (0009) indexed it, so
-- no update could be HOT (heap-only): each one wrote a new entry into every index of the table,
-- twelve b-trees and the trigram index. Measured on the 1M-customer bench tenant, one attribute
-- update cost 740 µs in PostgreSQL, 390 µs of them the trigram index alone, against 140 µs for
-- the same update made HOT.
--
-- So the lastModifiedDate order lives in its own narrow table, kept by triggers in the writing
-- transaction: customer.modified_order holds (tenant, id, modified_at) for each live customer,
-- indexed by (tenant_id, modified_at, id). An update of the customers row that leaves every
-- indexed column as it was (attributes, opt-ins, notes' touch, anything but identifiers, names,
-- mobile, phone, addresses' searched values, joined store, location) is then HOT when its page
-- has room, and the order table's two b-tree entries are the only index writes.
--
-- Room on the page: a fillfactor of 85 leaves 15% of each new page free. Pages written before
-- this migration stay full until a customer on them moves; `VACUUM FULL customer.customers` (or
-- pg_repack, without the lock) rewrites them all with the room (README, Provisioning).

CREATE TABLE customer.modified_order (
    tenant_id text NOT NULL,
    id uuid NOT NULL,
    modified_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX modified_order_idx ON customer.modified_order (tenant_id, modified_at, id);

-- Inserts and deletes a statement at a time (imports write thousands of rows in one); an update
-- a row at a time, and only when the row's modified time or liveness changed. As the writer
-- (under row-level security: a writer keeps only its own tenant's order), with no settings of
-- its own: SECURITY DEFINER with a pinned search_path made each call 70 µs dearer, most of an
-- update's trigger cost.
CREATE FUNCTION customer.keep_modified_order() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM customer.modified_order;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO customer.modified_order (tenant_id, id, modified_at)
        SELECT n.tenant_id, n.id, n.last_modified_at FROM new_rows AS n WHERE NOT n.deleted;
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM customer.modified_order AS m
        USING old_rows AS o WHERE m.tenant_id = o.tenant_id AND m.id = o.id;
    ELSIF NEW.deleted THEN
        DELETE FROM customer.modified_order WHERE tenant_id = OLD.tenant_id AND id = OLD.id;
    ELSE
        UPDATE customer.modified_order SET modified_at = NEW.last_modified_at
        WHERE tenant_id = NEW.tenant_id AND id = NEW.id;
        IF NOT FOUND THEN
            INSERT INTO customer.modified_order (tenant_id, id, modified_at)
            VALUES (NEW.tenant_id, NEW.id, NEW.last_modified_at);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER customers_modified_order_insert AFTER INSERT ON customer.customers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customer.keep_modified_order();
CREATE TRIGGER customers_modified_order_update AFTER UPDATE ON customer.customers
    FOR EACH ROW WHEN (OLD.last_modified_at IS DISTINCT FROM NEW.last_modified_at
                       OR OLD.deleted IS DISTINCT FROM NEW.deleted)
    EXECUTE FUNCTION customer.keep_modified_order();
CREATE TRIGGER customers_modified_order_delete AFTER DELETE ON customer.customers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customer.keep_modified_order();
CREATE TRIGGER customers_modified_order_truncate AFTER TRUNCATE ON customer.customers
    FOR EACH STATEMENT EXECUTE FUNCTION customer.keep_modified_order();

-- The live customers already there (CREATE TRIGGER above holds a lock that keeps writers out
-- until this migration commits).
INSERT INTO customer.modified_order (tenant_id, id, modified_at)
SELECT tenant_id, id, last_modified_at FROM customer.customers WHERE NOT deleted;

GRANT SELECT, INSERT, UPDATE, DELETE ON customer.modified_order TO customer_suite_app;
ALTER TABLE customer.modified_order ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer.modified_order
    USING (tenant_id = current_setting('app.tenant', true));

DROP INDEX customer.customers_modified_idx;
ALTER TABLE customer.customers SET (fillfactor = 85);
-- Each update leaves a dead row version here: vacuumed as often as customers (0019), so the
-- pages' all-visible bits that index-only reads of the order rely on are soon set again.
ALTER TABLE customer.modified_order SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02
);
ANALYZE customer.modified_order;

-- The query search's page in lastModifiedDate order walks the order table (0015's walk read
-- customers_modified_idx); every other sort as before.
CREATE OR REPLACE FUNCTION customer.search_walk(
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
    ELSIF p_column = 'last_modified_at' THEN
        EXECUTE format(
            'SELECT ARRAY(SELECT m.id FROM customer.modified_order AS m
                          JOIN customer.customers AS c ON c.tenant_id = m.tenant_id AND c.id = m.id
                          WHERE m.tenant_id = $1 AND %1$s AND c.search_text LIKE $2
                          ORDER BY m.modified_at%2$s, m.id%2$s LIMIT $7)',
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
