"""Building the suite's OpenAPI 3.1 document from the services' parts (each service's
`openapi` module) and the gateway's public routes; deploy/local/openapi.py runs it."""
