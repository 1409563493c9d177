-- GET /customers/{id} in one statement again, spend figures included (issue 13).
--
-- Since the order figures (0012), a read renders the customer and its totals; done in a tenant
-- transaction that is three round trips (reset + BEGIN + settings, two queries, COMMIT) where
-- live_customer_by_id (0008) took one. Here the customer and its figures come from one call.

-- A customer's maintained figures plus the one that depends on the clock, the running 12-month
-- spend: its window's partial first month (from p_since to p_next_month) summed from the
-- covering index order_facts_placed_idx, the whole months from p_next_month_key on from
-- monthly_spend. The one definition of these figures: customer_service's list reads select from
-- it and live_customer_with_spend joins it. Plain SQL, STABLE, invoker's rights, no SET clause,
-- so PostgreSQL inlines it into the calling query (planned there, under the caller's row-level
-- security, exactly as the statement it replaces).
CREATE FUNCTION customer.order_totals_of(
    p_tenant text, p_ids uuid[], p_since timestamptz, p_next_month timestamptz,
    p_next_month_key text
)
RETURNS TABLE (
    customer_id uuid, total_orders integer, lifetime_value numeric, total_spend numeric,
    first_order_date timestamptz, last_order_date timestamptz, last_order_ref text,
    last_order_name text, last_currency char(3), running_spend numeric
)
LANGUAGE sql STABLE SECURITY INVOKER
AS $$
    SELECT t.customer_id, t.total_orders, t.lifetime_value, t.total_spend, t.first_order_date,
        t.last_order_date, t.last_order_ref, t.last_order_name, t.last_currency,
        (SELECT coalesce(sum(f.total - f.refunded_amount), 0) FROM customer.order_facts AS f
         WHERE f.tenant_id = p_tenant AND f.customer_id = t.customer_id AND f.status = 'placed'
           AND f.order_date >= p_since AND f.order_date < p_next_month)
        + (SELECT coalesce(sum(m.value::numeric), 0)
           FROM pg_catalog.jsonb_each_text(t.monthly_spend) AS m
           WHERE m.key >= p_next_month_key) AS running_spend
    FROM customer.order_totals AS t
    WHERE t.tenant_id = p_tenant AND t.customer_id = ANY(p_ids)
$$;
REVOKE ALL ON FUNCTION customer.order_totals_of(text, uuid[], timestamptz, timestamptz, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION customer.order_totals_of(text, uuid[], timestamptz, timestamptz, text)
    TO customer_suite_app;

-- live_customer_by_id with the customer's figures (all null while it has no placed order): sets
-- role and tenant transaction-locally, then reads, as its caller (SECURITY INVOKER), so the
-- policies of customers, order_totals and order_facts apply to every row it reads exactly as in
-- a tenant transaction; the statement is its own transaction and the settings end with it.
CREATE FUNCTION customer.live_customer_with_spend(
    p_tenant text, p_id uuid, p_since timestamptz, p_next_month timestamptz,
    p_next_month_key text
)
RETURNS TABLE (
    id uuid, customer_ref text, alternate_customer_ref text, email text, first_name text,
    last_name text, mobile text, phone text, profile jsonb, deleted boolean,
    created_at timestamptz, last_modified_at timestamptz,
    total_orders integer, lifetime_value numeric, total_spend numeric,
    first_order_date timestamptz, last_order_date timestamptz, last_order_ref text,
    last_order_name text, last_currency char(3), running_spend numeric
)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.set_config('role', 'customer_suite_app', true),
            pg_catalog.set_config('app.tenant', p_tenant, true);
    RETURN QUERY
        SELECT c.id, c.customer_ref, c.alternate_customer_ref, c.email, c.first_name,
               c.last_name, c.mobile, c.phone, c.profile, c.deleted, c.created_at,
               c.last_modified_at, t.total_orders, t.lifetime_value, t.total_spend,
               t.first_order_date, t.last_order_date, t.last_order_ref, t.last_order_name,
               t.last_currency, t.running_spend
        FROM customer.customers AS c
        LEFT JOIN LATERAL customer.order_totals_of(
            p_tenant, ARRAY[c.id], p_since, p_next_month, p_next_month_key
        ) AS t ON true
        WHERE c.tenant_id = p_tenant AND c.id = p_id AND NOT c.deleted;
END
$$;
REVOKE ALL ON FUNCTION
    customer.live_customer_with_spend(text, uuid, timestamptz, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    customer.live_customer_with_spend(text, uuid, timestamptz, timestamptz, text)
    TO customer_suite_app;
