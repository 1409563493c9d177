-- Shopper accounts (API.md §10): a password per customer, opaque sessions and one-time codes.
--
-- Secrets are stored only as hashes: the password as an argon2id string, session tokens and OTP
-- challenge tokens as SHA-256 of 256 random bits (a fast hash is enough for a random secret
-- that long; only passwords need a slow one). Every key starts with tenant_id, so a token
-- presented under another tenant finds nothing.
CREATE TABLE customer.shopper_credentials (
    tenant_id      text NOT NULL,
    customer_id    uuid NOT NULL,
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id)
        REFERENCES customer.customers (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE customer.shopper_sessions (
    tenant_id    text NOT NULL,
    token_hash   bytea NOT NULL,
    customer_id  uuid NOT NULL,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, customer_id)
        REFERENCES customer.customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX shopper_sessions_customer_idx
    ON customer.shopper_sessions (tenant_id, customer_id);

-- One row per code sent. `code_hash` is SHA-256 over the challenge and the code; the code itself
-- travels only in the outbox row, blanked by the relay once published.
CREATE TABLE customer.shopper_otps (
    tenant_id    text NOT NULL,
    token_hash   bytea NOT NULL,
    customer_id  uuid NOT NULL,
    code_hash    bytea NOT NULL,
    attempts     smallint NOT NULL DEFAULT 0,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, customer_id)
        REFERENCES customer.customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX shopper_otps_customer_idx ON customer.shopper_otps (tenant_id, customer_id);

-- A customer delete is a soft delete (an UPDATE), so the cascades above never fire for it. This
-- trigger removes the shopper's credentials, sessions and codes in the delete's own transaction,
-- whichever path deletes (the API, batch deletes, v1): no path can forget it. It runs as the
-- caller (customer_suite_app) under the caller's app.tenant, like the delete itself.
CREATE FUNCTION customer.forget_shopper() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM customer.shopper_credentials
        WHERE tenant_id = NEW.tenant_id AND customer_id = NEW.id;
    DELETE FROM customer.shopper_sessions
        WHERE tenant_id = NEW.tenant_id AND customer_id = NEW.id;
    DELETE FROM customer.shopper_otps
        WHERE tenant_id = NEW.tenant_id AND customer_id = NEW.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER customers_forget_shopper
    AFTER UPDATE OF deleted ON customer.customers
    FOR EACH ROW WHEN (NEW.deleted AND NOT OLD.deleted)
    EXECUTE FUNCTION customer.forget_shopper();

GRANT SELECT, INSERT, UPDATE, DELETE
    ON customer.shopper_credentials, customer.shopper_sessions, customer.shopper_otps
    TO customer_suite_app;

ALTER TABLE customer.shopper_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer.shopper_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer.shopper_otps ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer.shopper_credentials
    USING (tenant_id = current_setting('app.tenant', true))
    WITH CHECK (tenant_id = current_setting('app.tenant', true));
CREATE POLICY tenant_isolation ON customer.shopper_sessions
    USING (tenant_id = current_setting('app.tenant', true))
    WITH CHECK (tenant_id = current_setting('app.tenant', true));
CREATE POLICY tenant_isolation ON customer.shopper_otps
    USING (tenant_id = current_setting('app.tenant', true))
    WITH CHECK (tenant_id = current_setting('app.tenant', true));
