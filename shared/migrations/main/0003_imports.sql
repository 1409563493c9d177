-- Import batches (API.md §4): the batch with its counters (which are also the worker's
-- checkpoint), its content (an uploaded file or records, in chunks, so every replica reaches it),
-- and its row errors. Every key starts with tenant_id; row-level security as on customers.
CREATE SCHEMA IF NOT EXISTS impex;

CREATE TABLE impex.batches (
    tenant_id      text NOT NULL,
    id             uuid NOT NULL,
    batch_ref      text,
    state          text NOT NULL DEFAULT 'CREATED' CHECK (
        state IN ('CREATED', 'READY', 'PROCESSING', 'COMPLETED', 'ERROR', 'ABORTED')
    ),
    -- Where the records come from: an uploaded file or records, both in impex.batch_files, or a
    -- file under IMPEX_DROP_DIR (`path`). NULL while the batch has no content yet.
    source         text CHECK (source IN ('upload', 'records', 'path')),
    format         text CHECK (format IN ('csv', 'ndjson', 'json')),
    path           text,
    file_bytes     bigint NOT NULL DEFAULT 0,
    total          integer,
    -- Records consumed, in file order: the checkpoint a resumed import skips to. It moves in the
    -- same transaction as the chunk's customers, row errors and events.
    processed      integer NOT NULL DEFAULT 0,
    imported       integer NOT NULL DEFAULT 0,
    failed         integer NOT NULL DEFAULT 0,
    error_message  text,
    -- The last failure of an attempt (for the ERROR message once the queue gives up); cleared
    -- by every committed chunk.
    last_error     text,
    -- `processed` when the batch was last queued again after its message ran out of deliveries
    -- while making progress (interrupted, not failing): it is queued again only past this.
    requeued_at    integer,
    created_at     timestamptz NOT NULL DEFAULT now(),
    modified_at    timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX batches_batch_ref_key ON impex.batches (tenant_id, batch_ref);
CREATE INDEX batches_listing_idx ON impex.batches (tenant_id, created_at DESC, id);

-- The content in pieces of about 1 MiB, in order; stored uncompressed (pglz on every piece
-- would cost more CPU than the disk it saves). Dropped when the batch ends.
CREATE TABLE impex.batch_files (
    tenant_id  text NOT NULL,
    batch_id   uuid NOT NULL,
    seq        integer NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (tenant_id, batch_id, seq),
    FOREIGN KEY (tenant_id, batch_id) REFERENCES impex.batches (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE impex.batch_files ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE impex.batch_errors (
    tenant_id     text NOT NULL,
    batch_id      uuid NOT NULL,
    record_no     integer NOT NULL,
    customer_ref  text,
    email         text,
    errors        jsonb NOT NULL,
    PRIMARY KEY (tenant_id, batch_id, record_no),
    FOREIGN KEY (tenant_id, batch_id) REFERENCES impex.batches (tenant_id, id) ON DELETE CASCADE
);

-- Matching import records by email in bulk. Under row-level security `lower(email) = ANY(...)`
-- cannot use the (tenant_id, lower(email)) index (lower() is not leakproof), and a sequential
-- scan per chunk would make a large import quadratic. This function runs as the table owner
-- (no RLS, the index is used) and answers only for the tenant of the transaction's own
-- app.tenant, so it reveals nothing row-level security would hide. It returns ids only.
CREATE FUNCTION customer.live_customer_ids_by_email(p_tenant text, p_emails text[])
RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.id FROM customer.customers AS c
    WHERE c.tenant_id = p_tenant
      AND p_tenant = current_setting('app.tenant', true)
      AND lower(c.email) = ANY (p_emails)
      AND NOT c.deleted
$$;
REVOKE ALL ON FUNCTION customer.live_customer_ids_by_email(text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION customer.live_customer_ids_by_email(text, text[]) TO customer_suite_app;

GRANT USAGE ON SCHEMA impex TO customer_suite_app;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON impex.batches, impex.batch_files, impex.batch_errors TO customer_suite_app;

ALTER TABLE impex.batches ENABLE ROW LEVEL SECURITY;
ALTER TABLE impex.batch_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE impex.batch_errors ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON impex.batches
    USING (tenant_id = current_setting('app.tenant', true))
    WITH CHECK (tenant_id = current_setting('app.tenant', true));
CREATE POLICY tenant_isolation ON impex.batch_files
    USING (tenant_id = current_setting('app.tenant', true))
    WITH CHECK (tenant_id = current_setting('app.tenant', true));
CREATE POLICY tenant_isolation ON impex.batch_errors
    USING (tenant_id = current_setting('app.tenant', true))
    WITH CHECK (tenant_id = current_setting('app.tenant', true));
