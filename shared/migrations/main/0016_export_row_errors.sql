-- The data-subject export's import row errors (API.md §9) through an index.
--
-- The export reads the tenant's row errors that hold the customer's email (any case) or one of
-- its refs. As the app role, under row-level security, `lower(email) = …` applies lower() (not
-- leakproof) to a column, so PostgreSQL could not use batch_errors_email_idx (0007) and scanned
-- the table: about 0.3 s at 400,000 row errors, growing with every import's failures. This
-- function runs as the table owner (no RLS; both 0007 indexes serve it, as they serve
-- impex.scrub_row_errors, which finds the very same rows for an erasure) and answers only for
-- the tenant of the transaction's own app.tenant, so it reveals nothing row-level security
-- would hide. No table rewrite, nothing for the import's inserts to change.
CREATE FUNCTION impex.row_errors_naming(p_tenant text, p_email text, p_refs text[])
RETURNS TABLE (batch_id uuid, record_no integer, errors jsonb)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.batch_id, e.record_no, e.errors FROM impex.batch_errors AS e
    WHERE e.tenant_id = p_tenant
      AND p_tenant = current_setting('app.tenant', true)
      AND ((e.email IS NOT NULL AND lower(e.email) = lower(p_email))
           OR (e.customer_ref IS NOT NULL AND e.customer_ref = ANY (p_refs)))
    ORDER BY e.batch_id, e.record_no
$$;
REVOKE ALL ON FUNCTION impex.row_errors_naming(text, text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION impex.row_errors_naming(text, text, text[]) TO customer_suite_app;
