-- The wishlist service's store (API.md §5). Created here only if that service has not already.
CREATE SCHEMA IF NOT EXISTS wishlist;

CREATE TABLE IF NOT EXISTS wishlist.wishlists (
    id                   uuid PRIMARY KEY,
    tenant_id            text NOT NULL,
    customer_id          uuid,
    customer_ref         text,
    customer_email       text,
    customer_first_name  text,
    customer_last_name   text,
    customer_pseudonym   text,
    name                 text NOT NULL,
    description          text,
    wishlist_ref         text,
    is_private           boolean NOT NULL DEFAULT false,
    deidentified_at      timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS wishlist.wishlist_items (
    id           uuid PRIMARY KEY,
    tenant_id    text NOT NULL,
    wishlist_id  uuid NOT NULL REFERENCES wishlist.wishlists,
    product_ref  text,
    variant_ref  text,
    purchased    boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- De-identification finds a deleted customer's wishlists by tenant and customer id.
CREATE INDEX IF NOT EXISTS wishlists_tenant_customer_idx
    ON wishlist.wishlists (tenant_id, customer_id);
