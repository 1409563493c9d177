-- The data-subject export (API.md §9) reads a customer's wishlists' items by wishlist id.
CREATE INDEX IF NOT EXISTS wishlist_items_wishlist_idx
    ON wishlist.wishlist_items (tenant_id, wishlist_id);
