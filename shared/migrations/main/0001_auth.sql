-- Tenants, their API clients (hashed secrets only) and the token signing keys.
CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE auth.tenants (
    id          text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth.clients (
    tenant_id    text NOT NULL REFERENCES auth.tenants (id),
    client_id    text NOT NULL,
    secret_hash  text NOT NULL,
    scopes       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    PRIMARY KEY (tenant_id, client_id)
);

-- Suite-wide RS256 keys. The newest active key signs; retired keys stay published until every
-- token they signed has expired (retired_at + token lifetime).
CREATE TABLE auth.signing_keys (
    kid              text PRIMARY KEY,
    private_key_pem  text NOT NULL,
    public_jwk       jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    retired_at       timestamptz
);
