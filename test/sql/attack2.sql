--
-- attack2: the 0.2 surface attacked by a role that owns a table and a type
-- (history, rescans, metrics), as attack.sql does for 0.1's.  Every
-- function of the attacker notes the role it runs as and makes the attacker
-- a superuser whenever it runs as anyone else; at the end, every note is
-- the attacker's and the attacker is no superuser.
--
CREATE ROLE regress_atk2 NOLOGIN;
CREATE ROLE regress_atk2_reader NOLOGIN;
CREATE SCHEMA atk2 AUTHORIZATION regress_atk2;
CREATE TABLE atk2_log (who name, what text);
GRANT SELECT, INSERT ON atk2_log TO PUBLIC;

SET ROLE regress_atk2;
SET search_path = atk2, public;
CREATE FUNCTION atk2.note(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.atk2_log VALUES (current_user, what);
    IF current_user <> 'regress_atk2' THEN
        ALTER ROLE regress_atk2 SUPERUSER;
    END IF;
END $$;
CREATE FUNCTION atk2.pwn_int(what text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM atk2.note(what); RETURN 1; END $$;
CREATE FUNCTION atk2.pwn(what text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM atk2.note(what); RETURN true; END $$;

-- 1. a domain whose DEFAULT and CHECK are the attacker's, on a column added
--    to a table with history: the history's column is the base type, so
--    registering again (and an import adding a column) runs neither as the
--    extension's owner
CREATE TABLE atk2.h1 (id int PRIMARY KEY);
SELECT sequenced_register('atk2.h1', history => true);
CREATE DOMAIN atk2.evil AS int DEFAULT atk2.pwn_int('domain default') CHECK (atk2.pwn('domain check'));
ALTER TABLE atk2.h1 ADD COLUMN d atk2.evil;
SELECT count(*) FROM sequenced_upsert('atk2.h1', '{"id": 1, "d": 5}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_register('atk2.h1', history => true);
SELECT count(*) FROM sequenced_upsert('atk2.h1', '{"id": 1, "d": 5}', 1);
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'atk2.h1_history'::regclass AND attname = 'd';

-- 2. the key's "=" found through the table's schema: an operator of the
--    attacker's for varchar, where sequenced_history looks keys up
CREATE TABLE atk2.k (code varchar PRIMARY KEY, v text);
SELECT sequenced_register('atk2.k', history => true);
SELECT count(*) FROM sequenced_upsert('atk2.k', '[{"code": "a", "v": "1"}, {"code": "b", "v": "2"}]', 1);
CREATE FUNCTION atk2.vc_eq(a varchar, b varchar) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM atk2.note('operator ='); RETURN a::text = b::text; END $$;
CREATE OPERATOR atk2.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = atk2.vc_eq);
RESET ROLE;
RESET search_path;
-- (as a superuser, who reads the attacker's history)
SELECT valid_from, record FROM sequenced_history('atk2.k', '{"code": "a"}');
SET ROLE regress_atk2;
SET search_path = atk2, public;

-- 3. the history's own column names on the table: refused
CREATE TABLE atk2.c1 (id int PRIMARY KEY);
SELECT sequenced_register('atk2.c1', history => true);
ALTER TABLE atk2.c1 ADD COLUMN _sdc_valid_from text;
SELECT sequenced_register('atk2.c1', history => true);
\echo :LAST_ERROR_SQLSTATE
SELECT outcome FROM sequenced_upsert('atk2.c1', '{"id": 1}', 1);
\echo :LAST_ERROR_SQLSTATE

-- 4. the columns pg_sequenced fills must keep their types
CREATE TABLE atk2.x1 (id int PRIMARY KEY);
SELECT sequenced_register('atk2.x1', unknown_properties => 'column', deletes => 'soft');
ALTER TABLE atk2.x1 ALTER COLUMN _sdc_extra TYPE bigint USING NULL;
SELECT outcome FROM sequenced_upsert('atk2.x1', '{"id": 1, "zzz": 1}', 1);
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE atk2.x1 ALTER COLUMN _sdc_extra TYPE jsonb USING NULL;
ALTER TABLE atk2.x1 ALTER COLUMN _sdc_deleted_at TYPE text;
SELECT outcome FROM sequenced_delete('atk2.x1', '{"id": 1}', 2);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET search_path;

-- 5. a writer row-level security limits: its stale messages write no
--    version of keys it may not see, it may not purge the history, and
--    a role that may no longer read the table reads no history
CREATE TABLE atk2_shared (id int PRIMARY KEY, tenant text, v text);
SELECT sequenced_register('atk2_shared', history => true);
SELECT count(*) FROM sequenced_upsert('atk2_shared', '[{"id": 1, "tenant": "victim", "v": "a"}]', 100);
SELECT count(*) FROM sequenced_upsert('atk2_shared', '[{"id": 1, "tenant": "victim", "v": "b"}]', 300);
ALTER TABLE atk2_shared ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON atk2_shared USING (tenant = 'attacker') WITH CHECK (tenant = 'attacker');
GRANT SELECT, INSERT, UPDATE, DELETE ON atk2_shared TO regress_atk2;
GRANT SELECT ON atk2_shared TO regress_atk2_reader;
SELECT sequenced_register('atk2_shared', history => true);
SET ROLE regress_atk2;
SELECT outcome FROM sequenced_upsert('atk2_shared', '{"id": 1, "tenant": "attacker", "v": "INJECTED"}', 200);
SELECT sequenced_purge_history('atk2_shared', 1000);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT _sdc_valid_from, v FROM atk2_shared_history ORDER BY _sdc_valid_from;
REVOKE SELECT ON atk2_shared FROM regress_atk2_reader;
SET ROLE regress_atk2_reader;
SELECT * FROM sequenced_as_of(NULL::atk2_shared, 150);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT sequenced_register('atk2_shared', history => true);
SELECT has_table_privilege('regress_atk2_reader', 'atk2_shared_history', 'SELECT') AS reader_keeps_history;

-- 6. a role with SELECT only queues no lock for sequenced_delete_missing
CREATE TABLE atk2_rescan (id int PRIMARY KEY, v text);
SELECT sequenced_register('atk2_rescan', unchanged => 'skip');
GRANT SELECT ON atk2_rescan TO regress_atk2_reader;
SET ROLE regress_atk2_reader;
SELECT * FROM sequenced_delete_missing('atk2_rescan', 10);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- 7. rescans of a table owned by a role that is no superuser (the key state
--    is read in C: the owner has no rights on the internal schema)
SET ROLE regress_atk2;
CREATE TABLE atk2.r1 (id int PRIMARY KEY, v text);
SELECT sequenced_register('atk2.r1', unchanged => 'skip');
SELECT count(*) FROM sequenced_upsert('atk2.r1', '[{"id": 1}, {"id": 2}]', 1);
SELECT count(*) FROM sequenced_upsert('atk2.r1', '[{"id": 1}]', 2);
SELECT * FROM sequenced_delete_missing_count('atk2.r1', 2);
SELECT ord, key, outcome FROM sequenced_delete_missing('atk2.r1', 2, 1);
RESET ROLE;

-- every note is the attacker's own, and the attacker is no superuser
SELECT who, count(*) > 0 AS ran FROM atk2_log GROUP BY who ORDER BY who;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_atk2';

SELECT sequenced_unregister(t) FROM unnest('{atk2.h1,atk2.k,atk2.c1,atk2.x1,atk2_shared,atk2_rescan,atk2.r1}'::regclass[]) t;
SET client_min_messages = warning;
DROP TABLE atk2_shared, atk2_shared_history, atk2_rescan, atk2_log;
DROP SCHEMA atk2 CASCADE;
RESET client_min_messages;
DROP ROLE regress_atk2_reader;
DROP ROLE regress_atk2;
