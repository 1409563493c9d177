"""Shopper accounts (API.md §10): a storefront logs its shoppers in with a password or a
one-time code and gets an opaque session for the shopper's own profile and addresses."""
