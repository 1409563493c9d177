-- Idempotency-Key (API.md §6): the first answer to a POST, kept 24 hours per tenant and key.
-- A row is claimed (claim, claimed_until) in a transaction of its own before the request runs,
-- so a concurrent duplicate sees it and gets 409; the answer is written in the request's own
-- transaction (customer_service.idempotency), so the write and its record commit together.
-- A claim whose request died is taken over once claimed_until has passed.
CREATE TABLE customer.idempotency_keys (
    tenant_id text NOT NULL,
    key text NOT NULL,
    fingerprint bytea NOT NULL,
    claim uuid,
    claimed_until timestamptz,
    status integer,
    body bytea,
    headers jsonb,
    subject_id uuid,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_expires_idx ON customer.idempotency_keys (expires_at);
-- A deleted customer's answers are dropped with it (erasure reaches the copies).
CREATE INDEX idempotency_keys_subject_idx ON customer.idempotency_keys (tenant_id, subject_id)
    WHERE subject_id IS NOT NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON customer.idempotency_keys TO customer_suite_app;
ALTER TABLE customer.idempotency_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer.idempotency_keys
    USING (tenant_id = current_setting('app.tenant', true))
    WITH CHECK (tenant_id = current_setting('app.tenant', true));
