--
-- attack: a role that owns a table and a type tries to run its own code
-- with more rights than its own through pg_sequenced (issue 15).  Every
-- function of the attacker notes the role it runs as, and makes the
-- attacker a superuser whenever it runs as anyone else; the test then shows
-- that every function ran as the attacker and the attacker is no superuser.
-- Also: the append-only feed under row-level security, and
-- sequenced_max_sequence without rights on the table.
--
CREATE ROLE regress_attacker NOLOGIN;
CREATE ROLE regress_victim NOLOGIN;
CREATE SCHEMA att AUTHORIZATION regress_attacker;
CREATE TABLE attack_log (who name, what text);
GRANT SELECT, INSERT ON attack_log TO PUBLIC;

SET ROLE regress_attacker;
SET search_path = att, public;
CREATE FUNCTION att.note(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.attack_log VALUES (current_user, what);
    IF current_user <> 'regress_attacker' THEN
        ALTER ROLE regress_attacker SUPERUSER;
    END IF;
END $$;

-- 1. ANALYZE of the key state (registration runs it; so would autovacuum
--    and a superuser's database-wide ANALYZE): a range type's subtype_diff
CREATE FUNCTION att.diff(a int4, b int4) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM att.note('subtype_diff'); RETURN a - b; END $$;
CREATE TYPE att.r AS RANGE (subtype = int4, subtype_diff = att.diff);
CREATE TABLE att.t1 (k att.r PRIMARY KEY, v att.r);
INSERT INTO att.t1 SELECT att.r(i, i + 1), att.r(i, i + 2) FROM generate_series(1, 300) i;
SELECT sequenced_register('att.t1');
SELECT count(*) FROM sequenced_upsert('att.t1', '[{"k": "[1,2)", "v": "[5,9)"}, {"k": "[500,501)"}]', 10);

-- 2. the feed's keys: a cast to json of the key's type (an enum)
CREATE TYPE att.e AS ENUM ('x', 'y');
CREATE FUNCTION att.e_json(v att.e) RETURNS json LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM att.note('cast to json'); RETURN to_json(v::text); END $$;
CREATE CAST (att.e AS json) WITH FUNCTION att.e_json(att.e);
CREATE TABLE att.t2 (k att.e PRIMARY KEY, m att.e);
SELECT sequenced_register('att.t2');
SELECT * FROM sequenced_upsert('att.t2', '[{"k": "x", "m": "y"}, {"k": "y"}]', 1);
SELECT pos > 0 AS has_pos, key, deleted, record FROM sequenced_changes('att.t2');
SELECT * FROM sequenced_delete('att.t2', '{"k": "y"}', 2);
SELECT key, deleted FROM sequenced_changes('att.t2') ORDER BY pos;

-- 3. an append-only table's backfill: the same cast on a non-key column
CREATE TABLE att.t3 (m att.e, _sdc_sequence bigint);
INSERT INTO att.t3 VALUES ('x', 1), ('y', 2);
SELECT sequenced_register('att.t3', key_columns => '{}');
SELECT * FROM sequenced_upsert('att.t3', '{"m": "y"}', 3);
SELECT seq, record FROM sequenced_changes('att.t3') ORDER BY pos;

-- 4. the key-change check: column k dropped and made again as a type with
--    an implicit cast (the attacker's code) to the state's key type
CREATE TYPE att.five AS ENUM ('5');
CREATE FUNCTION att.five_int(v att.five) RETURNS int4 LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM att.note('implicit cast'); RETURN 5; END $$;
CREATE CAST (att.five AS int4) WITH FUNCTION att.five_int(att.five) AS IMPLICIT;
CREATE TABLE att.t4 (k int4 PRIMARY KEY, k2 int4 NOT NULL UNIQUE);
SELECT sequenced_register('att.t4');
SELECT * FROM sequenced_delete('att.t4', '{"k": 5}', 1);
ALTER TABLE att.t4 DROP COLUMN k;
ALTER TABLE att.t4 ADD COLUMN k att.five;
INSERT INTO att.t4 (k, k2) VALUES ('5', 1);
SELECT sequenced_register('att.t4', '{k2}');
\echo :LAST_ERROR_SQLSTATE

-- 5. composite keys holding the enum, a domain whose CHECK is the
--    attacker's, and the range type again, through every path: register
--    (backfill), upsert, delete, the feed, purge, staging, import
CREATE TYPE att.pair AS (a int4, b att.e);
CREATE FUNCTION att.ok(v int4) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM att.note('domain check'); RETURN v > 0; END $$;
CREATE DOMAIN att.pos AS int4 CHECK (att.ok(VALUE));
CREATE TABLE att.t5 (p att.pair, d att.pos, r att.r, PRIMARY KEY (p, d));
INSERT INTO att.t5 VALUES (ROW(1, 'x'), 1, '[1,3)');
SELECT sequenced_register('att.t5', deletes => 'soft');
SELECT * FROM sequenced_upsert('att.t5', '[{"p": "(2,y)", "d": 2, "r": "[2,4)"}]', 5);
SELECT * FROM sequenced_delete('att.t5', '[{"p": "(1,x)", "d": 1}, {"p": "(9,x)", "d": 9}]', 6);
SELECT key, deleted FROM sequenced_changes('att.t5') ORDER BY pos;
SELECT sequenced_purge_tombstones('att.t5', 100);
CREATE TABLE att.t5_inbox (p att.pair, d att.pos, r att.r, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON att.t5_inbox REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('t5', 'keep');
INSERT INTO att.t5_inbox VALUES (ROW(3, 'x'), 3, '[7,8)', 7);
SELECT * FROM sequenced_import('{"table_name": "att.t6", "key_names": ["id"],
    "schema": {"properties": {"id": {"type": "integer"}}},
    "messages": [{"sequence": 1, "data": {"id": 1}}]}');
ALTER TABLE att.t6 ADD COLUMN m att.e;
SELECT * FROM sequenced_upsert('att.t6', '{"id": 2, "m": "x"}', 2);
SELECT key, record FROM sequenced_changes('att.t6') ORDER BY pos;
SELECT key, deleted, record - '_sdc_deleted_at' AS record FROM sequenced_changes('att.t5') ORDER BY pos;

-- 6. code the planner runs: immutable functions of index expressions,
--    partial index predicates, extended statistics and partition
--    constraints are folded by the planner of any statement naming the
--    table.  No such statement runs as the extension's owner: registration
--    (backfill, key-change check), purge and a delete's hidden-row check
--    read the table in C.
CREATE FUNCTION att.fold(v int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM att.note('planner folds'); RETURN v; END $$;
CREATE TABLE att.t7 (id int PRIMARY KEY, v int, w int);
CREATE INDEX ON att.t7 ((id + att.fold(0)));
CREATE INDEX ON att.t7 (w) WHERE w > att.fold(1);
INSERT INTO att.t7 VALUES (1, 1, 1), (2, 2, 2);
CREATE STATISTICS att.t7_st ON (v + att.fold(0)), id FROM att.t7;
ANALYZE att.t7;
SELECT sequenced_register('att.t7');
SELECT * FROM sequenced_delete('att.t7', '[{"id": 1}, {"id": 3}]', 5);
SELECT sequenced_purge_tombstones('att.t7', 10);
SELECT sequenced_register('att.t7', '{v}');
\echo :LAST_ERROR_SQLSTATE
CREATE UNIQUE INDEX ON att.t7 (w);
SELECT sequenced_register('att.t7', '{w}');
ALTER TABLE att.t7 ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY everything ON att.t7 USING (true);
SELECT * FROM sequenced_delete('att.t7', '[{"w": 2}, {"w": 9}]', 6);
ALTER TABLE att.t7 NO FORCE ROW LEVEL SECURITY;
SELECT sequenced_purge_tombstones('att.t7', 10);
CREATE TABLE att.t8 (id int, v int, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE att.t8a PARTITION OF att.t8 FOR VALUES FROM (0) TO (100);
ALTER TABLE att.t8a ADD CONSTRAINT c CHECK (v > att.fold(-1));
INSERT INTO att.t8 VALUES (1, 1);
SELECT sequenced_register('att.t8');
SELECT * FROM sequenced_delete('att.t8', '[{"id": 1}, {"id": 2}]', 3);
SELECT sequenced_purge_tombstones('att.t8', 10);
RESET ROLE;
RESET search_path;
-- a superuser's database-wide ANALYZE analyzes the key state as its owner
ANALYZE;

-- the state tables belong to the tables' owner, and follow it
SELECT count(*) AS state_tables_not_the_owners
  FROM _sequenced.config c JOIN pg_class t ON t.oid = c.relid JOIN pg_class s ON s.oid = c.state_rel
 WHERE s.relowner <> t.relowner;
ALTER TABLE att.t2 OWNER TO regress_victim;
SELECT s.relowner::regrole AS state_owner FROM _sequenced.config c JOIN pg_class s ON s.oid = c.state_rel
 WHERE c.relid = 'att.t2'::regclass;
ALTER TABLE att.t2 OWNER TO regress_attacker;

-- every function of the attacker ran as the attacker; nobody made it superuser
SELECT who, what, count(*) > 0 AS ran FROM attack_log GROUP BY who, what ORDER BY what;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_attacker';

--
-- 5. the append-only feed applies row-level security; 6.
-- sequenced_max_sequence needs SELECT on the table
--
CREATE TABLE events (tenant name, body text);
ALTER TABLE events OWNER TO regress_victim;
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON events USING (tenant = current_user);
GRANT SELECT, INSERT, UPDATE ON events TO regress_attacker;
SET ROLE regress_victim;
INSERT INTO events VALUES ('regress_victim', 'secret 1');
SELECT sequenced_register('events', key_columns => '{}');
SELECT * FROM sequenced_upsert('events', '[{"tenant": "regress_victim", "body": "secret 2"}]', 1);
RESET ROLE;
SET ROLE regress_attacker;
SELECT * FROM sequenced_upsert('events', '[{"tenant": "regress_attacker", "body": "mine"}]', 2);
SELECT * FROM events;
SELECT seq, record FROM sequenced_changes('public.events') ORDER BY pos;
RESET ROLE;
SET ROLE regress_victim;
SELECT seq, record FROM sequenced_changes('events') ORDER BY pos;
RESET ROLE;
CREATE TABLE private_t (id int PRIMARY KEY);
ALTER TABLE private_t OWNER TO regress_victim;
SELECT sequenced_register('private_t');
SELECT * FROM sequenced_upsert('private_t', '{"id": 1}', 42);
SET ROLE regress_attacker;
SELECT sequenced_max_sequence('public.private_t');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SELECT (id) ON private_t TO regress_attacker;
SET ROLE regress_attacker;
SELECT sequenced_max_sequence('public.private_t');
RESET ROLE;

--
-- 7. under row-level security: tombstones are not shown (their keys are
-- no policy's to judge), the view shows max_sequence only to roles that
-- may read the table, and tombstones are purged only by a role the
-- policies do not limit
--
CREATE TABLE accounts (email text PRIMARY KEY, owner_name name, balance int);
ALTER TABLE accounts OWNER TO regress_victim;
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON accounts USING (owner_name = current_user);
GRANT SELECT, INSERT, UPDATE, DELETE ON accounts TO regress_attacker;
REVOKE SELECT (id) ON private_t FROM regress_attacker;
SET ROLE regress_victim;
SELECT sequenced_register('accounts');
SELECT count(*) FROM sequenced_upsert('accounts', '[{"email": "ceo@corp", "owner_name": "regress_victim"},
                                                   {"email": "cfo@corp", "owner_name": "regress_victim"}]', 1);
SELECT * FROM sequenced_delete('accounts', '{"email": "cfo@corp"}', 2);
RESET ROLE;
SET ROLE regress_attacker;
SELECT count(*) FROM sequenced_upsert('accounts', '{"email": "me@corp", "owner_name": "regress_attacker"}', 3);
SELECT key, deleted FROM sequenced_changes('public.accounts') ORDER BY pos;
SELECT sequenced_purge_tombstones('public.accounts', 100);
\echo :LAST_ERROR_SQLSTATE
SELECT relid, max_sequence FROM sequenced_tables WHERE relid::text IN ('accounts', 'private_t') ORDER BY 1;
RESET ROLE;
SET ROLE regress_victim;
SELECT key, deleted FROM sequenced_changes('accounts') ORDER BY pos;
SELECT sequenced_purge_tombstones('accounts', 100);
RESET ROLE;

--
-- 8. places are reused: an append-only feed under row-level security shows
-- a change only while its row still holds what was inserted (VACUUM FULL
-- renumbers rows: another tenant's row must not be found at the place)
--
CREATE TABLE diary (tenant name, body text);
ALTER TABLE diary OWNER TO regress_victim;
ALTER TABLE diary ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON diary USING (tenant = current_user);
GRANT SELECT, INSERT, UPDATE, DELETE ON diary TO regress_attacker;
SET ROLE regress_victim;
SELECT sequenced_register('diary', key_columns => '{}');
RESET ROLE;
SET ROLE regress_attacker;
SELECT count(*) FROM sequenced_upsert('public.diary', '{"tenant": "regress_attacker", "body": "placeholder"}', 1);
RESET ROLE;
SET ROLE regress_victim;
SELECT count(*) FROM sequenced_upsert('diary', '{"tenant": "regress_victim", "body": "secret"}', 2);
RESET ROLE;
SET ROLE regress_attacker;
DELETE FROM diary;
RESET ROLE;
VACUUM FULL diary;
SET ROLE regress_attacker;
SELECT count(*) FROM sequenced_upsert('public.diary', '{"tenant": "regress_attacker", "body": "again"}', 3);
SELECT seq, record->>'body' AS body FROM sequenced_changes('public.diary') ORDER BY pos;
RESET ROLE;

--
-- 9. a caller's settings for new tables do not place the key state: it
-- goes into the table's tablespace, not into one the caller may not use
--
SET allow_in_place_tablespaces = on;
CREATE TABLESPACE regress_attack_ts LOCATION '';
CREATE TABLE att_ts (id int PRIMARY KEY);
ALTER TABLE att_ts OWNER TO regress_attacker;
SET ROLE regress_attacker;
SET default_tablespace = regress_attack_ts;
SELECT sequenced_register('public.att_ts');
RESET default_tablespace;
RESET ROLE;
SELECT count(*) AS state_in_that_tablespace FROM pg_class
 WHERE reltablespace = (SELECT oid FROM pg_tablespace WHERE spcname = 'regress_attack_ts');

--
-- 10. an unqualified staging target names a table of the staging table's
-- owner: another role's table of that name in the staging table's schema
-- (where others may create tables) does not catch the rows
--
CREATE SCHEMA shared_inbox;
GRANT CREATE, USAGE ON SCHEMA shared_inbox TO PUBLIC;
CREATE SCHEMA victim_app AUTHORIZATION regress_victim;
GRANT USAGE ON SCHEMA victim_app TO regress_attacker;
SET ROLE regress_attacker;
CREATE TABLE shared_inbox.customers (id int PRIMARY KEY, v text, _sdc_sequence bigint);
GRANT ALL ON shared_inbox.customers TO PUBLIC;
CREATE FUNCTION att.att_catch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM att.note('staging caught'); RETURN NEW; END $$;
CREATE TRIGGER catch BEFORE INSERT ON shared_inbox.customers FOR EACH ROW EXECUTE FUNCTION att.att_catch();
RESET ROLE;
SET ROLE regress_victim;
CREATE TABLE victim_app.customers (id int PRIMARY KEY, v text);
SELECT sequenced_register('victim_app.customers');
CREATE TABLE shared_inbox.customers_inbox (id int, v text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON shared_inbox.customers_inbox REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers');
SET search_path = victim_app, public;
INSERT INTO shared_inbox.customers_inbox VALUES (1, 'mine', 1);
SELECT * FROM victim_app.customers;
RESET ROLE;
SELECT count(*) AS caught FROM shared_inbox.customers;
-- and a statement that also updates staging rows (a data-modifying WITH)
-- may not have them deleted as applied
SET ROLE regress_victim;
ALTER TABLE shared_inbox.customers_inbox DISABLE TRIGGER apply;
INSERT INTO shared_inbox.customers_inbox VALUES (2, 'kept', 1);
ALTER TABLE shared_inbox.customers_inbox ENABLE TRIGGER apply;
WITH u AS (UPDATE shared_inbox.customers_inbox SET v = v || '!' RETURNING 1)
INSERT INTO shared_inbox.customers_inbox SELECT 3, 'new', 2;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM shared_inbox.customers_inbox ORDER BY id;
RESET search_path;
RESET ROLE;

DROP TABLE events, private_t, attack_log, accounts, diary, att_ts;
SET client_min_messages = warning;
DROP SCHEMA shared_inbox CASCADE;
DROP SCHEMA victim_app CASCADE;
RESET client_min_messages;
DROP TABLESPACE regress_attack_ts;
SET client_min_messages = warning;
DROP SCHEMA att CASCADE;
RESET client_min_messages;
DROP ROLE regress_attacker;
DROP ROLE regress_victim;
