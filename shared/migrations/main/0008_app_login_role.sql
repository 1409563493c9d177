-- customer_service and impex_worker log in as customer_suite_app instead of the owner.
--
-- Before, every service logged in as the owner (a superuser in the default setup) and switched
-- to customer_suite_app for each tenant transaction: row-level security held for the statements
-- the code meant to run, but one injected `RESET ROLE`, or a query outside a tenant transaction,
-- ran as a role that ignores it. Now the login itself is a role that owns nothing and cannot
-- bypass row-level security, so no statement on these connections can escape it.
--
-- The role is cluster-wide (created in 0002). Its password, if the login URL carries one, is set
-- by the migration runner from APP_DATABASE_URL (shared.migrations), never written here.
ALTER ROLE customer_suite_app
    LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;

-- What these services do outside a tenant transaction, and nothing more:
-- the outbox relay claims unsent rows and marks them sent, the outbox metrics count them, the
-- retention sweep deletes sent ones (0007). The outbox is one queue for all tenants by design
-- (ids only, no personal data): no RLS.
GRANT SELECT, UPDATE, DELETE ON customer.outbox TO customer_suite_app;
-- impex_worker refuses queue drops for unknown tenants: it may see which tenant ids exist.
GRANT USAGE ON SCHEMA auth TO customer_suite_app;
GRANT SELECT (id) ON auth.tenants TO customer_suite_app;

-- The tables' owner stays outside the policies on purpose (no FORCE ROW LEVEL SECURITY): the
-- few owner-run functions below and in 0003/0007 are what may look across tenants (the import
-- email match, the erasure scrub, the retention sweep's listing), each returning ids or counts.

-- impex_worker refreshes the planner's statistics during an import (ANALYZE needs the owner).
CREATE FUNCTION customer.analyze_customers()
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    ANALYZE customer.customers;
END
$$;
REVOKE ALL ON FUNCTION customer.analyze_customers() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION customer.analyze_customers() TO customer_suite_app;

-- GET /customers/{id} in one statement (issue 13). A tenant transaction takes three round trips
-- (reset + BEGIN + settings, the query, COMMIT); this function sets the role and the tenant
-- transaction-locally itself and then reads, so the read is one statement in its own implicit
-- transaction, and the settings end with it (the SET clause below scopes search_path only). It
-- runs as its caller (SECURITY INVOKER), so the customers' policy applies to its query exactly
-- as in a tenant transaction.
CREATE OR REPLACE FUNCTION customer.live_customer_by_id(p_tenant text, p_id uuid)
RETURNS TABLE (
    id uuid, customer_ref text, alternate_customer_ref text, email text, first_name text,
    last_name text, mobile text, phone text, profile jsonb, deleted boolean,
    created_at timestamptz, last_modified_at timestamptz
)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
-- Whatever search_path the session has, these names mean the suite's.
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.set_config('role', 'customer_suite_app', true),
            pg_catalog.set_config('app.tenant', p_tenant, true);
    RETURN QUERY
        SELECT c.id, c.customer_ref, c.alternate_customer_ref, c.email, c.first_name,
               c.last_name, c.mobile, c.phone, c.profile, c.deleted, c.created_at,
               c.last_modified_at
        FROM customer.customers AS c
        WHERE c.tenant_id = p_tenant AND c.id = p_id AND NOT c.deleted;
END
$$;
REVOKE ALL ON FUNCTION customer.live_customer_by_id(text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION customer.live_customer_by_id(text, uuid) TO customer_suite_app;
