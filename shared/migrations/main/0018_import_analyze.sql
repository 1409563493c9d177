-- Imports ANALYZE the customers after chunks 1, 2, 4, 8, … (impex_worker's runner), so a tenant
-- growing faster than autovacuum re-samples it keeps statistics the planner can match keys
-- with. Those plans need the table's size and the key columns only; the whole table's statistics
-- (search_text's long strings and the profile jsonb above all) took twice as long each time,
-- beside the import's own writes. A column list also leaves autovacuum's count of changes since
-- the last ANALYZE alone, so the table is still analyzed in full once the import is done.
CREATE OR REPLACE FUNCTION customer.analyze_customers()
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    ANALYZE customer.customers (
        tenant_id, id, deleted, customer_ref, alternate_customer_ref, email_lower
    );
END
$$;
