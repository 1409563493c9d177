"""Tenant authentication: clients, signing keys, and Keycloak-compatible OAuth2 endpoints."""
