--
-- Consumers (SPEC section 8) attacked by a role that owns a table and a
-- type: nothing it attaches to its types runs with more rights than its
-- own when a more privileged role reads the consumers view or purges
-- tombstones; a consumer whose creator lost SELECT does not hold the
-- table's tombstones; arguments that would fail later fail now.
--
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_cons_att;
DROP ROLE IF EXISTS regress_cons_vic;
DROP ROLE IF EXISTS regress_cons_mem;
DROP ROLE IF EXISTS regress_cons_extra;
RESET client_min_messages;
CREATE ROLE regress_cons_att LOGIN;
CREATE ROLE regress_cons_vic LOGIN;
CREATE SCHEMA catt AUTHORIZATION regress_cons_att;
CREATE SCHEMA cvic AUTHORIZATION regress_cons_vic;
GRANT USAGE ON SCHEMA cvic TO regress_cons_att;

SET ROLE regress_cons_att;
-- who ran the attacker's code, and as whom
CREATE TABLE catt.ran (cur name, sess name);
GRANT INSERT ON catt.ran TO PUBLIC;
CREATE TYPE catt.color AS ENUM ('red', 'green', 'blue');
CREATE FUNCTION catt.color_json(c catt.color) RETURNS json LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  INSERT INTO catt.ran VALUES (current_user, session_user);
  IF current_user <> 'regress_cons_att' THEN
    EXECUTE 'ALTER ROLE regress_cons_att SUPERUSER';
  END IF;
  RETURN to_json(c::text);
END $$;
CREATE CAST (catt.color AS json) WITH FUNCTION catt.color_json(catt.color);

-- 1. a non-key column of its type, a consumer never received from
CREATE TABLE catt.plain (id int PRIMARY KEY, c catt.color);
SELECT sequenced_register('catt.plain');
SELECT outcome FROM sequenced_upsert('catt.plain', '[{"id": 1, "c": "red"}]', 1);
SELECT sequenced_consumer_create('monitor_me', 'catt.plain');
-- 2. a key of its type, a tombstone in flight
CREATE TABLE catt.t_enum (k catt.color PRIMARY KEY, v text);
SELECT sequenced_register('catt.t_enum');
SELECT outcome FROM sequenced_upsert('catt.t_enum', '[{"k": "red", "v": "1"}, {"k": "blue", "v": "3"}]', 1);
SELECT outcome FROM sequenced_delete('catt.t_enum', '{"k": "blue"}', 2);
SELECT sequenced_consumer_create('c_enum', 'catt.t_enum');
SELECT key, deleted FROM sequenced_receive('c_enum');
-- its own view, as itself: counted
SELECT consumer, pending, in_flight FROM sequenced_consumers ORDER BY consumer;
RESET ROLE;
TRUNCATE catt.ran;

-- the superuser reads the view: the attacker's consumers are listed, their
-- counts made as the attacker (the table's owner), never as the superuser
SELECT consumer, target, pending, in_flight FROM sequenced_consumers
 WHERE consumer IN ('monitor_me', 'c_enum') ORDER BY consumer;
-- the superuser purges the attacker's tombstones: the one in flight stays
SELECT sequenced_purge_tombstones('catt.t_enum', 100);
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_cons_att';
SELECT count(*) AS ran, count(*) FILTER (WHERE cur <> 'regress_cons_att') AS ran_as_another FROM catt.ran;

-- 3. a consumer whose creator lost SELECT holds no tombstone
SET ROLE regress_cons_vic;
CREATE TABLE cvic.orders (id int PRIMARY KEY, v text NOT NULL);
SELECT sequenced_register('cvic.orders');
GRANT SELECT ON cvic.orders TO regress_cons_att;
SELECT count(*) FROM sequenced_upsert('cvic.orders', (SELECT jsonb_agg(jsonb_build_object('id', g, 'v', 'x')) FROM generate_series(1, 10) g), 1);
SET ROLE regress_cons_att;
SELECT sequenced_consumer_create('orders_sync', 'cvic.orders');
SET ROLE regress_cons_vic;
SELECT count(*) FROM sequenced_delete('cvic.orders', (SELECT jsonb_agg(jsonb_build_object('id', g)) FROM generate_series(1, 10) g), 2);
-- while it may read the table, its consumer holds them ...
BEGIN;
SELECT sequenced_purge_tombstones('cvic.orders', 1000);
ROLLBACK;
REVOKE SELECT ON cvic.orders FROM regress_cons_att;
-- ... and no longer
SELECT sequenced_purge_tombstones('cvic.orders', 1000);
SELECT sequenced_consumer_drop('orders_sync');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- 3b. the view read by a member of a consumer's creator who has a privilege
-- the table's owner lacks, under the owner's row-level security: counting
-- as itself would run the owner's code with its rights, counting as the
-- owner would not show what its policy shows -- the counts are NULL.  The
-- creator itself counts as itself, under the policy.
CREATE ROLE regress_cons_extra;
CREATE ROLE regress_cons_mem IN ROLE regress_cons_vic, regress_cons_extra;
SET ROLE regress_cons_att;
CREATE TABLE catt.rls (id int PRIMARY KEY, tenant text);
SELECT sequenced_register('catt.rls');
SELECT count(*) FROM sequenced_upsert('catt.rls', '[{"id": 1, "tenant": "a"}, {"id": 2, "tenant": "b"}]', 1);
ALTER TABLE catt.rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_a ON catt.rls USING (tenant = 'a');
GRANT USAGE ON SCHEMA catt TO regress_cons_vic;
GRANT SELECT ON catt.rls TO regress_cons_vic;
SET ROLE regress_cons_vic;
SELECT sequenced_consumer_create('rls_c', 'catt.rls');
SELECT consumer, pending, in_flight FROM sequenced_consumers WHERE consumer = 'rls_c';
SET ROLE regress_cons_mem;
SELECT consumer, pending IS NULL AS pending_null, in_flight IS NULL AS in_flight_null, acked_through
  FROM sequenced_consumers WHERE consumer = 'rls_c';
SET ROLE regress_cons_vic;
SELECT key FROM sequenced_receive('rls_c');
SELECT sequenced_consumer_drop('rls_c');
RESET ROLE;
DROP ROLE regress_cons_mem, regress_cons_extra;

-- 4. arguments that would fail every later call fail now (22023)
SET ROLE regress_cons_att;
SELECT sequenced_consumer_create('far', 'catt.plain', visibility_timeout => '1001 years');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_create('far', 'catt.plain', visibility_timeout => '1000 years');
SELECT count(*) FROM sequenced_receive('far', 1, '178000000 years');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_nack('far', '{1}', '300000 years');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_create(repeat('n', 1001), 'catt.plain');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_create(repeat('n', 1000), 'catt.plain');
SELECT sequenced_consumer_drop(repeat('n', 1000));
-- max_rows is a limit, not an allocation
SELECT count(*) FROM sequenced_receive('far', 2147483647);
SELECT count(*) FROM sequenced_changes('catt.plain', 0, 2147483647);
SELECT sequenced_consumer_drop('far');
RESET ROLE;

-- clean up
SELECT sequenced_consumer_drop(consumer) FROM sequenced_consumers
 WHERE consumer IN ('monitor_me', 'c_enum', 'orders_sync');
SELECT sequenced_unregister(t) FROM unnest('{catt.plain,catt.t_enum,catt.rls,cvic.orders}'::regclass[]) t;
DROP SCHEMA catt CASCADE;
DROP SCHEMA cvic CASCADE;
DROP ROLE regress_cons_att, regress_cons_vic;
