-- The SQL endpoint's logins act as roles that cannot turn themselves into someone else.
-- conntrail_owner: what the `conntrail` login of the embedded endpoint acts as (local owner, not superuser).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'conntrail_owner') THEN
    CREATE ROLE conntrail_owner NOLOGIN;
  END IF;
END
$$;
GRANT conntrail_writer, conntrail_reader TO conntrail_owner;
GRANT USAGE ON SCHEMA conntrail, bi TO conntrail_owner;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA conntrail TO conntrail_owner;
GRANT SELECT ON ALL TABLES IN SCHEMA bi TO conntrail_owner;
-- Tables and views later migrations add get the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA conntrail GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO conntrail_owner;
ALTER DEFAULT PRIVILEGES IN SCHEMA bi GRANT SELECT ON TABLES TO conntrail_owner;
-- The owner's own tables and views (scratch analysis) go in public; conntrail's schemas stay the migrations'.
GRANT USAGE, CREATE ON SCHEMA public TO conntrail_owner;

-- Functions that change the session (a role through set_config('role', ...)) or show other clients'
-- prepared statements and cursors: not for PUBLIC.
REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_prepared_statement() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_cursor() FROM PUBLIC;
REVOKE SELECT ON pg_catalog.pg_prepared_statements, pg_catalog.pg_cursors FROM PUBLIC;

-- No temporary tables (COPY into a temp table was one way to break the embedded engine).
-- The embedded engine (PGlite, built with Emscripten) runs in its template1 database, whose pg_database row
-- it cannot update ("tuple concurrently deleted", SQLSTATE XX000, which also aborts the transaction): there
-- the SQL endpoint's statement classifier refuses every form of temporary table instead. A server gets the
-- revoke (owners of the database keep TEMP through their ownership).
DO $$
BEGIN
  IF version() NOT LIKE '%Emscripten%' THEN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
  END IF;
END
$$;
