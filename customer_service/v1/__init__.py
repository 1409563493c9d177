"""TWC's v1 Shopify-style customer resource (API.md §12): a translation layer over the v2
use cases, so both versions share the stored customers, the rules and the events."""
