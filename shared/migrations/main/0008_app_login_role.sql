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
-- the outbox relay claims unsent rows and marks them sent; the outbox metrics count them.
-- The outbox is one queue for all tenants by design (ids only, no personal data): no RLS.
GRANT SELECT, UPDATE ON customer.outbox TO customer_suite_app;
-- impex_worker refuses queue drops for unknown tenants: it may see which tenant ids exist.
GRANT USAGE ON SCHEMA auth TO customer_suite_app;
GRANT SELECT (id) ON auth.tenants TO customer_suite_app;

-- Row-level security binds the tables' owner too. In the default setup the owner is a superuser,
-- which RLS never binds; where the migrations run as a non-superuser owner (managed PostgreSQL),
-- this keeps that login inside the policies as well. The one function that runs as the owner
-- (live_customer_ids_by_email) filters on the transaction's own app.tenant anyway.
ALTER TABLE customer.customers FORCE ROW LEVEL SECURITY;
ALTER TABLE customer.notes FORCE ROW LEVEL SECURITY;
ALTER TABLE impex.batches FORCE ROW LEVEL SECURITY;
ALTER TABLE impex.batch_files FORCE ROW LEVEL SECURITY;
ALTER TABLE impex.batch_errors FORCE ROW LEVEL SECURITY;
