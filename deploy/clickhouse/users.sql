-- payroute's ClickHouse users for servers with SQL access control (RBAC,
-- ClickHouse 20.5 and later; 18.16 has none: use users.d/payroute.xml).
--
-- A template: render it with deploy/clickhouse/users.sh sql, which fills in
-- the password hashes (never the passwords), database and networks, and run
-- it as an administrator:
--
--   CH_WRITER_PASSWORD_FILE=/run/secrets/ch-writer \
--   CH_ANALYST_PASSWORD_FILE=/run/secrets/ch-analyst \
--   deploy/clickhouse/users.sh sql | clickhouse-client --multiquery
--
-- Re-running it is safe: every statement is IF NOT EXISTS or a GRANT.

-- Analysts, dashboards and `payroute report`: SELECT on the payroute
-- database, nothing else (readonly = 1: no INSERT, no DDL, no SET). Current
-- releases check the settings a client sends with a query against readonly,
-- and clickhouse-go (payroute report, Grafana's plugin) sends
-- max_execution_time with every query that has a deadline: it is made
-- changeable in readonly mode, up to the limit, and nothing else is
-- (CHANGEABLE_IN_READONLY needs ClickHouse 22.10 or later; on 20.5-22.9 use
-- readonly = 2, which allows every setting but still no write).
CREATE ROLE IF NOT EXISTS {{DATABASE}}_reader;
GRANT SELECT ON {{DATABASE}}.* TO {{DATABASE}}_reader;

CREATE USER IF NOT EXISTS {{ANALYST_USER}}
    IDENTIFIED WITH sha256_hash BY '{{ANALYST_PASSWORD_SHA256}}'
    HOST {{NETWORKS_SQL}}
    DEFAULT ROLE {{DATABASE}}_reader
    SETTINGS readonly = 1,
        max_execution_time = 600 MAX 600 CHANGEABLE_IN_READONLY;
GRANT {{DATABASE}}_reader TO {{ANALYST_USER}};

-- The sink and `payroute migrate`: create the database, its tables and
-- materialized views (the migrations), insert, read back what was loaded,
-- and watch its own inserts in system.processes. Nothing payroute runs
-- drops or alters a table, so it may not.
CREATE USER IF NOT EXISTS {{WRITER_USER}}
    IDENTIFIED WITH sha256_hash BY '{{WRITER_PASSWORD_SHA256}}'
    HOST {{NETWORKS_SQL}};
GRANT CREATE DATABASE, CREATE TABLE, CREATE VIEW, INSERT, SELECT
    ON {{DATABASE}}.* TO {{WRITER_USER}};
GRANT SELECT ON system.processes TO {{WRITER_USER}};
