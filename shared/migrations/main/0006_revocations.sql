-- Revocations kept in PostgreSQL, the source of truth (issue 10 item 11). Redis holds the view
-- every verifier follows; auth_service rebuilds it from here at start and re-checks it on a
-- schedule, so a flushed or restarted Redis no longer forgets a revoked token.

-- A revoked access token, kept until every verifier would refuse it anyway (exp + leeway):
-- `keep_until`; auth_service deletes rows past it.
CREATE TABLE auth.revoked_tokens (
    tenant_id   text NOT NULL REFERENCES auth.tenants (id),
    jti         text NOT NULL,
    client_id   text NOT NULL,
    expires_at  timestamptz NOT NULL,
    keep_until  timestamptz NOT NULL,
    revoked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, jti)
);
-- The rebuild reads live rows and the cleanup deletes dead ones, both by keep_until.
CREATE INDEX revoked_tokens_keep_until ON auth.revoked_tokens (keep_until);

-- Client revocations are auth.clients.revoked_at already; the rebuild reads the recent ones.
CREATE INDEX clients_revoked_at ON auth.clients (revoked_at) WHERE revoked_at IS NOT NULL;

-- A signing key revoked (after a leak) leaves the JWKS at once, unlike a retired one, which stays
-- published until the tokens it signed have expired.
ALTER TABLE auth.signing_keys ADD COLUMN revoked_at timestamptz;
