-- Whether a tenant exists, for services other than auth_service (issue 12): impex_worker checks
-- a queue drop's tenant through this function instead of reading auth_service's table, so
-- auth.tenants stays auth_service's to change. It tells only whether an id exists; it is called
-- as the service's own login (the app role tenant transactions switch to has no rights on the
-- auth schema, and gets none here).
CREATE FUNCTION auth.tenant_exists(p_tenant text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM auth.tenants WHERE id = p_tenant)
$$;
