--
-- security: caller's rights, row-level security, who may register, the
-- internal schema, hostile search_path, and names that must be quoted
-- (SPEC sections 1 and 2, "Privileges")
--
CREATE ROLE regress_seq_owner NOLOGIN;     -- owns the tables
CREATE ROLE regress_seq_writer NOLOGIN;    -- SELECT, INSERT, UPDATE, DELETE
CREATE ROLE regress_seq_nodelete NOLOGIN;  -- SELECT, INSERT, UPDATE
CREATE ROLE regress_seq_noselect NOLOGIN;  -- INSERT, UPDATE, DELETE
CREATE ROLE regress_seq_noupdate NOLOGIN;  -- SELECT, INSERT, DELETE
CREATE ROLE regress_seq_noinsert NOLOGIN;  -- SELECT, UPDATE, DELETE
CREATE ROLE regress_seq_nobody NOLOGIN;    -- nothing

CREATE TABLE sec_t (id int PRIMARY KEY, v text);
ALTER TABLE sec_t OWNER TO regress_seq_owner;
CREATE TABLE sec_soft (id int PRIMARY KEY, v text);
ALTER TABLE sec_soft OWNER TO regress_seq_owner;

--
-- only the table's owner (or a superuser) may register and unregister
--
SET ROLE regress_seq_writer;
SELECT sequenced_register('sec_t');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS registered FROM sequenced_tables WHERE relid = 'sec_t'::regclass;
-- the owner, not a superuser, may
SET ROLE regress_seq_owner;
SELECT sequenced_register('sec_t');
SELECT sequenced_register('sec_soft', deletes => 'soft');
SELECT sequenced_unregister('sec_soft');
SELECT sequenced_register('sec_soft', deletes => 'soft');
RESET ROLE;
SELECT relid, key_columns, on_equal, deletes FROM sequenced_tables WHERE relid IN ('sec_t'::regclass, 'sec_soft'::regclass) ORDER BY relid::text;
-- others may neither change the options nor unregister
GRANT SELECT, INSERT, UPDATE, DELETE ON sec_t, sec_soft TO regress_seq_writer;
SET ROLE regress_seq_writer;
SELECT sequenced_register('sec_t', on_equal => 'replace');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_register('sec_t');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_unregister('sec_t');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT relid, key_columns, on_equal, deletes FROM sequenced_tables WHERE relid = 'sec_t'::regclass;

--
-- calls run with the caller's rights: INSERT, UPDATE and SELECT on the
-- target are required (DELETE for hard deletes); missing any is 42501
--
GRANT SELECT, INSERT, UPDATE ON sec_t, sec_soft TO regress_seq_nodelete;
GRANT INSERT, UPDATE, DELETE ON sec_t, sec_soft TO regress_seq_noselect;
GRANT SELECT, INSERT, DELETE ON sec_t, sec_soft TO regress_seq_noupdate;
GRANT SELECT, UPDATE, DELETE ON sec_t, sec_soft TO regress_seq_noinsert;
SELECT * FROM sequenced_upsert('sec_t', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]', 10);
SELECT * FROM sequenced_delete('sec_t', '{"id": 9}', 10);
\set state 'SELECT string_agg(format(''%s:%s:%s'', id, v, _sdc_sequence), '' '' ORDER BY id) AS rows, sequenced_max_sequence(''sec_t'') AS max_sequence FROM sec_t'
:state;

SET ROLE regress_seq_nobody;
-- a new key, an update, and a call whose messages would all be stale
SELECT * FROM sequenced_upsert('sec_t', '{"id": 3, "v": "c"}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('sec_t', '{"id": 1, "v": "a2"}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('sec_t', '[{"id": 1, "v": "old"}, {"id": 9, "v": "old"}]', 5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('sec_t', '[{"sequence": 5, "data": {"id": 1}}, {"sequence": 5, "action": "delete", "data": {"id": 2}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete('sec_t', '{"id": 1}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete('sec_t', '{"id": 1}', 5);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_purge_tombstones('sec_t', 100);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
:state;

SET ROLE regress_seq_noselect;
SELECT * FROM sequenced_upsert('sec_t', '{"id": 3, "v": "c"}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('sec_t', '{"id": 1, "v": "old"}', 5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete('sec_t', '{"id": 1}', 20);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
:state;

SET ROLE regress_seq_noupdate;
SELECT * FROM sequenced_upsert('sec_t', '{"id": 3, "v": "c"}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('sec_t', '{"id": 1, "v": "a2"}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('sec_t', '{"id": 1, "v": "old"}', 5);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
:state;

SET ROLE regress_seq_noinsert;
SELECT * FROM sequenced_upsert('sec_t', '{"id": 3, "v": "c"}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('sec_t', '{"id": 1, "v": "a2"}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('sec_t', '{"id": 1, "v": "old"}', 5);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
:state;

-- without DELETE: upserts work, hard deletes are 42501 (also when stale),
-- and so is purging tombstones
SET ROLE regress_seq_nodelete;
SELECT * FROM sequenced_upsert('sec_t', '[{"id": 1, "v": "a2"}, {"id": 3, "v": "c"}]', 20);
SELECT * FROM sequenced_delete('sec_t', '{"id": 2}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete('sec_t', '{"id": 2}', 5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('sec_t', '[{"sequence": 21, "data": {"id": 3, "v": "c2"}}, {"sequence": 21, "action": "delete", "data": {"id": 2}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_purge_tombstones('sec_t', 100);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
:state;
-- soft deletes only update the row: no DELETE needed
SELECT * FROM sequenced_upsert('sec_soft', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]', 10);
SET ROLE regress_seq_nodelete;
SELECT * FROM sequenced_delete('sec_soft', '{"id": 2}', 20);
RESET ROLE;
SELECT id, v, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM sec_soft ORDER BY id;

-- with all four rights everything works
SET ROLE regress_seq_writer;
SELECT * FROM sequenced_upsert('sec_t', '[{"id": 1, "v": "a3"}, {"id": 4, "v": "d"}, {"id": 2, "v": "old"}]', 30);
SELECT * FROM sequenced_delete('sec_t', '[{"id": 2}, {"id": 9}]', 30);
SELECT sequenced_purge_tombstones('sec_t', 15);
SELECT sequenced_max_sequence('sec_t');
RESET ROLE;
:state;

--
-- row-level security applies to the caller (terse: the errors come from the
-- statements the functions run, and only the message is of interest)
--
\set VERBOSITY terse
CREATE TABLE sec_rls (id int PRIMARY KEY, tenant text NOT NULL, v text);
ALTER TABLE sec_rls OWNER TO regress_seq_owner;
SET ROLE regress_seq_owner;
SELECT sequenced_register('sec_rls');
RESET ROLE;
GRANT SELECT, INSERT, UPDATE, DELETE ON sec_rls TO regress_seq_writer;
-- rows of tenant b exist before RLS is on (the superuser bypasses it anyway)
SELECT * FROM sequenced_upsert('sec_rls', '[{"id": 1, "tenant": "a", "v": "a1"}, {"id": 2, "tenant": "b", "v": "b2"}]', 10);
ALTER TABLE sec_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY sec_rls_sel ON sec_rls FOR SELECT USING (tenant = 'a');
CREATE POLICY sec_rls_ins ON sec_rls FOR INSERT WITH CHECK (tenant = 'a');
CREATE POLICY sec_rls_upd ON sec_rls FOR UPDATE USING (tenant = 'a') WITH CHECK (tenant = 'a');
CREATE POLICY sec_rls_del ON sec_rls FOR DELETE USING (tenant = 'a');
\set rlsstate 'SELECT string_agg(format(''%s:%s:%s:%s'', id, tenant, v, _sdc_sequence), '' '' ORDER BY id) AS rows, sequenced_max_sequence(''sec_rls'') AS max_sequence FROM sec_rls'
SET ROLE regress_seq_writer;
SELECT id, tenant, v FROM sec_rls ORDER BY id;
-- allowed: a new row and an update of tenant a
SELECT * FROM sequenced_upsert('sec_rls', '[{"id": 1, "tenant": "a", "v": "a1-2"}, {"id": 3, "tenant": "a", "v": "a3"}]', 20);
-- a new row the INSERT policy forbids: 42501
SELECT * FROM sequenced_upsert('sec_rls', '[{"id": 1, "tenant": "a", "v": "a1-3"}, {"id": 4, "tenant": "b", "v": "b4"}]', 30);
\echo :LAST_ERROR_SQLSTATE
-- an update that moves a row out of tenant a (UPDATE WITH CHECK): 42501
SELECT * FROM sequenced_upsert('sec_rls', '[{"id": 3, "tenant": "a", "v": "a3-3"}, {"id": 1, "tenant": "b", "v": "stolen"}]', 30);
\echo :LAST_ERROR_SQLSTATE
-- an update of a row the caller may not see or update: 42501, the row stays
SELECT * FROM sequenced_upsert('sec_rls', '{"id": 2, "tenant": "a", "v": "taken over"}', 30);
\echo :LAST_ERROR_SQLSTATE
-- a hard delete of a row the caller may not see or delete: 42501 (the
-- message is left out here), the row stays and no tombstone is written
DO $$
BEGIN
    PERFORM * FROM sequenced_delete('sec_rls', '{"id": 2}', 30);
    RAISE NOTICE 'no error';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'SQLSTATE %', SQLSTATE;
END
$$;
RESET ROLE;
:rlsstate;
-- so a newer upsert of that key by the superuser updates the row
SELECT * FROM sequenced_upsert('sec_rls', '{"id": 2, "tenant": "b", "v": "b2-2"}', 25);
:rlsstate;
-- the changes feed under row-level security: a live key whose row the
-- caller cannot see is left out (it is no delete); so is a tombstone (no
-- row for the policies to judge: its key is not the caller's to see).
-- max_rows counts what is returned: a page of hidden rows is read past, so
-- the consumer below, paging one row at a time, reaches the end (positions
-- 1-2 are the registration's, the rest the calls' above)
SELECT * FROM sequenced_upsert('sec_rls', '[{"id": 6, "tenant": "b", "v": "b6"}, {"id": 7, "tenant": "b", "v": "b7"}]', 26);
SELECT * FROM sequenced_delete('sec_rls', '{"id": 8}', 27);
SELECT * FROM sequenced_upsert('sec_rls', '{"id": 9, "tenant": "a", "v": "a9"}', 28);
SELECT key, deleted, record->>'v' AS v FROM sequenced_changes('sec_rls') ORDER BY pos;
SET ROLE regress_seq_writer;
SELECT key, deleted, record->>'v' AS v FROM sequenced_changes('sec_rls') ORDER BY pos;
DO $$
DECLARE
    cur bigint := 0;
    r record;
    seen text := '';
    reads int := 0;
BEGIN
    LOOP
        reads := reads + 1;
        SELECT * INTO r FROM sequenced_changes('sec_rls', cur, 1);
        EXIT WHEN NOT FOUND;
        seen := seen || ' ' || (r.key->>'id') || CASE WHEN r.deleted THEN '(deleted)' ELSE '' END;
        cur := r.pos;
    END LOOP;
    RAISE NOTICE 'paged one at a time:% (% reads)', seen, reads;
END
$$;
RESET ROLE;
-- with FORCE ROW LEVEL SECURITY the owner obeys the policies as well
ALTER TABLE sec_rls FORCE ROW LEVEL SECURITY;
SET ROLE regress_seq_owner;
SELECT * FROM sequenced_upsert('sec_rls', '{"id": 5, "tenant": "b", "v": "b5"}', 40);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
:rlsstate;
\set VERBOSITY default

--
-- the catalog: readable by every role, writable only through the functions
-- (max_sequence only for the tables the role may read)
--
SET ROLE regress_seq_nobody;
SELECT relid, key_columns, sequence_column, on_equal, deletes, ordering, max_sequence
  FROM sequenced_tables WHERE relid = 'sec_t'::regclass;
INSERT INTO sequenced_tables (relid, key_columns, sequence_column, on_equal, deletes, ordering)
  VALUES ('sec_t', '{v}', '_sdc_sequence', 'replace', 'hard', 'per_key');
\echo :LAST_ERROR_SQLSTATE
UPDATE sequenced_tables SET on_equal = 'replace' WHERE relid = 'sec_t'::regclass;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM sequenced_tables WHERE relid = 'sec_t'::regclass;
\echo :LAST_ERROR_SQLSTATE
-- the internal schema: no access at all
SELECT count(*) FROM _sequenced.config;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM _sequenced.max_log;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO _sequenced.max_log (relid, seq) VALUES ('sec_t', 1000);
\echo :LAST_ERROR_SQLSTATE
DELETE FROM _sequenced.max_log;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- no right of any normal role on anything in _sequenced (tables, sequences,
-- functions), but for the state tables of the tables a role owns: they
-- belong to it (code of the key's types runs as their owner), yet it cannot
-- even name them (no USAGE on the schema)
SELECT r.rolname,
       has_schema_privilege(r.oid, '_sequenced', 'USAGE') AS schema_usage,
       has_schema_privilege(r.oid, '_sequenced', 'CREATE') AS schema_create,
       (SELECT count(*) FROM pg_class c
         WHERE c.relnamespace = '_sequenced'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
           AND (has_table_privilege(r.oid, c.oid, 'SELECT') OR has_table_privilege(r.oid, c.oid, 'INSERT')
             OR has_table_privilege(r.oid, c.oid, 'UPDATE') OR has_table_privilege(r.oid, c.oid, 'DELETE')
             OR has_table_privilege(r.oid, c.oid, 'TRUNCATE'))) AS tables_with_rights,
       (SELECT count(*) FROM pg_proc p WHERE p.pronamespace = '_sequenced'::regnamespace
           AND has_function_privilege(r.oid, p.oid, 'EXECUTE')) AS functions_executable
  FROM pg_roles r WHERE r.rolname LIKE 'regress_seq_%' ORDER BY r.rolname;
SELECT count(*) > 2 AS state_tables_exist FROM pg_class WHERE relnamespace = '_sequenced'::regnamespace AND relkind = 'r';
-- every internal table, tried directly by a role that may write sec_t,
-- and by the owner of sec_t: each attempt fails with 42501
CREATE FUNCTION try_internal_tables() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
    op text;
    tried int := 0;
    denied int := 0;
BEGIN
    FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c
              WHERE c.relnamespace = '_sequenced'::regnamespace AND c.relkind IN ('r', 'p')
    LOOP
        FOREACH op IN ARRAY ARRAY['SELECT * FROM %s', 'DELETE FROM %s', 'UPDATE %s SET ctid = ctid', 'TRUNCATE %s',
                                  'INSERT INTO %s DEFAULT VALUES']
        LOOP
            tried := tried + 1;
            BEGIN
                EXECUTE format(op, r.rel);
            EXCEPTION WHEN insufficient_privilege THEN
                denied := denied + 1;
            END;
        END LOOP;
    END LOOP;
    RAISE NOTICE 'all denied: %', tried > 10 AND tried = denied;
END
$$;
SET ROLE regress_seq_writer;
SELECT try_internal_tables();
SET ROLE regress_seq_owner;
SELECT try_internal_tables();
RESET ROLE;
DROP FUNCTION try_internal_tables();

-- a role cannot touch the tombstones of a table it may not write
CREATE TABLE sec_other (id int PRIMARY KEY);
SELECT sequenced_register('sec_other');
SELECT * FROM sequenced_delete('sec_other', '{"id": 1}', 50);
SET ROLE regress_seq_writer;
SELECT sequenced_purge_tombstones('sec_other', 100);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete('sec_other', '{"id": 2}', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('sec_other', '{"id": 1}', 70);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- the tombstone of key 1 is still there: an older upsert is stale
BEGIN;
SELECT * FROM sequenced_upsert('sec_other', '[{"id": 1}, {"id": 2}]', 40);
ROLLBACK;
SELECT sequenced_max_sequence('sec_other');

--
-- a hostile search_path: objects named like the ones the functions could
-- use, placed before pg_catalog or shadowing by exact signature; the results
-- must be those of a normal search_path, and no evil object is ever used
--
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE TABLE evil.used (what text);
GRANT INSERT, SELECT ON evil.used TO PUBLIC;
-- operators that are always true, logging their use
CREATE FUNCTION evil.eq_int4(int, int) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO evil.used VALUES ('= int4'); RETURN true; END$$;
CREATE FUNCTION evil.eq_int8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO evil.used VALUES ('= int8'); RETURN true; END$$;
CREATE FUNCTION evil.cmp_int8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO evil.used VALUES ('< > int8'); RETURN true; END$$;
CREATE FUNCTION evil.eq_text(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO evil.used VALUES ('= text'); RETURN true; END$$;
CREATE FUNCTION evil.eq_regclass(regclass, regclass) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO evil.used VALUES ('= regclass'); RETURN true; END$$;
CREATE FUNCTION evil.eq_oid(oid, oid) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO evil.used VALUES ('= oid'); RETURN true; END$$;
CREATE FUNCTION evil.eq_jsonb(jsonb, jsonb) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO evil.used VALUES ('= jsonb'); RETURN true; END$$;
CREATE OPERATOR evil.= (LEFTARG = int, RIGHTARG = int, FUNCTION = evil.eq_int4);
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq_int8);
CREATE OPERATOR evil.< (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.cmp_int8);
CREATE OPERATOR evil.> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.cmp_int8);
CREATE OPERATOR evil.<= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.cmp_int8);
CREATE OPERATOR evil.>= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.cmp_int8);
CREATE OPERATOR evil.<> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.cmp_int8);
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq_text);
CREATE OPERATOR evil.= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = evil.eq_regclass);
CREATE OPERATOR evil.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = evil.eq_oid);
CREATE OPERATOR evil.= (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = evil.eq_jsonb);
-- functions that fail loudly
CREATE FUNCTION evil.boom(what text) RETURNS void LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO evil.used VALUES (what); RAISE EXCEPTION 'evil % used', what; END$$;
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('unnest(anyarray)'); END$$;
CREATE FUNCTION evil.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('unnest(text[])'); END$$;
CREATE FUNCTION evil.jsonb_array_elements(jsonb) RETURNS SETOF jsonb LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('jsonb_array_elements'); END$$;
CREATE FUNCTION evil.jsonb_each(jsonb) RETURNS TABLE (key text, value jsonb) LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('jsonb_each'); END$$;
CREATE FUNCTION evil.jsonb_typeof(jsonb) RETURNS text LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('jsonb_typeof'); RETURN NULL; END$$;
CREATE FUNCTION evil.to_jsonb(anyelement) RETURNS jsonb LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('to_jsonb'); RETURN NULL; END$$;
CREATE FUNCTION evil.jsonb_build_object(text, anyelement) RETURNS jsonb LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('jsonb_build_object'); RETURN NULL; END$$;
CREATE FUNCTION evil.jsonb_populate_record(anyelement, jsonb) RETURNS anyelement LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('jsonb_populate_record'); RETURN NULL; END$$;
CREATE FUNCTION evil.jsonb_populate_recordset(anyelement, jsonb) RETURNS SETOF anyelement LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('jsonb_populate_recordset'); END$$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('now'); RETURN NULL; END$$;
CREATE FUNCTION evil.nextval(regclass) RETURNS bigint LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('nextval'); RETURN NULL; END$$;
CREATE FUNCTION evil.txid_current() RETURNS bigint LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('txid_current'); RETURN NULL; END$$;
CREATE FUNCTION evil.pg_advisory_xact_lock(bigint) RETURNS void LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('pg_advisory_xact_lock'); END$$;
CREATE FUNCTION evil.hashtext(text) RETURNS int LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('hashtext'); RETURN NULL; END$$;
CREATE FUNCTION evil.quote_ident(text) RETURNS text LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('quote_ident'); RETURN NULL; END$$;
CREATE FUNCTION evil.max_sfunc(bigint, bigint) RETURNS bigint LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('max(bigint)'); RETURN NULL; END$$;
CREATE AGGREGATE evil.max(bigint) (SFUNC = evil.max_sfunc, STYPE = bigint);
CREATE FUNCTION evil.count_sfunc(bigint) RETURNS bigint LANGUAGE plpgsql AS
  $$BEGIN PERFORM evil.boom('count(*)'); RETURN NULL; END$$;
CREATE AGGREGATE evil.count(*) (SFUNC = evil.count_sfunc, STYPE = bigint);
-- casts cannot live in a schema; tables named like system catalogs, like the
-- internal tables, and like the target itself
CREATE TABLE evil.pg_class (oid oid, relname name);
CREATE TABLE evil.pg_attribute (attrelid oid, attname name);
CREATE TABLE evil.pg_index (indrelid oid);
CREATE TABLE evil.pg_namespace (oid oid, nspname name);
CREATE TABLE evil.config (relid regclass);
CREATE TABLE evil.max_log (relid regclass, seq bigint);
CREATE TABLE evil.sequenced_tables (relid regclass);
GRANT ALL ON ALL TABLES IN SCHEMA evil TO PUBLIC;

-- four identical tables: sec_ref is driven with a normal search_path,
-- sec_sp1-3 with hostile ones; all get the same calls
CREATE TABLE sec_ref (id int PRIMARY KEY, v text, n int);
CREATE TABLE sec_sp1 (id int PRIMARY KEY, v text, n int);
CREATE TABLE sec_sp2 (id int PRIMARY KEY, v text, n int);
CREATE TABLE sec_sp3 (id int PRIMARY KEY, v text, n int);
ALTER TABLE sec_sp3 OWNER TO regress_seq_owner;
-- evil tables of the same names, which an unqualified name would find first
CREATE TABLE evil.sec_ref (id int PRIMARY KEY, v text, n int, _sdc_sequence bigint);
CREATE TABLE evil.sec_sp1 (id int PRIMARY KEY, v text, n int, _sdc_sequence bigint);
CREATE TABLE evil.sec_sp2 (id int PRIMARY KEY, v text, n int, _sdc_sequence bigint);
CREATE TABLE evil.sec_sp3 (id int PRIMARY KEY, v text, n int, _sdc_sequence bigint);
GRANT ALL ON ALL TABLES IN SCHEMA evil TO PUBLIC;

-- the reference run
\set tbl public.sec_ref
SELECT sequenced_register(:'tbl');
SELECT * FROM sequenced_upsert(:'tbl', '[{"id": 1, "v": "a", "n": 1}, {"id": 2, "v": "b", "n": 2}, {"id": 3, "v": "c", "n": 3}]', 10);
SELECT * FROM sequenced_upsert(:'tbl', '[{"id": 1, "v": "a2", "n": 10}, {"id": 2, "v": "old", "n": 0}, {"id": 5, "v": "e"}]', 5);
SELECT * FROM sequenced_upsert(:'tbl', '[{"sequence": 20, "data": {"id": 2, "v": "b2"}}, {"sequence": 21, "data": {"id": 2, "v": "b3"}}, {"sequence": 20, "action": "delete", "data": {"id": 3}}, {"sequence": 20, "data": {"id": 4, "v": "d"}}]');
SELECT * FROM sequenced_delete(:'tbl', '[{"id": 1}, {"id": 4}]', 15);
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 3, "v": "c-late"}', 19);
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 5, "v": "e2", "nope": 1}', 30);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_purge_tombstones(:'tbl', 16);
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 1, "v": "back"}', 14);
SELECT sequenced_max_sequence(:'tbl');
SELECT sequenced_register(:'tbl');
SELECT sequenced_register(:'tbl', on_equal => 'replace');
SELECT * FROM sequenced_upsert(:'tbl', '[{"id": 2, "v": "b3-again"}, {"id": 5, "v": "e-old"}]', 21);
SELECT sequenced_unregister(:'tbl');
SELECT sequenced_register(:'tbl', on_equal => 'replace');
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 2, "v": "b3-final"}', 21);

-- superuser, search_path = evil, public
\set tbl public.sec_sp1
SET search_path = evil, public;
SELECT sequenced_register(:'tbl');
SELECT * FROM sequenced_upsert(:'tbl', '[{"id": 1, "v": "a", "n": 1}, {"id": 2, "v": "b", "n": 2}, {"id": 3, "v": "c", "n": 3}]', 10);
SELECT * FROM sequenced_upsert(:'tbl', '[{"id": 1, "v": "a2", "n": 10}, {"id": 2, "v": "old", "n": 0}, {"id": 5, "v": "e"}]', 5);
SELECT * FROM sequenced_upsert(:'tbl', '[{"sequence": 20, "data": {"id": 2, "v": "b2"}}, {"sequence": 21, "data": {"id": 2, "v": "b3"}}, {"sequence": 20, "action": "delete", "data": {"id": 3}}, {"sequence": 20, "data": {"id": 4, "v": "d"}}]');
SELECT * FROM sequenced_delete(:'tbl', '[{"id": 1}, {"id": 4}]', 15);
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 3, "v": "c-late"}', 19);
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 5, "v": "e2", "nope": 1}', 30);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_purge_tombstones(:'tbl', 16);
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 1, "v": "back"}', 14);
SELECT sequenced_max_sequence(:'tbl');
SELECT sequenced_register(:'tbl');
SELECT sequenced_register(:'tbl', on_equal => 'replace');
SELECT * FROM sequenced_upsert(:'tbl', '[{"id": 2, "v": "b3-again"}, {"id": 5, "v": "e-old"}]', 21);
SELECT sequenced_unregister(:'tbl');
SELECT sequenced_register(:'tbl', on_equal => 'replace');
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 2, "v": "b3-final"}', 21);
RESET search_path;

-- superuser, search_path = evil, pg_catalog, public
\set tbl public.sec_sp2
SET search_path = evil, pg_catalog, public;
SELECT sequenced_register(:'tbl');
SELECT * FROM sequenced_upsert(:'tbl', '[{"id": 1, "v": "a", "n": 1}, {"id": 2, "v": "b", "n": 2}, {"id": 3, "v": "c", "n": 3}]', 10);
SELECT * FROM sequenced_upsert(:'tbl', '[{"id": 1, "v": "a2", "n": 10}, {"id": 2, "v": "old", "n": 0}, {"id": 5, "v": "e"}]', 5);
SELECT * FROM sequenced_upsert(:'tbl', '[{"sequence": 20, "data": {"id": 2, "v": "b2"}}, {"sequence": 21, "data": {"id": 2, "v": "b3"}}, {"sequence": 20, "action": "delete", "data": {"id": 3}}, {"sequence": 20, "data": {"id": 4, "v": "d"}}]');
SELECT * FROM sequenced_delete(:'tbl', '[{"id": 1}, {"id": 4}]', 15);
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 3, "v": "c-late"}', 19);
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 5, "v": "e2", "nope": 1}', 30);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_purge_tombstones(:'tbl', 16);
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 1, "v": "back"}', 14);
SELECT sequenced_max_sequence(:'tbl');
SELECT sequenced_register(:'tbl');
SELECT sequenced_register(:'tbl', on_equal => 'replace');
SELECT * FROM sequenced_upsert(:'tbl', '[{"id": 2, "v": "b3-again"}, {"id": 5, "v": "e-old"}]', 21);
SELECT sequenced_unregister(:'tbl');
SELECT sequenced_register(:'tbl', on_equal => 'replace');
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 2, "v": "b3-final"}', 21);
RESET search_path;

-- the owner, not a superuser, search_path = evil, pg_catalog, public
\set tbl public.sec_sp3
SET ROLE regress_seq_owner;
SET search_path = evil, pg_catalog, public;
SELECT sequenced_register(:'tbl');
SELECT * FROM sequenced_upsert(:'tbl', '[{"id": 1, "v": "a", "n": 1}, {"id": 2, "v": "b", "n": 2}, {"id": 3, "v": "c", "n": 3}]', 10);
SELECT * FROM sequenced_upsert(:'tbl', '[{"id": 1, "v": "a2", "n": 10}, {"id": 2, "v": "old", "n": 0}, {"id": 5, "v": "e"}]', 5);
SELECT * FROM sequenced_upsert(:'tbl', '[{"sequence": 20, "data": {"id": 2, "v": "b2"}}, {"sequence": 21, "data": {"id": 2, "v": "b3"}}, {"sequence": 20, "action": "delete", "data": {"id": 3}}, {"sequence": 20, "data": {"id": 4, "v": "d"}}]');
SELECT * FROM sequenced_delete(:'tbl', '[{"id": 1}, {"id": 4}]', 15);
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 3, "v": "c-late"}', 19);
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 5, "v": "e2", "nope": 1}', 30);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_purge_tombstones(:'tbl', 16);
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 1, "v": "back"}', 14);
SELECT sequenced_max_sequence(:'tbl');
SELECT sequenced_register(:'tbl');
SELECT sequenced_register(:'tbl', on_equal => 'replace');
SELECT * FROM sequenced_upsert(:'tbl', '[{"id": 2, "v": "b3-again"}, {"id": 5, "v": "e-old"}]', 21);
SELECT sequenced_unregister(:'tbl');
SELECT sequenced_register(:'tbl', on_equal => 'replace');
SELECT * FROM sequenced_upsert(:'tbl', '{"id": 2, "v": "b3-final"}', 21);
RESET search_path;
RESET ROLE;

-- the same rows everywhere; nothing evil was used or written
SELECT id, v, n, _sdc_sequence FROM sec_ref ORDER BY id;
SELECT t.name,
       (SELECT count(*) FROM (SELECT id, v, n, _sdc_sequence FROM sec_ref
                              EXCEPT SELECT id, v, n, _sdc_sequence FROM sec_sp1) d) AS ref_minus_t,
       (SELECT count(*) FROM (SELECT id, v, n, _sdc_sequence FROM sec_sp1
                              EXCEPT SELECT id, v, n, _sdc_sequence FROM sec_ref) d) AS t_minus_ref
  FROM (VALUES ('sec_sp1')) t(name)
UNION ALL
SELECT 'sec_sp2',
       (SELECT count(*) FROM (SELECT id, v, n, _sdc_sequence FROM sec_ref
                              EXCEPT SELECT id, v, n, _sdc_sequence FROM sec_sp2) d),
       (SELECT count(*) FROM (SELECT id, v, n, _sdc_sequence FROM sec_sp2
                              EXCEPT SELECT id, v, n, _sdc_sequence FROM sec_ref) d)
UNION ALL
SELECT 'sec_sp3',
       (SELECT count(*) FROM (SELECT id, v, n, _sdc_sequence FROM sec_ref
                              EXCEPT SELECT id, v, n, _sdc_sequence FROM sec_sp3) d),
       (SELECT count(*) FROM (SELECT id, v, n, _sdc_sequence FROM sec_sp3
                              EXCEPT SELECT id, v, n, _sdc_sequence FROM sec_ref) d);
SELECT relid::text, key_columns, sequence_column, on_equal, deletes, ordering, max_sequence
  FROM sequenced_tables WHERE relid::text LIKE 'sec\_%' AND relid::text <> 'sec_other' ORDER BY 1;
SELECT count(*) AS evil_used FROM evil.used;
SELECT (SELECT count(*) FROM evil.sec_ref) + (SELECT count(*) FROM evil.sec_sp1)
     + (SELECT count(*) FROM evil.sec_sp2) + (SELECT count(*) FROM evil.sec_sp3)
     + (SELECT count(*) FROM evil.config) + (SELECT count(*) FROM evil.max_log)
     + (SELECT count(*) FROM evil.sequenced_tables) + (SELECT count(*) FROM evil.pg_class)
     + (SELECT count(*) FROM evil.pg_attribute) + (SELECT count(*) FROM evil.pg_index)
     + (SELECT count(*) FROM evil.pg_namespace) AS evil_rows;
-- no column was added to an evil table
SELECT count(*) AS evil_columns_added FROM pg_attribute
 WHERE attrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'evil'::regnamespace) AND attnum > 0
   AND attname IN ('_sdc_sequence', '_sdc_deleted_at') AND attrelid::regclass::text NOT LIKE 'evil.sec\_%';

--
-- names with quotes, semicolons, dots and blanks: table, schema, key column,
-- data columns, sequence column, JSON property names
--
CREATE TABLE sec_canary (x int);
CREATE SCHEMA "sch;em""a.x";
CREATE TABLE "sch;em""a.x"."we""ird.name" (
    "k""ey;" int PRIMARY KEY,
    "a;b" text,
    "x""y" text,
    "c.d" text,
    "Mixed Case" text,
    "select" text,
    "$1" text,
    "'); DROP TABLE sec_canary; --" text
);
SELECT sequenced_register('"sch;em""a.x"."we""ird.name"', sequence_column => 'seq"; DROP TABLE sec_canary; --', deletes => 'soft');
SELECT * FROM sequenced_upsert('"sch;em""a.x"."we""ird.name"',
  '[{"k\"ey;": 1, "a;b": "semi", "x\"y": "quote", "c.d": "dot", "Mixed Case": "mc", "select": "kw", "$1": "dollar", "''); DROP TABLE sec_canary; --": "inj"},
    {"k\"ey;": 2, "a;b": "two"}]', 10);
SELECT * FROM sequenced_upsert('"sch;em""a.x"."we""ird.name"', '[{"sequence": 11, "data": {"k\"ey;": 2, "x\"y": "two-b"}}, {"sequence": 12, "action": "delete", "data": {"k\"ey;": 1}}]');
SELECT * FROM sequenced_delete('"sch;em""a.x"."we""ird.name"', '{"k\"ey;": 2}', 9);
SELECT "k""ey;", "a;b", "x""y", "c.d", "Mixed Case", "select", "$1", "'); DROP TABLE sec_canary; --",
       "seq""; DROP TABLE sec_canary; --", _sdc_deleted_at IS NOT NULL AS deleted
  FROM "sch;em""a.x"."we""ird.name" ORDER BY 1;
SELECT * FROM sequenced_upsert('"sch;em""a.x"."we""ird.name"', '{"k\"ey;": 3, "a;b) VALUES (1); DROP TABLE sec_canary; --": "x"}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('"sch;em""a.x"."we""ird.name"', '{"k\"ey;": 3, "\"a;b\"": "x"}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('"sch;em""a.x"."we""ird.name"', '{"k\"ey;": 3, "seq\"; DROP TABLE sec_canary; --": 5}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('"sch;em""a.x"."we""ird.name"', '{"a;b": "no key"}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_max_sequence('"sch;em""a.x"."we""ird.name"');
SELECT relid, key_columns, sequence_column FROM sequenced_tables WHERE relid = '"sch;em""a.x"."we""ird.name"'::regclass;
SELECT sequenced_unregister('"sch;em""a.x"."we""ird.name"');
SELECT to_regclass('sec_canary') IS NOT NULL AS canary_alive;

SET client_min_messages = warning;
DROP SCHEMA "sch;em""a.x" CASCADE;
DROP SCHEMA evil CASCADE;
DROP TABLE sec_t, sec_soft, sec_rls, sec_other, sec_ref, sec_sp1, sec_sp2, sec_sp3, sec_canary;
DROP ROLE regress_seq_owner, regress_seq_writer, regress_seq_nodelete, regress_seq_noselect,
          regress_seq_noupdate, regress_seq_noinsert, regress_seq_nobody;
