"""The suite's only public door: authenticate, check the tenant, route, proxy."""
