"""The TWC Customer API v2 and the import API."""
