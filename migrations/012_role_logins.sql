-- Each role logs in as itself (issue 11): the API as conntrail_reader, collectors as conntrail_writer,
-- never through SET ROLE from the owner's login (RESET ROLE would hand the owner back). On a server the
-- two roles get LOGIN here, without a password: the operator sets one per role
-- (ALTER ROLE conntrail_reader PASSWORD '...'), and until then they cannot log in with password
-- authentication. Their statement timeouts are those of STORE_ROLES (src/store/roles.ts, a test checks
-- they agree), set on the roles so that a BI tool logging in directly gets the same limit as the API.
-- The value is in milliseconds.
ALTER ROLE conntrail_reader LOGIN;
ALTER ROLE conntrail_writer LOGIN;
ALTER ROLE conntrail_reader SET statement_timeout = 60000;
ALTER ROLE conntrail_writer SET statement_timeout = 60000;
