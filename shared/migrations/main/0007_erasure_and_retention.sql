-- Erasure reaches the copies (issue 10.5): a deleted customer's email and refs are scrubbed from
-- import row errors in the delete's own transaction, and what is kept only for a while (content of
-- batches never started, sent outbox rows) is found by a periodic sweep of customer_service.

-- Row errors by email and by customerRef, for the scrub. Under row-level security
-- `lower(email) = ...` could not use an index (lower() is not leakproof; see 0004), so the scrub
-- is a SECURITY DEFINER function like customer.live_customer_ids_by_email: it runs as the owner
-- and touches only the tenant of the transaction's own app.tenant.
CREATE INDEX batch_errors_email_idx ON impex.batch_errors (tenant_id, lower(email))
    WHERE email IS NOT NULL;
CREATE INDEX batch_errors_customer_ref_idx ON impex.batch_errors (tenant_id, customer_ref)
    WHERE customer_ref IS NOT NULL;

-- Blanks the customerRef and email of the tenant's row errors that name the customer by either;
-- the record number and the reasons stay (the batch's owner still sees which row failed and why).
CREATE FUNCTION impex.scrub_row_errors(p_tenant text, p_email text, p_refs text[])
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH scrubbed AS (
        UPDATE impex.batch_errors AS e SET customer_ref = NULL, email = NULL
        WHERE e.tenant_id = p_tenant
          AND p_tenant = current_setting('app.tenant', true)
          AND ((e.email IS NOT NULL AND lower(e.email) = lower(p_email))
               OR (e.customer_ref IS NOT NULL AND e.customer_ref = ANY (p_refs)))
        RETURNING 1
    )
    SELECT count(*) FROM scrubbed
$$;
REVOKE ALL ON FUNCTION impex.scrub_row_errors(text, text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION impex.scrub_row_errors(text, text, text[]) TO customer_suite_app;

-- Batches still CREATED (never queued) whose content has not changed since `p_before`: the sweep
-- ends each one in its own tenant transaction. Across tenants by nature, so it runs as the
-- owner; it returns ids only.
CREATE INDEX batches_created_idx ON impex.batches (modified_at) WHERE state = 'CREATED';
CREATE FUNCTION impex.stale_created_batches(p_before timestamptz, p_limit integer)
RETURNS TABLE (tenant_id text, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT b.tenant_id, b.id FROM impex.batches AS b
    WHERE b.state = 'CREATED' AND b.modified_at < p_before
    ORDER BY b.modified_at
    LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION impex.stale_created_batches(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION impex.stale_created_batches(timestamptz, integer)
    TO customer_suite_app;

-- Sent outbox rows, oldest first, for the sweep that deletes them once they are past retention.
-- Building it scans the outbox once; afterwards it only grows by the rows the relay marks sent.
CREATE INDEX outbox_sent_idx ON customer.outbox (sent_at) WHERE sent_at IS NOT NULL;
