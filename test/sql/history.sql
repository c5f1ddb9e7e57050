--
-- history: history => true, <target>_history, sequenced_as_of,
-- sequenced_history, sequenced_purge_history (SPEC section 7)
--
-- The rule: a key's history is the list of its messages with distinct
-- sequences (upserts and deletes; applied, superseded, stale, unchanged
-- alike), in sequence order, each valid from its sequence (inclusive) to
-- the next one's (exclusive; NULL for the last).  So the history never
-- depends on arrival order: every permutation of a key's messages is
-- checked to give one history, through the direct path (a plain table)
-- and the statement path (a partitioned table, a table with a trigger).
--
-- Everything lives in schema hist; the last section removes it.
--
-- (errors print without CONTEXT: the line numbers of the SQL functions'
-- bodies are no part of the contract)
\set SHOW_CONTEXT never
CREATE SCHEMA hist;
SET search_path = hist, public;
CREATE ROLE regress_hist_owner NOLOGIN;   -- owns hist.sec
CREATE ROLE regress_hist_reader NOLOGIN;  -- SELECT on hist.sec
CREATE ROLE regress_hist_writer NOLOGIN;  -- SELECT, INSERT, UPDATE, DELETE on hist.sec
CREATE ROLE regress_hist_nodel NOLOGIN;   -- SELECT, INSERT, UPDATE on hist.sec
CREATE ROLE regress_hist_nobody NOLOGIN;  -- nothing
GRANT USAGE ON SCHEMA hist TO regress_hist_owner, regress_hist_reader, regress_hist_writer,
    regress_hist_nodel, regress_hist_nobody;
GRANT CREATE ON SCHEMA hist TO regress_hist_owner;

-- A table's columns: name, type, NOT NULL, DEFAULT, collation
CREATE FUNCTION hist.columns(t regclass)
RETURNS TABLE (name name, type text, not_null boolean, has_default boolean, collation name)
LANGUAGE sql AS $$
  SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef, c.collname
    FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation AND c.collname <> 'default'
   WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
$$;

-- The invariants of a table's history (SPEC section 7), as counts of the
-- rows breaking them (all 0 when it holds):
--   gaps:        per key, in order of _sdc_valid_from, each row's
--                _sdc_valid_to is the next row's _sdc_valid_from, the
--                last one's NULL; only the first may start at NULL; no
--                row ends at or before it starts (contiguous, no overlap)
--   own_seq:     the sequence column holds the row's own sequence (the
--                one it is valid from)
--   delete_cols: a delete's row has NULL in every column but the key, the
--                sequence column and the three _sdc_ ones
CREATE FUNCTION hist.check(t regclass,
                           OUT versions bigint, OUT gaps bigint, OUT own_seq bigint, OUT delete_cols bigint)
LANGUAGE plpgsql AS $$
DECLARE
    keys text[];
    seqcol text;
    ht text := sequenced_history_table(t);
    part text;
BEGIN
    SELECT key_columns, sequence_column INTO keys, seqcol FROM sequenced_tables WHERE relid = t;
    SELECT string_agg(format('%I', c), ', ') INTO part FROM unnest(keys) c;
    EXECUTE format($q$SELECT count(*) FROM %s$q$, ht) INTO versions;
    EXECUTE format($q$
      SELECT count(*) FROM (
        SELECT _sdc_valid_from AS f, _sdc_valid_to AS t,
               lead(_sdc_valid_from) OVER w AS next_from,
               lead(true) OVER w AS has_next,
               row_number() OVER w AS rn
          FROM %s WINDOW w AS (PARTITION BY %s ORDER BY _sdc_valid_from NULLS FIRST)) x
       WHERE (has_next IS NULL AND t IS NOT NULL)
          OR (has_next AND t IS DISTINCT FROM next_from)
          OR (f IS NULL AND rn > 1)
          OR (f IS NOT NULL AND t IS NOT NULL AND t <= f)$q$, ht, part) INTO gaps;
    EXECUTE format($q$SELECT count(*) FROM %s h WHERE h.%I IS DISTINCT FROM h._sdc_valid_from$q$,
                   ht, seqcol) INTO own_seq;
    EXECUTE format($q$
      SELECT count(*) FROM %s h
       WHERE h._sdc_deleted
         AND EXISTS (SELECT 1 FROM jsonb_each(to_jsonb(h)) e
                      WHERE e.key <> ALL ($1 || ARRAY[$2, '_sdc_valid_from', '_sdc_valid_to', '_sdc_deleted'])
                        AND e.value <> 'null')$q$, ht) INTO delete_cols USING keys, seqcol;
END
$$;

-- One key's versions, compactly: [from,to) and the record (or DELETE)
CREATE FUNCTION hist.versions(t regclass, key jsonb) RETURNS text
LANGUAGE sql AS $$
  SELECT string_agg(format('[%s,%s) %s', coalesce(valid_from::text, '-'), coalesce(valid_to::text, '-'),
                           coalesce((record - (SELECT array_agg(k) FROM jsonb_object_keys(key) k))::text, 'DELETE')),
                    E'\n' ORDER BY valid_from NULLS FIRST)
    FROM sequenced_history(t, key)
$$;

--
-- 1. registration with history => true
--
-- the history table: the target's columns with their types (no
-- constraints: NOT NULL, DEFAULT, CHECK, UNIQUE stay behind), then
-- _sdc_valid_from, _sdc_valid_to, _sdc_deleted
CREATE TABLE hist.reg (
    id   int PRIMARY KEY,
    v    text NOT NULL DEFAULT 'x' CHECK (v <> ''),
    n    numeric(8,2) UNIQUE,
    tags varchar(5)[],
    c    text COLLATE "C",
    j    jsonb DEFAULT '{}'
);
INSERT INTO hist.reg VALUES (1, 'one', 1.5, '{a,b}', 'c1', '{"x": 1}'), (2, 'two', 2.5, NULL, NULL, NULL);
ALTER TABLE hist.reg ADD COLUMN _sdc_sequence bigint;
INSERT INTO hist.reg VALUES (3, 'three', 3.5, '{c}', 'c3', '[]', 7);
SELECT sequenced_register('hist.reg', history => true);
SELECT relid, key_columns, on_equal, deletes, unchanged, history FROM sequenced_tables WHERE relid = 'hist.reg'::regclass;
SELECT sequenced_history_table('hist.reg');
SELECT * FROM hist.columns('hist.reg_history');
SELECT count(*) AS constraints FROM pg_constraint WHERE conrelid = 'hist.reg_history'::regclass;
-- the rows there are become versions from their sequence (NULL: NULL)
SELECT * FROM hist.reg_history ORDER BY id, _sdc_valid_from NULLS FIRST;
SELECT * FROM sequenced_as_of(NULL::hist.reg, 0) ORDER BY id;
SELECT * FROM sequenced_as_of(NULL::hist.reg, 7) ORDER BY id;
-- a new version of a key whose row had no sequence ends the NULL-from one
SELECT * FROM sequenced_upsert('hist.reg', '{"id": 1, "v": "one b"}', 5);
SELECT * FROM hist.reg_history ORDER BY id, _sdc_valid_from NULLS FIRST;
SELECT * FROM hist.check('hist.reg');
-- registering again with the same options changes nothing
SELECT sequenced_register('hist.reg', history => true);
SELECT count(*) FROM hist.reg_history;
-- a partitioned table: the rows of every partition
CREATE TABLE hist.regp (id int PRIMARY KEY, v text, _sdc_sequence bigint) PARTITION BY RANGE (id);
CREATE TABLE hist.regp1 PARTITION OF hist.regp FOR VALUES FROM (1) TO (10);
CREATE TABLE hist.regp2 PARTITION OF hist.regp FOR VALUES FROM (10) TO (20);
INSERT INTO hist.regp VALUES (1, 'a', 5), (15, 'b', NULL);
SELECT sequenced_register('hist.regp', history => true);
SELECT * FROM hist.regp_history ORDER BY id;
SELECT * FROM sequenced_upsert('hist.regp', '[{"id": 1, "v": "a late"}, {"id": 15, "v": "b2"}]', 3);
SELECT * FROM hist.regp_history ORDER BY id, _sdc_valid_from NULLS FIRST;

-- 42P07: a relation of that name that is not the table's history
CREATE TABLE hist.taken (id int PRIMARY KEY, v text);
CREATE TABLE hist.taken_history (x int);
SELECT sequenced_register('hist.taken', history => true);
\echo :LAST_ERROR_SQLSTATE
SELECT relid FROM sequenced_tables WHERE relid = 'hist.taken'::regclass;
CREATE TABLE hist.taken2 (id int PRIMARY KEY, v text);
CREATE VIEW hist.taken2_history AS SELECT 1 AS x;
SELECT sequenced_register('hist.taken2', history => true);
\echo :LAST_ERROR_SQLSTATE
-- even one that has the three _sdc_ columns (made by hand)
CREATE TABLE hist.taken3 (id int PRIMARY KEY, v text);
CREATE TABLE hist.taken3_history (id int, v text, _sdc_sequence bigint,
    _sdc_valid_from bigint, _sdc_valid_to bigint, _sdc_deleted boolean);
SELECT sequenced_register('hist.taken3', history => true);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS registered FROM sequenced_tables WHERE relid = 'hist.taken3'::regclass;
-- or the history of another table (renamed since): not this table's
CREATE TABLE hist.ren (id int PRIMARY KEY, v text);
SELECT sequenced_register('hist.ren', history => true);
SELECT * FROM sequenced_upsert('hist.ren', '{"id": 1, "v": "a"}', 1);
ALTER TABLE hist.ren RENAME TO ren_b;
CREATE TABLE hist.ren (id int PRIMARY KEY, v text);
SELECT sequenced_register('hist.ren', history => true);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS registered FROM sequenced_tables WHERE relid = 'hist.ren'::regclass;
-- the renamed table keeps its history, and reads it
SELECT * FROM sequenced_upsert('hist.ren_b', '{"id": 1, "v": "b"}', 2);
SELECT * FROM sequenced_as_of(NULL::hist.ren_b, 1);
SELECT * FROM hist.versions('hist.ren_b', '{"id": 1}');
-- an append-only table has no history
CREATE TABLE hist.app (id int, v text);
SELECT sequenced_register('hist.app', key_columns => '{}', history => true);
\echo :LAST_ERROR_SQLSTATE
-- history => NULL
SELECT sequenced_register('hist.taken', history => NULL);
\echo :LAST_ERROR_SQLSTATE

--
-- 2. history => false keeps the table and stops writing it; unregistering
-- leaves it in place
--
CREATE TABLE hist.onoff (id int PRIMARY KEY, v text);
SELECT sequenced_register('hist.onoff', history => true);
SELECT * FROM sequenced_upsert('hist.onoff', '{"id": 1, "v": "a"}', 10);
SELECT sequenced_register('hist.onoff', history => false);
SELECT history FROM sequenced_tables WHERE relid = 'hist.onoff'::regclass;
SELECT * FROM sequenced_upsert('hist.onoff', '{"id": 1, "v": "b"}', 20);
SELECT * FROM sequenced_delete('hist.onoff', '{"id": 1}', 30);
SELECT * FROM hist.onoff_history ORDER BY id, _sdc_valid_from;
-- reading it through the functions: the table has no history now (55000)
SELECT * FROM sequenced_as_of(NULL::hist.onoff, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_history('hist.onoff', '{"id": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_purge_history('hist.onoff', 100);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_unregister('hist.onoff');
SELECT to_regclass('hist.onoff_history');
SELECT * FROM hist.onoff_history ORDER BY id, _sdc_valid_from;
-- a table never registered with history, and one not registered at all: 55000
CREATE TABLE hist.plain (id int PRIMARY KEY, v text);
SELECT sequenced_register('hist.plain');
SELECT * FROM sequenced_as_of(NULL::hist.plain, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_history('hist.plain', '{"id": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_unregister('hist.plain');
SELECT * FROM sequenced_as_of(NULL::hist.plain, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_history('hist.plain', '{"id": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('hist.plain_history');
-- a table registered without history and rows, then with it: the rows
-- become versions
INSERT INTO hist.plain VALUES (1, 'a');
SELECT sequenced_register('hist.plain');
SELECT * FROM sequenced_upsert('hist.plain', '[{"id": 2, "v": "b"}, {"id": 3, "v": "c"}]', 10);
SELECT * FROM sequenced_delete('hist.plain', '{"id": 3}', 20);
SELECT sequenced_register('hist.plain', history => true);
SELECT * FROM hist.plain_history ORDER BY id, _sdc_valid_from NULLS FIRST;
SELECT * FROM sequenced_upsert('hist.plain', '[{"id": 1, "v": "a2"}, {"id": 2, "v": "b2"}]', 15);
SELECT * FROM hist.plain_history ORDER BY id, _sdc_valid_from NULLS FIRST;
SELECT * FROM hist.check('hist.plain');

--
-- 3. the rule, by hand: late upserts before the first version, between
-- versions, after a delete; superseded messages of one call; stale ones
--
CREATE TABLE hist.k (id int PRIMARY KEY, v text, w int DEFAULT 7);
SELECT sequenced_register('hist.k', history => true);
-- one call, three messages of one key: two superseded, all in history; the
-- delete's other properties are validated, not kept
SELECT * FROM sequenced_upsert('hist.k', '[
  {"sequence": 10, "data": {"id": 1, "v": "a"}},
  {"sequence": 30, "data": {"id": 1, "v": "c", "w": 3}},
  {"action": "delete", "sequence": 20, "data": {"id": 1, "v": "ignored", "w": 99}}]');
SELECT * FROM hist.k_history ORDER BY id, _sdc_valid_from;
-- a late upsert before the first version
SELECT * FROM sequenced_upsert('hist.k', '{"id": 1, "v": "first"}', 5);
-- a late upsert between versions (splits [10,20))
SELECT * FROM sequenced_upsert('hist.k', '{"id": 1, "v": "between"}', 15);
-- a late upsert after a delete (splits the delete's [20,30))
SELECT * FROM sequenced_upsert('hist.k', '{"id": 1, "v": "after the delete"}', 25);
-- a late delete (splits [30,-)); newer upserts; a delete; a late upsert
-- after that delete
SELECT * FROM sequenced_delete('hist.k', '{"id": 1}', 35);
SELECT * FROM sequenced_upsert('hist.k', '{"id": 1, "v": "newest"}', 40);
SELECT * FROM sequenced_delete('hist.k', '{"id": 1}', 50);
SELECT * FROM sequenced_upsert('hist.k', '{"id": 1, "v": "late after last delete"}', 45);
SELECT * FROM sequenced_upsert('hist.k', '{"id": 1, "v": "latest"}', 60);
SELECT * FROM hist.k_history ORDER BY id, _sdc_valid_from;
SELECT * FROM hist.k;
-- sequenced_history: in order, record NULL for a delete
SELECT * FROM sequenced_history('hist.k', '{"id": 1}');
SELECT * FROM sequenced_history('hist.k', '{"id": "1"}');
SELECT * FROM sequenced_history('hist.k', '{"id": 2}');
SELECT * FROM sequenced_history('hist.k', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_history('hist.k', '[1]');
\echo :LAST_ERROR_SQLSTATE
-- sequenced_as_of at each boundary: inclusive start, exclusive end
SELECT s, (SELECT string_agg(format('%s:%s', id, v), ',' ORDER BY id) FROM sequenced_as_of(NULL::hist.k, s)) AS as_of
  FROM unnest('{4,5,9,10,14,15,19,20,24,25,29,30,34,35,39,40,44,45,49,50,59,60,1000}'::bigint[]) s;
SELECT * FROM sequenced_as_of(NULL::hist.k, 45);
SELECT * FROM sequenced_as_of(NULL::hist.k, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_as_of(NULL::int, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM hist.check('hist.k');
-- a call that fails writes no history
SELECT * FROM sequenced_upsert('hist.k', '[{"id": 1, "v": "x"}, {"id": 2, "w": "not a number"}]', 55);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM hist.k_history;

-- ordering => 'per_table': a message stale because the table's
-- max_sequence passed it is a version too (stale messages included)
CREATE TABLE hist.ptab (id int PRIMARY KEY, v text);
SELECT sequenced_register('hist.ptab', ordering => 'per_table', history => true);
SELECT * FROM sequenced_upsert('hist.ptab', '{"id": 1, "v": "a"}', 10);
SELECT * FROM sequenced_upsert('hist.ptab', '{"id": 2, "v": "b"}', 20);
SELECT * FROM sequenced_upsert('hist.ptab', '{"id": 1, "v": "late"}', 15);
SELECT * FROM sequenced_upsert('hist.ptab', '[{"sequence": 12, "data": {"id": 3, "v": "x"}},
                                             {"sequence": 11, "data": {"id": 3, "v": "y"}}]');
SELECT * FROM hist.ptab_history ORDER BY id, _sdc_valid_from;
SELECT * FROM hist.check('hist.ptab');

-- columns whose values the table makes: a generated column, an identity
-- column (kept on update), a serial one (its DEFAULT on update too); the
-- history holds what the table held, so as of any sequence it equals the
-- table (and no sequence is advanced twice)
CREATE TABLE hist.gen (
    id    int PRIMARY KEY,
    v     int,
    dbl   int GENERATED ALWAYS AS (v * 2) STORED,
    ident bigint GENERATED BY DEFAULT AS IDENTITY,
    s     serial
);
SELECT sequenced_register('hist.gen', history => true);
SELECT * FROM sequenced_upsert('hist.gen', '[{"id": 1, "v": 1}, {"id": 2, "v": 2}]', 10);
SELECT * FROM hist.gen ORDER BY id;
SELECT count(*) AS differ FROM ((SELECT * FROM sequenced_as_of(NULL::hist.gen, 10) EXCEPT ALL SELECT * FROM hist.gen)
                      UNION ALL (SELECT * FROM hist.gen EXCEPT ALL SELECT * FROM sequenced_as_of(NULL::hist.gen, 10))) x;
SELECT * FROM sequenced_upsert('hist.gen', '{"id": 1, "v": 5}', 20);
SELECT * FROM hist.gen ORDER BY id;
SELECT count(*) AS differ FROM ((SELECT * FROM sequenced_as_of(NULL::hist.gen, 20) EXCEPT ALL SELECT * FROM hist.gen)
                      UNION ALL (SELECT * FROM hist.gen EXCEPT ALL SELECT * FROM sequenced_as_of(NULL::hist.gen, 20))) x;
SELECT * FROM hist.gen_history ORDER BY id, _sdc_valid_from;
-- a serial column alone (the direct path)
CREATE TABLE hist.ser (id int PRIMARY KEY, v int, s serial);
SELECT sequenced_register('hist.ser', history => true);
SELECT count(*) FROM sequenced_upsert('hist.ser', '[{"id": 1, "v": 1}, {"id": 2, "v": 2}]', 10);
SELECT count(*) FROM sequenced_upsert('hist.ser', '{"id": 1, "v": 5}', 20);
SELECT * FROM hist.ser ORDER BY id;
SELECT * FROM hist.ser_history ORDER BY id, _sdc_valid_from;
SELECT count(*) AS differ FROM ((SELECT * FROM sequenced_as_of(NULL::hist.ser, 20) EXCEPT ALL SELECT * FROM hist.ser)
                      UNION ALL (SELECT * FROM hist.ser EXCEPT ALL SELECT * FROM sequenced_as_of(NULL::hist.ser, 20))) x;

--
-- 4. every permutation of 5 messages of a key (a delete among them) gives
-- one and the same history: each message its own call, all in one call,
-- and two calls (the first two, then the rest); through the direct path
-- (hist.p), the statement path (hist.pp, partitioned; hist.pt, a trigger)
--
CREATE TABLE hist.p (id int PRIMARY KEY, v text, n int DEFAULT 0);
CREATE TABLE hist.pp (id int PRIMARY KEY, v text, n int DEFAULT 0) PARTITION BY HASH (id);
CREATE TABLE hist.pp0 PARTITION OF hist.pp FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE hist.pp1 PARTITION OF hist.pp FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE hist.pt (id int PRIMARY KEY, v text, n int DEFAULT 0);
CREATE FUNCTION hist.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER noop BEFORE INSERT OR UPDATE ON hist.pt FOR EACH ROW EXECUTE FUNCTION hist.noop();
SELECT sequenced_register('hist.p', history => true);
SELECT sequenced_register('hist.pp', history => true);
SELECT sequenced_register('hist.pt', history => true);

-- the 120 orders of 1..5
CREATE TABLE hist.perms AS
SELECT row_number() OVER (ORDER BY ARRAY[a, b, c, d, e]) AS nr, ARRAY[a, b, c, d, e] AS p
  FROM generate_series(1, 5) a, generate_series(1, 5) b, generate_series(1, 5) c,
       generate_series(1, 5) d, generate_series(1, 5) e
 WHERE a NOT IN (b, c, d, e) AND b NOT IN (c, d, e) AND c NOT IN (d, e) AND d <> e;
SELECT count(*), count(DISTINCT p) FROM hist.perms;

-- Apply msgs (a JSON array of messages) to t in every order of perms, in
-- mode 'each' (one call per message), 'one' (one call) or 'split' (the
-- first two, then the rest), starting each time from empty tables; compare
-- the history and the table with those of the messages applied one by one
-- in sequence order (the reference).  Returns the number of orders whose
-- history, and whose table, differ from the reference's, and the history
-- invariants that broke.
CREATE FUNCTION hist.permute(t regclass, msgs jsonb, mode text,
                             OUT orders int, OUT history_differs int, OUT table_differs int,
                             OUT invariants_broken int)
LANGUAGE plpgsql AS $$
DECLARE
    ht text := sequenced_history_table(t);
    r record;
    d bigint;
    c record;
BEGIN
    orders := 0; history_differs := 0; table_differs := 0; invariants_broken := 0;
    -- the reference: in sequence order, one message per call
    EXECUTE format('TRUNCATE %s, %s', t, ht);
    PERFORM sequenced_upsert(t, jsonb_build_array(m)) FROM jsonb_array_elements(msgs) m
      ORDER BY (m->>'sequence')::bigint;
    DROP TABLE IF EXISTS pg_temp.ref_history, pg_temp.ref_table;
    EXECUTE format('CREATE TEMP TABLE ref_history AS SELECT * FROM %s', ht);
    EXECUTE format('CREATE TEMP TABLE ref_table AS SELECT * FROM %s', t);
    FOR r IN SELECT p FROM hist.perms ORDER BY nr LOOP
        EXECUTE format('TRUNCATE %s, %s', t, ht);
        IF mode = 'each' THEN
            PERFORM sequenced_upsert(t, jsonb_build_array(msgs->(i - 1)))
               FROM unnest(r.p) WITH ORDINALITY u(i, o) ORDER BY o;
        ELSIF mode = 'one' THEN
            PERFORM sequenced_upsert(t, (SELECT jsonb_agg(msgs->(i - 1) ORDER BY o)
                                           FROM unnest(r.p) WITH ORDINALITY u(i, o)));
        ELSE
            PERFORM sequenced_upsert(t, (SELECT jsonb_agg(msgs->(i - 1) ORDER BY o)
                                           FROM unnest(r.p) WITH ORDINALITY u(i, o) WHERE o <= 2));
            PERFORM sequenced_upsert(t, (SELECT jsonb_agg(msgs->(i - 1) ORDER BY o)
                                           FROM unnest(r.p) WITH ORDINALITY u(i, o) WHERE o > 2));
        END IF;
        orders := orders + 1;
        EXECUTE format('SELECT count(*) FROM ((SELECT * FROM %1$s EXCEPT ALL SELECT * FROM ref_history) '
                       'UNION ALL (SELECT * FROM ref_history EXCEPT ALL SELECT * FROM %1$s)) x', ht) INTO d;
        IF d > 0 THEN
            history_differs := history_differs + 1;
            RAISE NOTICE 'order % (%): the history differs', r.p, mode;
        END IF;
        EXECUTE format('SELECT count(*) FROM ((SELECT * FROM %1$s EXCEPT ALL SELECT * FROM ref_table) '
                       'UNION ALL (SELECT * FROM ref_table EXCEPT ALL SELECT * FROM %1$s)) x', t) INTO d;
        IF d > 0 THEN
            table_differs := table_differs + 1;
        END IF;
        SELECT * INTO c FROM hist.check(t);
        IF c.gaps + c.own_seq + c.delete_cols > 0 THEN
            invariants_broken := invariants_broken + 1;
        END IF;
    END LOOP;
END
$$;

CREATE TEMP TABLE ref_history ();
CREATE TEMP TABLE ref_table ();
-- five messages of key 1, a delete among them (it carries a value, which
-- is not kept)
\set msgs '''[{"sequence": 10, "data": {"id": 1, "v": "a", "n": 1}}, {"sequence": 20, "data": {"id": 1, "v": "b"}}, {"action": "delete", "sequence": 30, "data": {"id": 1, "v": "gone"}}, {"sequence": 40, "data": {"id": 1, "v": "d", "n": 4}}, {"sequence": 50, "data": {"id": 1, "v": "e", "n": 5}}]'''
SELECT * FROM hist.permute('hist.p', :msgs, 'each');
-- the reference, once
SELECT * FROM pg_temp.ref_history ORDER BY _sdc_valid_from;
SELECT * FROM pg_temp.ref_table;
SELECT * FROM hist.permute('hist.p', :msgs, 'one');
SELECT * FROM hist.permute('hist.p', :msgs, 'split');
SELECT * FROM hist.permute('hist.pp', :msgs, 'each');
SELECT * FROM hist.permute('hist.pp', :msgs, 'one');
SELECT * FROM hist.permute('hist.pp', :msgs, 'split');
SELECT * FROM pg_temp.ref_history ORDER BY _sdc_valid_from;
SELECT * FROM hist.permute('hist.pt', :msgs, 'each');
SELECT * FROM hist.permute('hist.pt', :msgs, 'split');
SELECT * FROM pg_temp.ref_history ORDER BY _sdc_valid_from;

-- five messages with two deletes and a duplicate value (30 repeats 20's
-- record), under unchanged => 'skip': an unchanged message is a version
-- too, with its own sequence
CREATE TABLE hist.u (id int PRIMARY KEY, v text, n int);
SELECT sequenced_register('hist.u', unchanged => 'skip', history => true);
CREATE TABLE hist.upp (id int PRIMARY KEY, v text, n int) PARTITION BY HASH (id);
CREATE TABLE hist.upp0 PARTITION OF hist.upp FOR VALUES WITH (MODULUS 1, REMAINDER 0);
SELECT sequenced_register('hist.upp', unchanged => 'skip', history => true);
\set msgs '''[{"action": "delete", "sequence": 10, "data": {"id": 1}}, {"sequence": 20, "data": {"id": 1, "v": "a", "n": 1}}, {"sequence": 30, "data": {"id": 1, "v": "a", "n": 1}}, {"action": "delete", "sequence": 40, "data": {"id": 1}}, {"sequence": 50, "data": {"id": 1, "v": "b", "n": 2}}]'''
SELECT * FROM hist.permute('hist.u', :msgs, 'each');
SELECT * FROM pg_temp.ref_history ORDER BY _sdc_valid_from;
SELECT * FROM pg_temp.ref_table;
SELECT * FROM hist.permute('hist.u', :msgs, 'one');
SELECT * FROM hist.permute('hist.u', :msgs, 'split');
SELECT * FROM hist.permute('hist.upp', :msgs, 'each');
SELECT * FROM hist.permute('hist.upp', :msgs, 'split');
-- the unchanged message's version, arriving in order: its outcome
-- 'unchanged', its history row its own sequence
TRUNCATE hist.u, hist.u_history;
SELECT * FROM sequenced_upsert('hist.u', '{"id": 1, "v": "a", "n": 1}', 20);
SELECT * FROM sequenced_upsert('hist.u', '{"id": 1, "v": "a", "n": 1}', 30);
SELECT * FROM hist.u;
SELECT * FROM hist.u_history ORDER BY _sdc_valid_from;
-- a late version between them is placed by the unchanged one's sequence
SELECT * FROM sequenced_upsert('hist.u', '{"id": 1, "v": "late", "n": 9}', 25);
SELECT * FROM hist.u_history ORDER BY _sdc_valid_from;
SELECT * FROM sequenced_as_of(NULL::hist.u, 30);

--
-- 5. sequenced_as_of at every sequence boundary equals a reference: the
-- messages with sequence <= s replayed, in sequence order, into a table
-- without history; composite keys; messages arrive out of order, in
-- several calls
--
CREATE TABLE hist.s (id int, k text, v text, n numeric, PRIMARY KEY (id, k));
SELECT sequenced_register('hist.s', history => true);
CREATE TABLE hist.sp (id int, k text, v text, n numeric, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
CREATE TABLE hist.sp_a PARTITION OF hist.sp FOR VALUES IN ('a');
CREATE TABLE hist.sp_b PARTITION OF hist.sp FOR VALUES IN ('b');
SELECT sequenced_register('hist.sp', history => true);
CREATE TABLE hist.s_ref (id int, k text, v text, n numeric, PRIMARY KEY (id, k));
SELECT sequenced_register('hist.s_ref');
CREATE TABLE hist.s_msgs (call int, seq bigint, msg jsonb);
INSERT INTO hist.s_msgs VALUES
  (1, 60, '{"sequence": 60, "data": {"id": 1, "k": "a", "v": "a60", "n": 6}}'),
  (1, 5,  '{"sequence": 5,  "data": {"id": 2, "k": "a", "v": "c5"}}'),
  (1, 30, '{"action": "delete", "sequence": 30, "data": {"id": 1, "k": "b", "v": "x"}}'),
  (2, 10, '{"sequence": 10, "data": {"id": 1, "k": "a", "v": "a10", "n": 1.0}}'),
  (3, 45, '{"action": "delete", "sequence": 45, "data": {"id": 1, "k": "b"}}'),
  (3, 25, '{"sequence": 25, "data": {"id": 2, "k": "a", "v": "c25", "n": 2.50}}'),
  (3, 20, '{"sequence": 20, "data": {"id": 1, "k": "a", "v": "a20"}}'),
  (3, 15, '{"sequence": 15, "data": {"id": 1, "k": "b", "v": "b15"}}'),
  (4, 55, '{"action": "delete", "sequence": 55, "data": {"id": 2, "k": "a"}}'),
  (4, 35, '{"action": "delete", "sequence": 35, "data": {"id": 1, "k": "a"}}'),
  (4, 50, '{"sequence": 50, "data": {"id": 1, "k": "b", "v": "b50"}}'),
  (4, 40, '{"sequence": 40, "data": {"id": 1, "k": "a", "v": "a40", "n": 4}}'),
  (5, 20, '{"sequence": 20, "data": {"id": 2, "k": "b", "v": "d20"}}'),
  (6, 15, '{"sequence": 15, "data": {"id": 2, "k": "b", "v": "d15"}}'),
  (7, 60, '{"action": "delete", "sequence": 60, "data": {"id": 2, "k": "b"}}');
-- the calls, one after the other; each call's messages newest first
CREATE FUNCTION hist.send_calls(t regclass) RETURNS TABLE (call int, outcomes text)
LANGUAGE plpgsql AS $$
BEGIN
    FOR call IN SELECT DISTINCT m.call FROM hist.s_msgs m ORDER BY 1 LOOP
        SELECT string_agg(o.outcome, ',' ORDER BY o.ord) INTO outcomes
          FROM sequenced_upsert(t, (SELECT jsonb_agg(m.msg ORDER BY m.seq DESC, m.msg::text)
                                      FROM hist.s_msgs m WHERE m.call = send_calls.call)) o;
        RETURN NEXT;
    END LOOP;
END
$$;
SELECT * FROM hist.send_calls('hist.s');
SELECT * FROM hist.send_calls('hist.sp');
SELECT * FROM hist.s_history ORDER BY id, k, _sdc_valid_from;
SELECT * FROM hist.check('hist.s');
SELECT * FROM hist.check('hist.sp');
SELECT * FROM sequenced_history('hist.s', '{"id": 1, "k": "b"}');
SELECT * FROM sequenced_history('hist.sp', '{"k": "b", "id": 1}');
-- the boundaries: every sequence s, and s - 1; below and above all
CREATE FUNCTION hist.as_of_check(t regclass,
                                 OUT boundaries int, OUT mismatches int, OUT rows_compared bigint)
LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
    d bigint;
    n bigint;
BEGIN
    boundaries := 0; mismatches := 0; rows_compared := 0;
    FOR s IN SELECT DISTINCT b FROM hist.s_msgs, LATERAL (VALUES (seq), (seq - 1)) x(b)
             UNION SELECT 0 UNION SELECT 1000 ORDER BY 1 LOOP
        TRUNCATE hist.s_ref;
        PERFORM sequenced_upsert('hist.s_ref', coalesce(jsonb_agg(msg ORDER BY seq), '[]')) FROM hist.s_msgs WHERE seq <= s;
        EXECUTE format('SELECT count(*) FROM ((SELECT * FROM sequenced_as_of(NULL::%1$s, $1) EXCEPT ALL SELECT * FROM hist.s_ref) '
                       'UNION ALL (SELECT * FROM hist.s_ref EXCEPT ALL SELECT * FROM sequenced_as_of(NULL::%1$s, $1))) x', t)
          INTO d USING s;
        SELECT count(*) INTO n FROM hist.s_ref;
        boundaries := boundaries + 1;
        rows_compared := rows_compared + n;
        IF d > 0 THEN
            mismatches := mismatches + 1;
            RAISE NOTICE 'as of %: % rows differ', s, d;
        END IF;
    END LOOP;
END
$$;
SELECT * FROM hist.as_of_check('hist.s');
SELECT * FROM hist.as_of_check('hist.sp');
SELECT * FROM sequenced_as_of(NULL::hist.s, 40) ORDER BY id, k;
SELECT * FROM sequenced_as_of(NULL::hist.s, 39) ORDER BY id, k;
SELECT * FROM sequenced_as_of(NULL::hist.sp, 20) ORDER BY id, k;

--
-- 6. equal sequences: on_equal keep, replace, error
--
CREATE TABLE hist.ek (id int PRIMARY KEY, v text);
CREATE TABLE hist.er (id int PRIMARY KEY, v text);
CREATE TABLE hist.ee (id int PRIMARY KEY, v text);
SELECT sequenced_register('hist.ek', on_equal => 'keep', history => true);
SELECT sequenced_register('hist.er', on_equal => 'replace', history => true);
SELECT sequenced_register('hist.ee', on_equal => 'error', history => true);
SELECT count(*) FROM sequenced_upsert('hist.ek', '[{"sequence": 10, "data": {"id": 1, "v": "a"}},
                                     {"sequence": 20, "data": {"id": 1, "v": "b"}},
                                     {"action": "delete", "sequence": 30, "data": {"id": 1}}]');
SELECT count(*) FROM sequenced_upsert('hist.er', '[{"sequence": 10, "data": {"id": 1, "v": "a"}},
                                     {"sequence": 20, "data": {"id": 1, "v": "b"}},
                                     {"action": "delete", "sequence": 30, "data": {"id": 1}}]');
SELECT count(*) FROM sequenced_upsert('hist.ee', '[{"sequence": 10, "data": {"id": 1, "v": "a"}},
                                     {"sequence": 20, "data": {"id": 1, "v": "b"}},
                                     {"action": "delete", "sequence": 30, "data": {"id": 1}}]');
-- keep: a message at a sequence already in history adds nothing (the
-- newest's, an older one's, a delete's)
SELECT * FROM sequenced_upsert('hist.ek', '{"id": 1, "v": "x"}', 30);
SELECT * FROM sequenced_upsert('hist.ek', '{"id": 1, "v": "x"}', 20);
SELECT * FROM sequenced_delete('hist.ek', '{"id": 1}', 10);
SELECT * FROM hist.versions('hist.ek', '{"id": 1}');
-- within a call: the first enters history
SELECT * FROM sequenced_upsert('hist.ek', '[{"sequence": 15, "data": {"id": 1, "v": "first"}},
                                           {"sequence": 15, "data": {"id": 1, "v": "second"}},
                                           {"sequence": 40, "data": {"id": 1, "v": "p"}},
                                           {"sequence": 40, "data": {"id": 1, "v": "q"}}]');
SELECT * FROM hist.versions('hist.ek', '{"id": 1}');
SELECT * FROM hist.ek;
-- replace: it replaces that row (which keeps its end)
SELECT * FROM sequenced_upsert('hist.er', '{"id": 1, "v": "x30"}', 30);
SELECT * FROM sequenced_upsert('hist.er', '{"id": 1, "v": "x20"}', 20);
SELECT * FROM sequenced_delete('hist.er', '{"id": 1}', 10);
SELECT * FROM hist.versions('hist.er', '{"id": 1}');
SELECT * FROM hist.er;
-- within a call: the last enters history
SELECT * FROM sequenced_upsert('hist.er', '[{"sequence": 15, "data": {"id": 1, "v": "first"}},
                                           {"sequence": 15, "data": {"id": 1, "v": "second"}},
                                           {"sequence": 40, "data": {"id": 1, "v": "p"}},
                                           {"sequence": 40, "data": {"id": 1, "v": "q"}}]');
SELECT * FROM hist.versions('hist.er', '{"id": 1}');
SELECT * FROM hist.er;
SELECT * FROM hist.check('hist.er');
-- error: 21000 on any sequence of the key's history, stale ones included,
-- and nothing of the call is applied
SELECT * FROM sequenced_upsert('hist.ee', '{"id": 1, "v": "x"}', 30);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('hist.ee', '[{"id": 2, "v": "new"}, {"id": 1, "v": "x"}]', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete('hist.ee', '{"id": 1}', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('hist.ee', '[{"sequence": 25, "data": {"id": 1, "v": "ok"}},
                                           {"sequence": 10, "data": {"id": 1, "v": "x"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM hist.versions('hist.ee', '{"id": 1}');
SELECT count(*) FROM hist.ee;
-- within a call: two messages sharing a sequence fail it, stale or not
SELECT * FROM sequenced_upsert('hist.ee', '[{"sequence": 5, "data": {"id": 1, "v": "p"}},
                                           {"sequence": 5, "data": {"id": 1, "v": "q"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('hist.ee', '[{"sequence": 50, "data": {"id": 1, "v": "p"}},
                                           {"sequence": 40, "data": {"id": 1, "v": "r"}},
                                           {"sequence": 40, "data": {"id": 1, "v": "q"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM hist.versions('hist.ee', '{"id": 1}');
-- distinct sequences are fine, late ones too
SELECT * FROM sequenced_upsert('hist.ee', '[{"sequence": 25, "data": {"id": 1, "v": "late"}},
                                           {"sequence": 5, "data": {"id": 1, "v": "early"}},
                                           {"sequence": 50, "data": {"id": 1, "v": "new"}}]');
SELECT * FROM hist.versions('hist.ee', '{"id": 1}');
SELECT * FROM hist.check('hist.ee');

--
-- 7. soft deletes: a delete's version, not in as_of; the row brought back
--
CREATE TABLE hist.soft (id int PRIMARY KEY, v text);
SELECT sequenced_register('hist.soft', deletes => 'soft');
SELECT * FROM sequenced_upsert('hist.soft', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]', 10);
SELECT * FROM sequenced_delete('hist.soft', '{"id": 2}', 20);
-- a soft-deleted row there before history is a delete's version
SELECT sequenced_register('hist.soft', deletes => 'soft', history => true);
SELECT * FROM hist.columns('hist.soft_history');
SELECT id, v, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS marked, _sdc_valid_from, _sdc_valid_to, _sdc_deleted
  FROM hist.soft_history ORDER BY id, _sdc_valid_from;
SELECT * FROM sequenced_delete('hist.soft', '{"id": 1}', 30);
SELECT * FROM sequenced_upsert('hist.soft', '{"id": 1, "v": "late"}', 25);
SELECT * FROM sequenced_upsert('hist.soft', '{"id": 1, "v": "back"}', 40);
SELECT * FROM sequenced_delete('hist.soft', '{"id": 1}', 35);
SELECT id, v, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS marked, _sdc_valid_from, _sdc_valid_to, _sdc_deleted
  FROM hist.soft_history ORDER BY id, _sdc_valid_from;
SELECT id, v, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS marked FROM hist.soft ORDER BY id;
-- as of: a soft-deleted row is not there
SELECT s, (SELECT string_agg(format('%s:%s:%s', id, v, _sdc_deleted_at IS NULL), ',' ORDER BY id)
             FROM sequenced_as_of(NULL::hist.soft, s)) AS as_of
  FROM unnest('{10,19,20,25,30,35,40}'::bigint[]) s;
SELECT * FROM hist.check('hist.soft');

--
-- 8. the other apply paths: the staging trigger (statement and row),
-- sequenced_import (a column it adds reaches the history),
-- sequenced_delete_missing (its deletes are versions)
--
CREATE TABLE hist.stg (id int PRIMARY KEY, v text);
SELECT sequenced_register('hist.stg', history => true);
CREATE TABLE hist.stg_inbox (id int, v text, _sdc_sequence bigint, _sdc_deleted boolean);
CREATE TRIGGER apply AFTER INSERT ON hist.stg_inbox REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('hist.stg');
INSERT INTO hist.stg_inbox VALUES (1, 'a', 10, false), (1, 'c', 30, false), (1, NULL, 20, true),
                                  (2, 'x', 5, false);
INSERT INTO hist.stg_inbox VALUES (1, 'late', 15, false);
CREATE TABLE hist.stg_rows (id int, v text, _sdc_sequence bigint);
CREATE TRIGGER apply BEFORE INSERT ON hist.stg_rows
    FOR EACH ROW EXECUTE FUNCTION sequenced_apply_staging('hist.stg');
INSERT INTO hist.stg_rows VALUES (2, 'early', 1), (2, 'y', 8);
SELECT count(*) FROM hist.stg_inbox;
SELECT count(*) FROM hist.stg_rows;
SELECT * FROM hist.stg_history ORDER BY id, _sdc_valid_from;
SELECT * FROM hist.check('hist.stg');

-- import: an existing table registered with history; a new property
-- becomes a column of the table and of its history
CREATE TABLE hist.imp (id bigint PRIMARY KEY, name text);
SELECT sequenced_register('hist.imp', history => true);
SELECT * FROM sequenced_import('{
  "table_name": "hist.imp", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
  "messages": [{"action": "upsert", "sequence": 10, "data": {"id": 1, "name": "a"}},
               {"action": "upsert", "sequence": 30, "data": {"id": 1, "name": "c"}}]}');
SELECT * FROM sequenced_import('{
  "table_name": "hist.imp", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                            "score": {"type": "number"}, "tags": {"type": "array"}}},
  "messages": [{"action": "upsert", "sequence": 20, "data": {"id": 1, "name": "b", "score": 2.5, "tags": ["t"]}},
               {"action": "delete", "sequence": 40, "data": {"id": 1}},
               {"action": "upsert", "sequence": 10, "data": {"id": 2, "name": "z", "score": 1}}]}');
SELECT * FROM hist.columns('hist.imp_history');
SELECT * FROM hist.imp_history ORDER BY id, _sdc_valid_from;
SELECT * FROM sequenced_as_of(NULL::hist.imp, 25) ORDER BY id;
SELECT * FROM hist.check('hist.imp');

-- delete_missing: a rescan at 100 that no longer holds keys 3 and 4
CREATE TABLE hist.dm (id int PRIMARY KEY, v text);
SELECT sequenced_register('hist.dm', history => true);
SELECT count(*) FROM sequenced_upsert('hist.dm', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"},
                                                   {"id": 3, "v": "c"}, {"id": 4, "v": "d"}]', 10);
SELECT * FROM sequenced_upsert('hist.dm', '{"id": 4, "v": "d2"}', 50);
SELECT * FROM sequenced_upsert('hist.dm', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b2"}]', 100);
SELECT * FROM sequenced_delete_missing('hist.dm', 100, max_fraction => 1);
-- a late upsert of a deleted key before the rescan: placed before its delete
SELECT * FROM sequenced_upsert('hist.dm', '{"id": 3, "v": "c late"}', 60);
SELECT * FROM hist.dm_history ORDER BY id, _sdc_valid_from;
SELECT * FROM sequenced_as_of(NULL::hist.dm, 100) ORDER BY id;
SELECT * FROM sequenced_as_of(NULL::hist.dm, 99) ORDER BY id;
SELECT * FROM hist.check('hist.dm');

--
-- 9. a column added by hand: the next call fails (55000, HINT: register
-- again); registering again adds it to the history
--
CREATE TABLE hist.col (id int PRIMARY KEY, v text);
SELECT sequenced_register('hist.col', history => true);
SELECT * FROM sequenced_upsert('hist.col', '{"id": 1, "v": "a"}', 10);
ALTER TABLE hist.col ADD COLUMN extra int DEFAULT 5;
SELECT * FROM sequenced_upsert('hist.col', '{"id": 1, "v": "b", "extra": 6}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete('hist.col', '{"id": 1}', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM hist.col;
SELECT sequenced_register('hist.col', history => true);
SELECT * FROM hist.columns('hist.col_history');
SELECT * FROM sequenced_upsert('hist.col', '{"id": 1, "v": "b", "extra": 6}', 20);
SELECT * FROM sequenced_upsert('hist.col', '{"id": 1, "v": "c"}', 30);
SELECT * FROM hist.col_history ORDER BY id, _sdc_valid_from;
-- registering again with other options adds it too
ALTER TABLE hist.col ADD COLUMN more text;
SELECT * FROM sequenced_upsert('hist.col', '{"id": 1, "v": "d"}', 40);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_register('hist.col', on_equal => 'replace', history => true);
SELECT * FROM sequenced_upsert('hist.col', '{"id": 1, "v": "d", "more": "m"}', 40);
SELECT * FROM hist.col_history ORDER BY id, _sdc_valid_from;
-- a dropped column stays in the history (its old values with it)
ALTER TABLE hist.col DROP COLUMN extra;
SELECT * FROM sequenced_upsert('hist.col', '{"id": 1, "v": "e"}', 50);
SELECT * FROM hist.col_history ORDER BY id, _sdc_valid_from;
SELECT * FROM sequenced_as_of(NULL::hist.col, 20);
SELECT * FROM hist.check('hist.col');

--
-- 10. sequenced_purge_history: drops the rows that ended at or before
-- before_seq, returns how many; needs DELETE on the target (42501)
--
CREATE TABLE hist.pur (id int PRIMARY KEY, v text);
SELECT sequenced_register('hist.pur', history => true);
SELECT count(*) FROM sequenced_upsert('hist.pur', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]', 10);
SELECT count(*) FROM sequenced_upsert('hist.pur', '{"id": 1, "v": "a2"}', 20);
SELECT count(*) FROM sequenced_delete('hist.pur', '{"id": 2}', 30);
SELECT count(*) FROM sequenced_upsert('hist.pur', '{"id": 1, "v": "a3"}', 40);
SELECT id, _sdc_valid_from, _sdc_valid_to, _sdc_deleted FROM hist.pur_history ORDER BY id, _sdc_valid_from;
SELECT sequenced_purge_history('hist.pur', 19);
SELECT sequenced_purge_history('hist.pur', 20);
SELECT sequenced_purge_history('hist.pur', 20);
SELECT id, _sdc_valid_from, _sdc_valid_to, _sdc_deleted FROM hist.pur_history ORDER BY id, _sdc_valid_from;
SELECT sequenced_purge_history('hist.pur', 1000);
SELECT id, _sdc_valid_from, _sdc_valid_to, _sdc_deleted FROM hist.pur_history ORDER BY id, _sdc_valid_from;
-- as of a sequence after the purge point: complete still
SELECT * FROM sequenced_as_of(NULL::hist.pur, 40);
SELECT sequenced_purge_history('hist.pur', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_purge_history('hist.k', 0);

--
-- 11. privileges: the history is readable by the roles that read the
-- target (registration grants SELECT), writable by no one but superusers
--
CREATE TABLE hist.sec (id int PRIMARY KEY, v text);
ALTER TABLE hist.sec OWNER TO regress_hist_owner;
GRANT SELECT ON hist.sec TO regress_hist_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON hist.sec TO regress_hist_writer;
GRANT SELECT, INSERT, UPDATE ON hist.sec TO regress_hist_nodel;
SET ROLE regress_hist_owner;
SELECT sequenced_register('hist.sec', history => true);
SELECT count(*) FROM sequenced_upsert('hist.sec', '{"id": 1, "v": "a"}', 10);
RESET ROLE;
SET ROLE regress_hist_writer;
SELECT count(*) FROM sequenced_upsert('hist.sec', '{"id": 1, "v": "b"}', 20);
SELECT count(*) FROM sequenced_delete('hist.sec', '{"id": 1}', 30);
SELECT count(*) FROM sequenced_upsert('hist.sec', '{"id": 1, "v": "late"}', 25);
RESET ROLE;
-- readers
SET ROLE regress_hist_reader;
SELECT id, v, _sdc_valid_from, _sdc_valid_to, _sdc_deleted FROM hist.sec_history ORDER BY _sdc_valid_from;
SELECT * FROM sequenced_as_of(NULL::hist.sec, 20);
SELECT * FROM sequenced_history('hist.sec', '{"id": 1}');
-- and no writing
INSERT INTO hist.sec_history (id, v) VALUES (9, 'x');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_hist_nobody;
SELECT count(*) FROM hist.sec_history;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_as_of(NULL::hist.sec, 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_history('hist.sec', '{"id": 1}');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- the table's owner and its writers write it only through the functions
SET ROLE regress_hist_owner;
SELECT count(*) FROM hist.sec_history;
INSERT INTO hist.sec_history (id, v, _sdc_valid_from) VALUES (9, 'x', 1);
\echo :LAST_ERROR_SQLSTATE
UPDATE hist.sec_history SET v = 'forged';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM hist.sec_history;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE hist.sec_history;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE hist.sec_history ADD COLUMN x int;
\echo :LAST_ERROR_SQLSTATE
DROP TABLE hist.sec_history;
\echo :LAST_ERROR_SQLSTATE
GRANT INSERT ON hist.sec_history TO regress_hist_owner;
SELECT has_table_privilege('regress_hist_owner', 'hist.sec_history', 'INSERT');
RESET ROLE;
SET ROLE regress_hist_writer;
INSERT INTO hist.sec_history (id, v, _sdc_valid_from) VALUES (9, 'x', 1);
\echo :LAST_ERROR_SQLSTATE
UPDATE hist.sec_history SET v = 'forged';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM hist.sec_history;
\echo :LAST_ERROR_SQLSTATE
-- purge needs DELETE on the target
SELECT sequenced_purge_history('hist.sec', 1000);
RESET ROLE;
SELECT count(*) FROM sequenced_upsert('hist.sec', '{"id": 1, "v": "c"}', 40);
SET ROLE regress_hist_nodel;
SELECT sequenced_purge_history('hist.sec', 1000);
\echo :LAST_ERROR_SQLSTATE
-- (an upsert needs no DELETE, and writes history)
SELECT count(*) FROM sequenced_upsert('hist.sec', '{"id": 1, "v": "d"}', 50);
RESET ROLE;
SET ROLE regress_hist_reader;
SELECT sequenced_purge_history('hist.sec', 1000);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_hist_owner;
SELECT sequenced_purge_history('hist.sec', 45);
RESET ROLE;
SELECT id, v, _sdc_valid_from, _sdc_valid_to, _sdc_deleted FROM hist.sec_history ORDER BY _sdc_valid_from;
-- a role granted SELECT later reads the history once the table is
-- registered again
GRANT SELECT ON hist.sec TO regress_hist_nobody;
SET ROLE regress_hist_owner;
SELECT sequenced_register('hist.sec', history => true);
RESET ROLE;
SET ROLE regress_hist_nobody;
SELECT count(*) FROM hist.sec_history;
SELECT * FROM sequenced_as_of(NULL::hist.sec, 1000);
RESET ROLE;
-- a superuser may write it
INSERT INTO hist.sec_history (id, v, _sdc_sequence, _sdc_valid_from) VALUES (9, 'x', 1, 1);
DELETE FROM hist.sec_history WHERE id = 9;

--
-- the invariants over every history table of this file (but those of
-- section 1's name clashes)
--
SELECT c.relid, x.gaps, x.own_seq, x.delete_cols
  FROM sequenced_tables c, hist.check(c.relid) x
 WHERE c.history AND c.relid IN (SELECT oid FROM pg_class WHERE relnamespace = 'hist'::regnamespace
                                    AND relname NOT IN ('taken3', 'ren', 'ren_b'))
 ORDER BY c.relid::text COLLATE "C";

SET client_min_messages = warning;
DROP SCHEMA hist CASCADE;
RESET client_min_messages;
DROP ROLE regress_hist_owner;
DROP ROLE regress_hist_reader;
DROP ROLE regress_hist_writer;
DROP ROLE regress_hist_nodel;
DROP ROLE regress_hist_nobody;
