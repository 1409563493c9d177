-- Customers and notes. Every key starts with tenant_id; identifiers are unique per tenant among
-- live customers only, so a deleted customer's email and refs can be reused.
CREATE SCHEMA IF NOT EXISTS customer;

CREATE TABLE customer.customers (
    tenant_id               text NOT NULL,
    id                      uuid NOT NULL,
    customer_ref            text,
    alternate_customer_ref  text,
    email                   text,
    first_name              text,
    last_name               text,
    mobile                  text,
    phone                   text,
    -- Every other field of the representation (addresses, attributeGroups, opt-ins, ...).
    profile                 jsonb NOT NULL DEFAULT '{}'::jsonb,
    deleted                 boolean NOT NULL DEFAULT false,
    created_at              timestamptz NOT NULL DEFAULT now(),
    last_modified_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at              timestamptz,
    PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX customers_email_key
    ON customer.customers (tenant_id, lower(email)) WHERE NOT deleted;
CREATE UNIQUE INDEX customers_customer_ref_key
    ON customer.customers (tenant_id, customer_ref) WHERE NOT deleted;
CREATE UNIQUE INDEX customers_alternate_customer_ref_key
    ON customer.customers (tenant_id, alternate_customer_ref) WHERE NOT deleted;
CREATE INDEX customers_first_name_idx
    ON customer.customers (tenant_id, first_name) WHERE NOT deleted;
CREATE INDEX customers_last_name_idx
    ON customer.customers (tenant_id, last_name) WHERE NOT deleted;
CREATE INDEX customers_mobile_idx
    ON customer.customers (tenant_id, mobile) WHERE NOT deleted;
CREATE INDEX customers_phone_idx
    ON customer.customers (tenant_id, phone) WHERE NOT deleted;

CREATE TABLE customer.notes (
    tenant_id         text NOT NULL,
    id                uuid NOT NULL,
    customer_id       uuid NOT NULL,
    note              text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_modified_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id)
        REFERENCES customer.customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX notes_customer_idx ON customer.notes (tenant_id, customer_id, created_at DESC);

-- Transactional outbox: written in the same transaction as the change it announces.
-- It is one queue for all tenants (the relay drains it in order), hence its own key.
CREATE TABLE customer.outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    tenant_id    text NOT NULL,
    exchange     text NOT NULL,
    routing_key  text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz
);
CREATE INDEX outbox_unsent_idx ON customer.outbox (id) WHERE sent_at IS NULL;

-- Wake the relay as soon as a change commits (NOTIFY is delivered on commit only).
CREATE FUNCTION customer.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('customer_outbox', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON customer.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION customer.notify_outbox();

-- Row-level security: the second line of tenant isolation. Queries run as customer_suite_app
-- with app.tenant set per transaction; without that setting a query sees nothing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'customer_suite_app') THEN
        CREATE ROLE customer_suite_app NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA customer TO customer_suite_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON customer.customers, customer.notes TO customer_suite_app;
GRANT INSERT ON customer.outbox TO customer_suite_app;
GRANT USAGE ON SEQUENCE customer.outbox_id_seq TO customer_suite_app;

ALTER TABLE customer.customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer.customers
    USING (tenant_id = current_setting('app.tenant', true))
    WITH CHECK (tenant_id = current_setting('app.tenant', true));
CREATE POLICY tenant_isolation ON customer.notes
    USING (tenant_id = current_setting('app.tenant', true))
    WITH CHECK (tenant_id = current_setting('app.tenant', true));
