-- Order facts (API.md §11) and the per-customer figures maintained from them.
--
-- A fact names its customer by id, customerRef or email; `customer_id` is null while nobody
-- matches (the fact waits for that customer to be created or imported), and `customer_kind` /
-- `customer_key` keep how it was named so it can attach later (an email lower-cased).
CREATE TABLE customer.order_facts (
    tenant_id        text NOT NULL,
    order_ref        text NOT NULL,
    order_name       text,
    customer_id      uuid,
    customer_kind    text NOT NULL CHECK (customer_kind IN ('customerId', 'customerRef', 'email')),
    customer_key     text NOT NULL,
    order_date       timestamptz NOT NULL,
    total            numeric(17, 2) NOT NULL CHECK (total >= 0),
    refunded_amount  numeric(17, 2) NOT NULL CHECK (refunded_amount >= 0),
    currency         char(3) NOT NULL,
    status           text NOT NULL CHECK (status IN ('placed', 'cancelled', 'test')),
    occurred_at      timestamptz NOT NULL,
    event_id         text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, order_ref),
    FOREIGN KEY (tenant_id, customer_id)
        REFERENCES customer.customers (tenant_id, id) ON DELETE CASCADE
);
-- The part of the running 12-month spend in the window's first (partial) month is summed at read
-- time from this index alone (index-only scan).
CREATE INDEX order_facts_placed_idx ON customer.order_facts (tenant_id, customer_id, order_date)
    INCLUDE (total, refunded_amount) WHERE status = 'placed';
-- Deleting a customer's facts, recomputing after a status change.
CREATE INDEX order_facts_customer_idx ON customer.order_facts (tenant_id, customer_id);
-- Facts waiting for their customer, looked up by the key a create or an import chunk brings.
CREATE INDEX order_facts_pending_idx ON customer.order_facts (tenant_id, customer_kind, customer_key)
    WHERE customer_id IS NULL;

-- Every event id applied, so a redelivered or resent event changes nothing.
CREATE TABLE customer.order_events_seen (
    tenant_id  text NOT NULL,
    event_id   text NOT NULL,
    seen_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);

-- The time-independent figures of a customer's placed orders, rewritten in the transaction that
-- changes one of its facts; no row while the customer has no placed order.
CREATE TABLE customer.order_totals (
    tenant_id         text NOT NULL,
    customer_id       uuid NOT NULL,
    total_orders      integer NOT NULL,
    lifetime_value    numeric(19, 2) NOT NULL,
    total_spend       numeric(19, 2) NOT NULL,
    first_order_date  timestamptz NOT NULL,
    last_order_date   timestamptz NOT NULL,
    last_order_ref    text NOT NULL,
    last_order_name   text,
    last_currency     char(3) NOT NULL,
    -- Spend per calendar month (UTC), {"2026-11": 120.50, ...}: the running 12-month spend adds
    -- the whole months of its window from here and sums only the partial first month's facts.
    monthly_spend     jsonb NOT NULL,
    PRIMARY KEY (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id)
        REFERENCES customer.customers (tenant_id, id) ON DELETE CASCADE
);

GRANT SELECT, INSERT, UPDATE, DELETE
    ON customer.order_facts, customer.order_events_seen, customer.order_totals
    TO customer_suite_app;
ALTER TABLE customer.order_facts ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer.order_events_seen ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer.order_totals ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer.order_facts
    USING (tenant_id = current_setting('app.tenant', true))
    WITH CHECK (tenant_id = current_setting('app.tenant', true));
CREATE POLICY tenant_isolation ON customer.order_events_seen
    USING (tenant_id = current_setting('app.tenant', true))
    WITH CHECK (tenant_id = current_setting('app.tenant', true));
CREATE POLICY tenant_isolation ON customer.order_totals
    USING (tenant_id = current_setting('app.tenant', true))
    WITH CHECK (tenant_id = current_setting('app.tenant', true));
