--
-- unchanged: unchanged => 'skip' and the outcome 'unchanged' (SPEC section 6,
-- "Unchanged records")
--
-- A message that would be applied and holds the stored values (the same
-- binary representation after conversion, DEFAULTs of omitted columns
-- included) writes no row: the row keeps its sequence column, the feed gets
-- no position; the key's stored sequence and max_sequence advance.
--
-- Positions are opaque: the feed is printed as ranks (unc.feed) and
-- compared to a cursor (:last).  Everything lives in schema unc; the last
-- section removes it.  Tables are made with autovacuum off (an auto-analyze
-- holds an xid for a moment, which would hold the feed back).
--
CREATE SCHEMA unc;
SET search_path = unc, public;
SET TimeZone = 'UTC';

-- the feed of a table after a position, positions as ranks
CREATE FUNCTION unc.feed(t regclass, after bigint DEFAULT 0)
RETURNS TABLE (rank bigint, seq bigint, key jsonb, deleted boolean)
LANGUAGE sql AS $$
  SELECT row_number() OVER (ORDER BY c.pos), c.seq, c.key, c.deleted
    FROM sequenced_changes(t, after) c ORDER BY c.pos
$$;
-- the last position of the feed (0 when empty)
CREATE FUNCTION unc.last(t regclass) RETURNS bigint
LANGUAGE sql AS $$ SELECT coalesce(max(pos), 0) FROM sequenced_changes(t) $$;

--
-- the option: default 'write', shown by sequenced_tables; a bad value fails
--
CREATE TABLE unc.opt (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.opt');
SELECT relid, unchanged FROM sequenced_tables WHERE relid = 'unc.opt'::regclass;
SELECT sequenced_register('unc.opt', unchanged => 'skip');
SELECT relid, unchanged FROM sequenced_tables WHERE relid = 'unc.opt'::regclass;
SELECT sequenced_register('unc.opt', unchanged => 'SKIP');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_register('unc.opt', unchanged => 'never');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_register('unc.opt', unchanged => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT relid, unchanged FROM sequenced_tables WHERE relid = 'unc.opt'::regclass;
-- positional: the seventh argument
SELECT sequenced_register('unc.opt', NULL, '_sdc_sequence', 'keep', 'hard', 'per_key', 'write');
SELECT relid, on_equal, deletes, ordering, unchanged FROM sequenced_tables WHERE relid = 'unc.opt'::regclass;

--
-- values compared per column type: the same binary representation after
-- conversion
--
CREATE TABLE unc.v (
    id  int PRIMARY KEY,
    n   numeric,
    j   jsonb,
    t   text,
    a   int[],
    ta  text[],
    b   boolean,
    f   float8,
    ts  timestamptz
) WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.v', unchanged => 'skip');
\set vstate 'SELECT id, n, j, t, a, ta, b, f, ts, _sdc_sequence FROM unc.v ORDER BY id'
SELECT * FROM sequenced_upsert('unc.v', '{"id": 1, "n": 1.0, "j": {"a": 1, "b": [1, 2]}, "t": "x",
  "a": [1, 2], "ta": ["p", "q"], "b": true, "f": 1.5, "ts": "2020-01-01T00:00:00Z"}', 10);
:vstate;
SELECT unc.last('unc.v') AS last \gset
-- the same record again, newer: unchanged; the row keeps sequence 10
SELECT * FROM sequenced_upsert('unc.v', '{"id": 1, "n": 1.0, "j": {"a": 1, "b": [1, 2]}, "t": "x",
  "a": [1, 2], "ta": ["p", "q"], "b": true, "f": 1.5, "ts": "2020-01-01T00:00:00Z"}', 11);
:vstate;
SELECT sequenced_max_sequence('unc.v');
-- no new position
SELECT * FROM unc.feed('unc.v', :last);
-- the same values, spelled differently in JSON: converted first, then
-- compared (jsonb keeps no key order or whitespace; "1.0" into numeric is
-- 1.0; "t" into boolean is true; a timestamp in another zone is the same
-- instant; a text array's literal is the same array)
SELECT * FROM sequenced_upsert('unc.v', '{"ts": "2020-01-01 01:00:00+01", "b": "t", "ta": "{p,q}",
  "a": ["1", 2], "t": "x", "j": {"b": [1, 2], "a": 1}, "n": "1.0", "id": "1", "f": "1.5"}', 12);
:vstate;
SELECT * FROM unc.feed('unc.v', :last);
-- numeric: 1.00 is not 1.0 (another scale)
SELECT * FROM sequenced_upsert('unc.v', '{"id": 1, "n": 1.00, "j": {"a": 1, "b": [1, 2]}, "t": "x",
  "a": [1, 2], "ta": ["p", "q"], "b": true, "f": 1.5, "ts": "2020-01-01T00:00:00Z"}', 13);
:vstate;
SELECT * FROM unc.feed('unc.v', :last);
SELECT unc.last('unc.v') AS last \gset
-- from here on, a base record in a psql variable, one property changed at a time
\set base '{"id": 1, "n": 1.00, "j": {"a": 1, "b": [1, 2]}, "t": "x", "a": [1, 2], "ta": ["p", "q"], "b": true, "f": 1.5, "ts": "2020-01-01T00:00:00Z"}'
SELECT * FROM sequenced_upsert('unc.v', :'base', 14);
-- jsonb: 1.0 is not 1 (numeric scale inside jsonb)
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"j": {"a": 1.0, "b": [1, 2]}}', 15);
SELECT j FROM unc.v;
-- jsonb: another array order is another value
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"j": {"a": 1.0, "b": [2, 1]}}', 16);
-- jsonb: a string "1" is not the number 1
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"j": "1"}', 17);
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"j": 1}', 18);
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"j": 1}', 19);
SELECT j FROM unc.v;
-- text: a trailing space, and case
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"j": 1, "t": "x "}', 20);
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"j": 1, "t": "X"}', 21);
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"j": 1, "t": "X"}', 22);
-- arrays: order, a NULL element, empty, NULL
\set base '{"id": 1, "n": 1.00, "j": 1, "t": "X", "a": [1, 2], "ta": ["p", "q"], "b": true, "f": 1.5, "ts": "2020-01-01T00:00:00Z"}'
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"a": [2, 1]}', 23);
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"a": [2, 1, null]}', 24);
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"a": [2, 1, null]}', 25);
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"a": []}', 26);
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"a": null}', 27);
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"a": []}', 28);
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"a": "{}"}', 29);
-- float8: -0 is not 0 (a JSON number -0.0 is the numeric 0.0, so 0; the
-- string "-0" is float8's -0)
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"a": [], "f": 0}', 30);
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"a": [], "f": -0.0}', 31);
SELECT * FROM sequenced_upsert('unc.v', :'base'::jsonb || '{"a": [], "f": "-0"}', 32);
-- NULLs: null where the row holds NULL is the same; an omitted column
-- without a DEFAULT is NULL
SELECT * FROM sequenced_upsert('unc.v', '{"id": 1, "t": null}', 33);
:vstate;
SELECT * FROM sequenced_upsert('unc.v', '{"id": 1, "t": null}', 34);
SELECT * FROM sequenced_upsert('unc.v', '{"id": 1}', 35);
SELECT * FROM sequenced_upsert('unc.v', '{"id": 1, "n": null, "j": null, "t": null, "a": null, "ta": null,
  "b": null, "f": null, "ts": null}', 36);
-- jsonb: JSON null into a jsonb column is SQL NULL, not the jsonb null
SELECT j IS NULL AS j_is_sql_null FROM unc.v;
SELECT * FROM sequenced_upsert('unc.v', '{"id": 1, "t": ""}', 37);
SELECT * FROM sequenced_upsert('unc.v', '{"id": 1}', 38);
:vstate;
SELECT sequenced_max_sequence('unc.v');
-- the feed: one entry for the key, at the sequence of the version it holds
SELECT * FROM unc.feed('unc.v');

-- a large (TOASTed, compressed) value: compared by its value, not its pointer
SELECT * FROM sequenced_upsert('unc.v', jsonb_build_object('id', 2, 't', repeat('abc', 100000)), 10);
SELECT * FROM sequenced_upsert('unc.v', jsonb_build_object('id', 2, 't', repeat('abc', 100000)), 11);
SELECT * FROM sequenced_upsert('unc.v', jsonb_build_object('id', 2, 't', repeat('abc', 100000) || 'd'), 12);
SELECT * FROM sequenced_upsert('unc.v', jsonb_build_object('id', 2, 't', repeat('abc', 100000) || 'd'), 13);
SELECT id, length(t), _sdc_sequence FROM unc.v WHERE id = 2;

-- values are compared as they would be written: after the column's type
-- modifier (numeric(6,2) 1.5 is 1.50, char(4) pads, timestamp(0) rounds),
-- on the direct path and the statement path (a partitioned table); a
-- DEFAULT too (1.5 into numeric(6,2)); interval '24 hours' is not '1 day';
-- a uuid in upper case is the same uuid
CREATE TABLE unc.tm (id int PRIMARY KEY, n numeric(6,2), c char(4), ts timestamp(0), arr numeric(6,2)[],
                     u uuid, iv interval, nd numeric(6,2) DEFAULT 1.5) WITH (autovacuum_enabled = off);
CREATE TABLE unc.tmp (id int PRIMARY KEY, n numeric(6,2), c char(4), ts timestamp(0), arr numeric(6,2)[],
                      u uuid, iv interval, nd numeric(6,2) DEFAULT 1.5) PARTITION BY RANGE (id);
CREATE TABLE unc.tmp_a PARTITION OF unc.tmp FOR VALUES FROM (MINVALUE) TO (MAXVALUE) WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.tm', unchanged => 'skip'), sequenced_register('unc.tmp', unchanged => 'skip');
\set tmrec '{"id": 1, "n": 1.5, "c": "ab", "ts": "2020-01-01 00:00:00.4", "arr": [1.5], "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "iv": "1 day"}'
SELECT t, u.* FROM unnest(ARRAY['unc.tm', 'unc.tmp']::regclass[]) t, sequenced_upsert(t, :'tmrec', 10) u;
SELECT * FROM unc.tm;
SELECT t, u.* FROM unnest(ARRAY['unc.tm', 'unc.tmp']::regclass[]) t,
  sequenced_upsert(t, :'tmrec'::jsonb || '{"n": "1.500", "c": "ab  ", "ts": "2020-01-01 00:00:00.1", "arr": ["1.50"],
                   "u": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "nd": 1.50}', 11) u;
SELECT t, u.* FROM unnest(ARRAY['unc.tm', 'unc.tmp']::regclass[]) t,
  sequenced_upsert(t, :'tmrec'::jsonb || '{"iv": "24 hours"}', 12) u;
SELECT t, u.* FROM unnest(ARRAY['unc.tm', 'unc.tmp']::regclass[]) t,
  sequenced_upsert(t, :'tmrec'::jsonb || '{"ts": "2020-01-01 00:00:00.6"}', 13) u;
SELECT * FROM unc.tm;
SELECT * FROM unc.tmp;

-- a key column is not compared (the row was found by it): a numeric key
-- 1.00 for a row stored as 1.0 finds it, and 'write' does not rewrite it
-- either
CREATE TABLE unc.nkey (id numeric PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.nkey', unchanged => 'skip');
SELECT * FROM sequenced_upsert('unc.nkey', '{"id": 1.0, "v": "a"}', 10);
SELECT * FROM sequenced_upsert('unc.nkey', '{"id": 1.00, "v": "a"}', 11);
SELECT * FROM unc.nkey;
SELECT sequenced_register('unc.nkey', unchanged => 'write');
SELECT * FROM sequenced_upsert('unc.nkey', '{"id": 1.00, "v": "a"}', 12);
SELECT * FROM unc.nkey;

--
-- omitted columns and their DEFAULTs
--
-- a constant DEFAULT: an omitted column counts with it
CREATE TABLE unc.dconst (id int PRIMARY KEY, v text, k int DEFAULT 7) WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.dconst', unchanged => 'skip');
SELECT * FROM sequenced_upsert('unc.dconst', '{"id": 1, "v": "a"}', 10);
SELECT * FROM sequenced_upsert('unc.dconst', '{"id": 1, "v": "a", "k": 7}', 11);
SELECT * FROM sequenced_upsert('unc.dconst', '{"id": 1, "v": "a", "k": 8}', 12);
-- omitted: 7 again, which is a change from 8
SELECT * FROM sequenced_upsert('unc.dconst', '{"id": 1, "v": "a"}', 13);
SELECT * FROM sequenced_upsert('unc.dconst', '{"id": 1, "v": "a"}', 14);
-- an explicit null is not the DEFAULT
SELECT * FROM sequenced_upsert('unc.dconst', '{"id": 1, "v": "a", "k": null}', 15);
SELECT * FROM sequenced_upsert('unc.dconst', '{"id": 1, "v": "a"}', 16);
SELECT * FROM unc.dconst;

-- a stable DEFAULT (now()): the same within a transaction, another value in
-- the next one
CREATE TABLE unc.dstable (id int PRIMARY KEY, v text, at timestamptz DEFAULT now())
  WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.dstable', unchanged => 'skip');
BEGIN;
SELECT * FROM sequenced_upsert('unc.dstable', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]', 10);
SELECT * FROM sequenced_upsert('unc.dstable', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]', 11);
SELECT id, at = now() AS at_now, _sdc_sequence FROM unc.dstable ORDER BY id;
COMMIT;
-- a new transaction: now() differs, so the omitted column changes
SELECT * FROM sequenced_upsert('unc.dstable', '{"id": 1, "v": "a"}', 12);
-- sending the stored value is no change
SELECT * FROM sequenced_upsert('unc.dstable',
  (SELECT jsonb_build_object('id', 2, 'v', 'b', 'at', at) FROM unc.dstable WHERE id = 2), 12);
SELECT id, at = now() AS at_now, _sdc_sequence FROM unc.dstable ORDER BY id;

-- volatile DEFAULTs (clock_timestamp(), nextval()): an omitted one is a
-- change, and is not evaluated for the comparison (only for the write)
CREATE SEQUENCE unc.ctr;
CREATE TABLE unc.dvol (id int PRIMARY KEY, v text, c int DEFAULT nextval('unc.ctr'))
  WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.dvol', unchanged => 'skip');
SELECT * FROM sequenced_upsert('unc.dvol', '{"id": 1, "v": "a"}', 10);
SELECT last_value FROM unc.ctr;
SELECT * FROM sequenced_upsert('unc.dvol', '{"id": 1, "v": "a"}', 11);
SELECT * FROM sequenced_upsert('unc.dvol', '{"id": 1, "v": "a"}', 12);
-- one nextval per write: 3 writes, 3 values
SELECT last_value FROM unc.ctr;
SELECT * FROM unc.dvol;
-- sending the column: compared, and no nextval
SELECT * FROM sequenced_upsert('unc.dvol', '{"id": 1, "v": "a", "c": 3}', 13);
SELECT last_value FROM unc.ctr;
SELECT * FROM unc.dvol;
-- a stale message evaluates nothing either
SELECT * FROM sequenced_upsert('unc.dvol', '{"id": 1, "v": "a"}', 5);
SELECT last_value FROM unc.ctr;

CREATE TABLE unc.dclock (id int PRIMARY KEY, v text, c timestamptz DEFAULT clock_timestamp())
  WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.dclock', unchanged => 'skip');
BEGIN;
SELECT * FROM sequenced_upsert('unc.dclock', '{"id": 1, "v": "a"}', 10);
SELECT * FROM sequenced_upsert('unc.dclock', '{"id": 1, "v": "a"}', 11);
SELECT * FROM sequenced_upsert('unc.dclock', '{"id": 1, "v": "a"}', 12);
COMMIT;
SELECT id, v, _sdc_sequence FROM unc.dclock;
SELECT * FROM sequenced_upsert('unc.dclock',
  (SELECT jsonb_build_object('id', 1, 'v', 'a', 'c', c) FROM unc.dclock WHERE id = 1), 13);
SELECT id, v, _sdc_sequence FROM unc.dclock;

-- identity (BY DEFAULT, not a key) and generated columns are never
-- written on update, so they take no part: the same record is unchanged,
-- and the identity's sequence is not used
CREATE TABLE unc.ident (id int PRIMARY KEY, v text, n int,
                        idn int GENERATED BY DEFAULT AS IDENTITY,
                        g int GENERATED ALWAYS AS (n * 2) STORED)
  WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.ident', unchanged => 'skip');
SELECT * FROM sequenced_upsert('unc.ident', '{"id": 1, "v": "a", "n": 1}', 10);
SELECT * FROM sequenced_upsert('unc.ident', '{"id": 1, "v": "a", "n": 1}', 11);
SELECT * FROM sequenced_upsert('unc.ident', '{"id": 1, "v": "a", "n": 2}', 12);
SELECT * FROM sequenced_upsert('unc.ident', '{"id": 2, "v": "b", "n": 2}', 12);
SELECT * FROM unc.ident ORDER BY id;

--
-- soft deletes: a soft-deleted row brought back is a change, whatever its
-- values
--
CREATE TABLE unc.soft (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.soft', deletes => 'soft', unchanged => 'skip');
SELECT * FROM sequenced_upsert('unc.soft', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]', 10);
SELECT * FROM sequenced_delete('unc.soft', '{"id": 1}', 20);
SELECT id, v, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM unc.soft ORDER BY id;
SELECT unc.last('unc.soft') AS last \gset
SELECT * FROM sequenced_upsert('unc.soft', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]', 30);
SELECT id, v, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM unc.soft ORDER BY id;
SELECT * FROM unc.feed('unc.soft', :last);
SELECT * FROM sequenced_upsert('unc.soft', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]', 40);
SELECT id, v, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM unc.soft ORDER BY id;
-- a soft delete after an unchanged message: beats the key's sequence (40),
-- not only the row's (10)
SELECT * FROM sequenced_delete('unc.soft', '{"id": 2}', 35);
SELECT * FROM sequenced_delete('unc.soft', '{"id": 2}', 41);
SELECT id, v, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM unc.soft ORDER BY id;
-- hard deletes: a key brought back from a tombstone is inserted
CREATE TABLE unc.hard (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.hard', unchanged => 'skip');
SELECT * FROM sequenced_upsert('unc.hard', '{"id": 1, "v": "a"}', 10);
SELECT * FROM sequenced_delete('unc.hard', '{"id": 1}', 20);
SELECT * FROM sequenced_upsert('unc.hard', '{"id": 1, "v": "a"}', 30);
SELECT * FROM sequenced_upsert('unc.hard', '{"id": 1, "v": "a"}', 31);
SELECT * FROM unc.hard;
-- a delete older than the unchanged message (31) but newer than the row (30)
SELECT * FROM sequenced_upsert('unc.hard', '{"id": 1, "v": "a"}', 40);
SELECT * FROM sequenced_delete('unc.hard', '{"id": 1}', 35);
SELECT * FROM unc.hard;

--
-- equal sequences, under each on_equal
--
CREATE TABLE unc.eq_keep (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.eq_keep', on_equal => 'keep', unchanged => 'skip');
SELECT * FROM sequenced_upsert('unc.eq_keep', '{"id": 1, "v": "a"}', 10);
-- keep: equal is stale, same values or not
SELECT * FROM sequenced_upsert('unc.eq_keep', '{"id": 1, "v": "a"}', 10);
SELECT * FROM sequenced_upsert('unc.eq_keep', '{"id": 1, "v": "b"}', 10);
-- after an unchanged message at 11, equal means equal to 11
SELECT * FROM sequenced_upsert('unc.eq_keep', '{"id": 1, "v": "a"}', 11);
SELECT * FROM sequenced_upsert('unc.eq_keep', '{"id": 1, "v": "b"}', 11);
SELECT * FROM unc.eq_keep;
-- within one call: the first of equal sequences wins; it decides the outcome
SELECT * FROM sequenced_upsert('unc.eq_keep', '[
  {"sequence": 12, "data": {"id": 1, "v": "a"}},
  {"sequence": 12, "data": {"id": 1, "v": "c"}}]');
SELECT * FROM sequenced_upsert('unc.eq_keep', '[
  {"sequence": 13, "data": {"id": 1, "v": "c"}},
  {"sequence": 13, "data": {"id": 1, "v": "a"}}]');
SELECT * FROM unc.eq_keep;

CREATE TABLE unc.eq_replace (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.eq_replace', on_equal => 'replace', unchanged => 'skip');
SELECT * FROM sequenced_upsert('unc.eq_replace', '{"id": 1, "v": "a"}', 10);
SELECT unc.last('unc.eq_replace') AS last \gset
-- replace: equal with the same values is unchanged, with others updated
SELECT * FROM sequenced_upsert('unc.eq_replace', '{"id": 1, "v": "a"}', 10);
SELECT * FROM unc.feed('unc.eq_replace', :last);
SELECT * FROM sequenced_upsert('unc.eq_replace', '{"id": 1, "v": "b"}', 10);
SELECT * FROM unc.eq_replace;
SELECT * FROM unc.feed('unc.eq_replace', :last);
SELECT unc.last('unc.eq_replace') AS last \gset
-- unchanged at 11: the row keeps 10, the key is at 11
SELECT * FROM sequenced_upsert('unc.eq_replace', '{"id": 1, "v": "b"}', 11);
SELECT * FROM unc.eq_replace;
-- 10 is older than the key's 11 now: stale
SELECT * FROM sequenced_upsert('unc.eq_replace', '{"id": 1, "v": "c"}', 10);
-- 11 ties the key: replaced
SELECT * FROM sequenced_upsert('unc.eq_replace', '{"id": 1, "v": "c"}', 11);
SELECT * FROM unc.eq_replace;
SELECT * FROM unc.feed('unc.eq_replace', :last);
-- within one call: the last of equal sequences wins
SELECT * FROM sequenced_upsert('unc.eq_replace', '[
  {"sequence": 12, "data": {"id": 1, "v": "z"}},
  {"sequence": 12, "data": {"id": 1, "v": "c"}}]');
SELECT * FROM unc.eq_replace;

CREATE TABLE unc.eq_error (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.eq_error', on_equal => 'error', unchanged => 'skip');
SELECT * FROM sequenced_upsert('unc.eq_error', '{"id": 1, "v": "a"}', 10);
-- error: a message equal to the stored sequence fails, same values or not
SELECT * FROM sequenced_upsert('unc.eq_error', '{"id": 1, "v": "a"}', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('unc.eq_error', '{"id": 1, "v": "b"}', 10);
\echo :LAST_ERROR_SQLSTATE
-- after an unchanged message at 11: 11 is the stored sequence; 10 is older
SELECT * FROM sequenced_upsert('unc.eq_error', '{"id": 1, "v": "a"}', 11);
SELECT * FROM sequenced_upsert('unc.eq_error', '{"id": 1, "v": "a"}', 11);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('unc.eq_error', '{"id": 1, "v": "a"}', 10);
-- two of one call at one sequence: fails, same values or not
SELECT * FROM sequenced_upsert('unc.eq_error', '[
  {"sequence": 12, "data": {"id": 1, "v": "a"}},
  {"sequence": 12, "data": {"id": 1, "v": "a"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM unc.eq_error;
SELECT sequenced_max_sequence('unc.eq_error');

--
-- the feed and late messages; max_sequence; rollback
--
CREATE TABLE unc.fd (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.fd', unchanged => 'skip');
SELECT * FROM sequenced_upsert('unc.fd', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}]', 10);
SELECT unc.last('unc.fd') AS last \gset
-- one call: 1 unchanged, 2 updated, 3 stale, 4 inserted; superseded
-- messages of 1 change nothing
SELECT * FROM sequenced_upsert('unc.fd', '[
  {"sequence": 19, "data": {"id": 1, "v": "a older"}},
  {"sequence": 20, "data": {"id": 1, "v": "a"}},
  {"sequence": 20, "data": {"id": 2, "v": "b2"}},
  {"sequence": 5,  "data": {"id": 3, "v": "c0"}},
  {"sequence": 20, "data": {"id": 4, "v": "d"}},
  {"sequence": 18, "data": {"id": 1, "v": "a oldest"}}]');
SELECT id, v, _sdc_sequence FROM unc.fd ORDER BY id;
SELECT sequenced_max_sequence('unc.fd');
-- the feed after the cursor: only the real changes
SELECT * FROM unc.feed('unc.fd', :last);
-- the whole feed: key 1 once, with the sequence of the row it holds (10)
SELECT * FROM unc.feed('unc.fd');
-- a late message older than the unchanged one (20) but newer than the row
-- (10) is stale, as is a delete
SELECT * FROM sequenced_upsert('unc.fd', '{"id": 1, "v": "a late"}', 15);
SELECT * FROM sequenced_delete('unc.fd', '{"id": 1}', 15);
SELECT id, v, _sdc_sequence FROM unc.fd ORDER BY id;
-- max_sequence advances for an unchanged message alone
SELECT * FROM sequenced_upsert('unc.fd', '{"id": 1, "v": "a"}', 50);
SELECT sequenced_max_sequence('unc.fd');
-- rolled back: neither max_sequence nor the key's sequence advance
BEGIN;
SELECT * FROM sequenced_upsert('unc.fd', '{"id": 1, "v": "a"}', 60);
SELECT sequenced_max_sequence('unc.fd');
ROLLBACK;
SELECT sequenced_max_sequence('unc.fd');
SELECT * FROM sequenced_upsert('unc.fd', '{"id": 1, "v": "a 55"}', 55);
SELECT id, v, _sdc_sequence FROM unc.fd ORDER BY id;
SELECT * FROM unc.feed('unc.fd', :last);
-- in a savepoint rolled back: the same
BEGIN;
SAVEPOINT s;
SELECT * FROM sequenced_upsert('unc.fd', '{"id": 2, "v": "b2"}', 70);
ROLLBACK TO SAVEPOINT s;
SELECT * FROM sequenced_upsert('unc.fd', '{"id": 2, "v": "b 65"}', 65);
COMMIT;
SELECT id, v, _sdc_sequence FROM unc.fd ORDER BY id;
SELECT sequenced_max_sequence('unc.fd');

-- per_table ordering: an unchanged message advances max_sequence, which
-- makes older messages of other keys stale
CREATE TABLE unc.pt (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.pt', ordering => 'per_table', unchanged => 'skip');
SELECT * FROM sequenced_upsert('unc.pt', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]', 10);
SELECT * FROM sequenced_upsert('unc.pt', '{"id": 1, "v": "a"}', 20);
SELECT * FROM sequenced_upsert('unc.pt', '{"id": 2, "v": "b2"}', 15);
SELECT id, v, _sdc_sequence FROM unc.pt ORDER BY id;
SELECT sequenced_max_sequence('unc.pt');

-- a row that was there before registration (sequence NULL) with the same
-- values is unchanged: its sequence column stays NULL, the key's is 5
CREATE TABLE unc.pre (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
INSERT INTO unc.pre VALUES (1, 'a'), (2, 'b');
SELECT sequenced_register('unc.pre', unchanged => 'skip');
SELECT * FROM sequenced_upsert('unc.pre', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b2"}]', 5);
SELECT * FROM unc.pre ORDER BY id;
SELECT * FROM sequenced_upsert('unc.pre', '{"id": 1, "v": "a4"}', 4);
SELECT * FROM unc.feed('unc.pre');

--
-- every apply path: the same calls give the same outcomes on a plain table
-- (the direct path), a table with a trigger, a partitioned table, a table
-- under row-level security (the statement path) and in a serializable
-- transaction
--
CREATE FUNCTION unc.scenario(t regclass)
RETURNS TABLE (step int, ord int, key jsonb, seq bigint, outcome text)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY SELECT 1, u.* FROM sequenced_upsert(t, '[
    {"id": 1, "n": 1.0, "j": {"a": 1}, "a": [1, 2]},
    {"id": 2, "n": 2.0, "j": {"a": 2}, "a": [2]},
    {"id": 3, "n": 3.0, "j": {"a": 3}, "a": [3]}]', 10) u;
  -- 1 the same, 2 another scale, 3 not sent, 4 new
  RETURN QUERY SELECT 2, u.* FROM sequenced_upsert(t, '[
    {"id": 4, "n": 4.0, "j": {"a": 4}, "a": [4]},
    {"id": 2, "n": 2.00, "j": {"a": 2}, "a": [2]},
    {"id": 1, "n": "1.0", "j": {"a": 1}, "a": "{1,2}"}]', 20) u;
  -- two-argument form: 1 the same (superseded older variant), 3 stale,
  -- 3 the same, 2 the same but k (DEFAULT 7) sent as 8, 4 deleted
  RETURN QUERY SELECT 3, u.* FROM sequenced_upsert(t, '[
    {"sequence": 25, "data": {"id": 1, "n": 9}},
    {"sequence": 30, "data": {"id": 1, "n": 1.0, "j": {"a": 1}, "a": [1, 2]}},
    {"sequence": 5, "data": {"id": 3, "n": 0}},
    {"sequence": 30, "data": {"id": 3, "n": 3.0, "j": {"a": 3}, "a": [3], "k": 7}},
    {"sequence": 30, "data": {"id": 2, "n": 2.00, "j": {"a": 2}, "a": [2], "k": 8}},
    {"action": "delete", "sequence": 30, "data": {"id": 4}}]') u;
  -- late messages, older than the unchanged ones, newer than the rows
  RETURN QUERY SELECT 4, u.* FROM sequenced_upsert(t, '[
    {"sequence": 15, "data": {"id": 1, "n": 1.5}},
    {"sequence": 15, "data": {"id": 3, "n": 3.5}},
    {"sequence": 25, "data": {"id": 4, "n": 4.0, "j": {"a": 4}, "a": [4]}}]') u;
  -- 4 again, as it was before its delete: inserted
  RETURN QUERY SELECT 5, u.* FROM sequenced_upsert(t, '{"id": 4, "n": 4.0, "j": {"a": 4}, "a": [4]}', 40) u;
  RETURN QUERY SELECT 6, u.* FROM sequenced_upsert(t, '{"id": 4, "n": 4.0, "j": {"a": 4}, "a": [4]}', 41) u;
END $$;
-- the rows, the max_sequence and the feed of a scenario table
CREATE FUNCTION unc.outcome(t regclass)
RETURNS TABLE (what text, v text)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE format('SELECT ''row'', format(''%%s n=%%s j=%%s a=%%s k=%%s seq=%%s'', id, n, j, a, k, _sdc_sequence) FROM %s ORDER BY id', t);
  RETURN QUERY SELECT 'max_sequence', sequenced_max_sequence(t)::text;
  RETURN QUERY SELECT 'feed', format('%s %s %s deleted=%s', f.rank, f.key, f.seq, f.deleted) FROM unc.feed(t) f;
END $$;

CREATE TABLE unc.p_plain (id int PRIMARY KEY, n numeric, j jsonb, a int[], k int DEFAULT 7)
  WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.p_plain', unchanged => 'skip');
SELECT * FROM unc.scenario('unc.p_plain');
SELECT * FROM unc.outcome('unc.p_plain');

CREATE TABLE unc.p_trig (id int PRIMARY KEY, n numeric, j jsonb, a int[], k int DEFAULT 7)
  WITH (autovacuum_enabled = off);
CREATE TABLE unc.p_trig_log (id int, op text);
CREATE FUNCTION unc.p_trig_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO unc.p_trig_log VALUES (coalesce(NEW.id, OLD.id), TG_OP);
  RETURN NULL;
END $$;
CREATE TRIGGER log AFTER INSERT OR UPDATE OR DELETE ON unc.p_trig
  FOR EACH ROW EXECUTE FUNCTION unc.p_trig_log();
SELECT sequenced_register('unc.p_trig', unchanged => 'skip');
SELECT * FROM unc.scenario('unc.p_trig');
SELECT * FROM unc.outcome('unc.p_trig');
-- the trigger saw the writes only: no UPDATE for an unchanged message
SELECT op, string_agg(id::text, ',' ORDER BY id) FROM unc.p_trig_log GROUP BY op ORDER BY op;

CREATE TABLE unc.p_part (id int PRIMARY KEY, n numeric, j jsonb, a int[], k int DEFAULT 7)
  PARTITION BY RANGE (id);
CREATE TABLE unc.p_part_a PARTITION OF unc.p_part FOR VALUES FROM (MINVALUE) TO (3)
  WITH (autovacuum_enabled = off);
CREATE TABLE unc.p_part_b PARTITION OF unc.p_part FOR VALUES FROM (3) TO (MAXVALUE)
  WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.p_part', unchanged => 'skip');
SELECT * FROM unc.scenario('unc.p_part');
SELECT * FROM unc.outcome('unc.p_part');

CREATE TABLE unc.p_rls (id int PRIMARY KEY, n numeric, j jsonb, a int[], k int DEFAULT 7)
  WITH (autovacuum_enabled = off);
ALTER TABLE unc.p_rls ENABLE ROW LEVEL SECURITY;
ALTER TABLE unc.p_rls FORCE ROW LEVEL SECURITY;
CREATE POLICY everything ON unc.p_rls USING (true) WITH CHECK (true);
SELECT sequenced_register('unc.p_rls', unchanged => 'skip');
SELECT * FROM unc.scenario('unc.p_rls');
SELECT * FROM unc.outcome('unc.p_rls');

CREATE TABLE unc.p_ser (id int PRIMARY KEY, n numeric, j jsonb, a int[], k int DEFAULT 7)
  WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.p_ser', unchanged => 'skip');
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT * FROM unc.scenario('unc.p_ser');
COMMIT;
SELECT * FROM unc.outcome('unc.p_ser');

-- the same scenario under 'write': no 'unchanged', every accepted message
-- is written (the reference for the values)
CREATE TABLE unc.p_write (id int PRIMARY KEY, n numeric, j jsonb, a int[], k int DEFAULT 7)
  WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.p_write');
SELECT * FROM unc.scenario('unc.p_write');
SELECT * FROM unc.outcome('unc.p_write');

-- every skip table holds the same values as the write table (only the
-- sequence column may differ)
SELECT t, count(*) AS rows,
       count(*) FILTER (WHERE x IS NOT DISTINCT FROM w) AS same_values
  FROM (SELECT 'p_plain' t, row(id, n, j, a, k) x FROM unc.p_plain
        UNION ALL SELECT 'p_trig', row(id, n, j, a, k) FROM unc.p_trig
        UNION ALL SELECT 'p_part', row(id, n, j, a, k) FROM unc.p_part
        UNION ALL SELECT 'p_rls', row(id, n, j, a, k) FROM unc.p_rls
        UNION ALL SELECT 'p_ser', row(id, n, j, a, k) FROM unc.p_ser) s
  JOIN (SELECT id, row(id, n, j, a, k) w FROM unc.p_write) w ON (x).f1 = w.id
 GROUP BY t ORDER BY t;

--
-- switching a registered table between 'write' and 'skip'
--
CREATE TABLE unc.sw (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.sw');
SELECT * FROM sequenced_upsert('unc.sw', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]', 10);
SELECT unc.last('unc.sw') AS last \gset
-- write: the same values are updated, with a new position
SELECT * FROM sequenced_upsert('unc.sw', '{"id": 1, "v": "a"}', 11);
SELECT id, v, _sdc_sequence FROM unc.sw ORDER BY id;
SELECT * FROM unc.feed('unc.sw', :last);
SELECT sequenced_register('unc.sw', unchanged => 'skip');
SELECT relid, unchanged FROM sequenced_tables WHERE relid = 'unc.sw'::regclass;
SELECT unc.last('unc.sw') AS last \gset
SELECT * FROM sequenced_upsert('unc.sw', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}]', 12);
SELECT id, v, _sdc_sequence FROM unc.sw ORDER BY id;
SELECT * FROM unc.feed('unc.sw', :last);
SELECT * FROM sequenced_upsert('unc.sw', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}]', 13);
-- late, older than 13: stale
SELECT * FROM sequenced_upsert('unc.sw', '[{"id": 1, "v": "x"}, {"id": 3, "v": "x"}]', 12);
SELECT * FROM unc.feed('unc.sw');
-- back to write: the keys keep their sequences (13); the same values are
-- updated again
SELECT sequenced_register('unc.sw', unchanged => 'write');
SELECT relid, unchanged FROM sequenced_tables WHERE relid = 'unc.sw'::regclass;
SELECT * FROM sequenced_upsert('unc.sw', '[{"id": 1, "v": "x"}, {"id": 3, "v": "x"}]', 12);
SELECT unc.last('unc.sw') AS last \gset
SELECT * FROM sequenced_upsert('unc.sw', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}]', 14);
SELECT id, v, _sdc_sequence FROM unc.sw ORDER BY id;
SELECT * FROM unc.feed('unc.sw', :last);
SELECT * FROM unc.feed('unc.sw');
-- a key that comes while the table is on 'write'
SELECT * FROM sequenced_upsert('unc.sw', '{"id": 5, "v": "e"}', 14);
-- and to skip once more
SELECT sequenced_register('unc.sw', unchanged => 'skip');
SELECT * FROM sequenced_upsert('unc.sw', '[{"id": 5, "v": "e"}, {"id": 3, "v": "c"}]', 20);
SELECT * FROM sequenced_upsert('unc.sw', '[{"id": 5, "v": "e late"}, {"id": 3, "v": "c late"}]', 19);
SELECT unc.last('unc.sw') AS last \gset
SELECT * FROM sequenced_upsert('unc.sw', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b2"}, {"id": 4, "v": "d"}]', 15);
SELECT * FROM sequenced_upsert('unc.sw', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b2"}, {"id": 4, "v": "d"}]', 16);
SELECT id, v, _sdc_sequence FROM unc.sw ORDER BY id;
SELECT * FROM unc.feed('unc.sw', :last);
SELECT * FROM unc.feed('unc.sw');
SELECT sequenced_max_sequence('unc.sw');

--
-- row-level security: an unchanged message is an update the caller must be
-- allowed to make.  A row the caller's UPDATE policy excludes (but its
-- SELECT policy shows) fails under 'write'; under 'skip' the same record
-- must not be 'unchanged' either: it would move the key's sequence (and
-- max_sequence) for a row the caller may not update, and make its owner's
-- next messages stale.
--
CREATE ROLE regress_unc_writer NOLOGIN;
GRANT USAGE ON SCHEMA unc TO regress_unc_writer;
CREATE TABLE unc.rl_w (id int PRIMARY KEY, account int, v text) WITH (autovacuum_enabled = off);
CREATE TABLE unc.rl_s (id int PRIMARY KEY, account int, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.rl_w'), sequenced_register('unc.rl_s', unchanged => 'skip');
SELECT t, u.* FROM unnest(ARRAY['unc.rl_w', 'unc.rl_s']::regclass[]) t,
  sequenced_upsert(t, '[{"id": 1, "account": 1, "v": "a"}, {"id": 2, "account": 2, "v": "b"}]', 10) u;
ALTER TABLE unc.rl_w ENABLE ROW LEVEL SECURITY;
ALTER TABLE unc.rl_s ENABLE ROW LEVEL SECURITY;
CREATE POLICY sel ON unc.rl_w FOR SELECT USING (true);
CREATE POLICY ins ON unc.rl_w FOR INSERT WITH CHECK (account = 1);
CREATE POLICY upd ON unc.rl_w FOR UPDATE USING (account = 1) WITH CHECK (account = 1);
CREATE POLICY sel ON unc.rl_s FOR SELECT USING (true);
CREATE POLICY ins ON unc.rl_s FOR INSERT WITH CHECK (account = 1);
CREATE POLICY upd ON unc.rl_s FOR UPDATE USING (account = 1) WITH CHECK (account = 1);
GRANT SELECT, INSERT, UPDATE ON unc.rl_w, unc.rl_s TO regress_unc_writer;
-- a call's outcomes, or its SQLSTATE
CREATE FUNCTION unc.try(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  EXECUTE format('SELECT string_agg(outcome, '','' ORDER BY ord) FROM (%s) c', call) INTO r;
  RETURN r;
EXCEPTION WHEN OTHERS THEN
  RETURN 'ERROR ' || SQLSTATE;
END $$;
SET ROLE regress_unc_writer;
-- key 1 (account 1): the caller may update it
SELECT unc.try($$SELECT * FROM sequenced_upsert('unc.rl_w', '{"id": 1, "account": 1, "v": "a"}', 20)$$);
SELECT unc.try($$SELECT * FROM sequenced_upsert('unc.rl_s', '{"id": 1, "account": 1, "v": "a"}', 20)$$);
-- key 2 (account 2): it may not, changed or not
SELECT unc.try($$SELECT * FROM sequenced_upsert('unc.rl_w', '{"id": 2, "account": 2, "v": "b"}', 20)$$);
SELECT unc.try($$SELECT * FROM sequenced_upsert('unc.rl_s', '{"id": 2, "account": 2, "v": "b changed"}', 20)$$);
SELECT unc.try($$SELECT * FROM sequenced_upsert('unc.rl_s', '{"id": 2, "account": 2, "v": "b"}', 9000000000000000000)$$);
RESET ROLE;
-- the owner's next message for key 2 is applied
SELECT * FROM sequenced_upsert('unc.rl_s', '{"id": 2, "account": 2, "v": "b owner"}', 30);
SELECT * FROM unc.rl_s ORDER BY id;
SELECT sequenced_max_sequence('unc.rl_s');

--
-- the staging trigger: statement-level and row-level BEFORE INSERT (its
-- outcomes show in the target's sequence column, the feed and max_sequence)
--
CREATE TABLE unc.stg_target (id int PRIMARY KEY, name text, qty int DEFAULT 7)
  WITH (autovacuum_enabled = off);
SELECT sequenced_register('unc.stg_target', unchanged => 'skip');
CREATE TABLE unc.inbox (id int, name text, qty int, _sdc_sequence bigint, _sdc_deleted boolean);
CREATE TRIGGER apply AFTER INSERT ON unc.inbox
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('stg_target', 'keep');
CREATE TABLE unc.inbox_subset (id int, name text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON unc.inbox_subset
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('stg_target');
CREATE TABLE unc.inbox_row (id int, name text, qty int, _sdc_sequence bigint);
CREATE TRIGGER apply BEFORE INSERT ON unc.inbox_row
  FOR EACH ROW EXECUTE FUNCTION sequenced_apply_staging('stg_target');
INSERT INTO unc.inbox (id, name, qty, _sdc_sequence) VALUES (1, 'a', 1, 10), (2, 'b', 2, 10), (3, 'c', 7, 10);
SELECT * FROM unc.stg_target ORDER BY id;
SELECT unc.last('unc.stg_target') AS last \gset
-- statement level: 1 the same, 2 changed, 3 the same (qty NULL in a staging
-- column is NULL, not the DEFAULT: changed)
INSERT INTO unc.inbox (id, name, qty, _sdc_sequence) VALUES (1, 'a', 1, 20), (2, 'b2', 2, 20), (3, 'c', NULL, 20);
SELECT * FROM unc.stg_target ORDER BY id;
SELECT * FROM unc.feed('unc.stg_target', :last);
SELECT sequenced_max_sequence('unc.stg_target');
SELECT unc.last('unc.stg_target') AS last \gset
-- a staging table without qty: the target's DEFAULT (7) counts; 3 holds
-- NULL now (changed), 1 holds 1 (changed); a second statement: unchanged
INSERT INTO unc.inbox_subset VALUES (1, 'a', 30), (3, 'c', 30);
INSERT INTO unc.inbox_subset VALUES (1, 'a', 31), (3, 'c', 31);
SELECT * FROM unc.stg_target ORDER BY id;
SELECT * FROM unc.feed('unc.stg_target', :last);
SELECT unc.last('unc.stg_target') AS last \gset
-- COPY through the statement trigger: 1 and 2 the same, 3 changed
COPY unc.inbox (id, name, qty, _sdc_sequence) FROM STDIN;
1	a	7	40
2	b2	2	40
3	c3	7	39
\.
SELECT * FROM unc.stg_target ORDER BY id;
SELECT * FROM unc.feed('unc.stg_target', :last);
SELECT sequenced_max_sequence('unc.stg_target');
-- a late row older than 40 is stale, for key 1 (its row at 30)
INSERT INTO unc.inbox (id, name, qty, _sdc_sequence) VALUES (1, 'a late', 7, 35);
SELECT * FROM unc.stg_target ORDER BY id;
SELECT unc.last('unc.stg_target') AS last \gset
-- row level: each row on its own
INSERT INTO unc.inbox_row VALUES (1, 'a', 7, 50), (2, 'b2', 2, 50), (2, 'b3', 2, 51), (2, 'b3', 2, 52);
SELECT * FROM unc.stg_target ORDER BY id;
SELECT * FROM unc.feed('unc.stg_target', :last);
SELECT sequenced_max_sequence('unc.stg_target');
-- nothing stays in the row-level staging table; the 'keep' one has every row
SELECT count(*) FROM unc.inbox_row;
SELECT count(*) FROM unc.inbox;

--
-- sequenced_import: the outcome word too
--
\set imp '{"table_name": "imp_unc", "key_names": ["id"], "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "score": {"type": "number"}, "tags": {"type": "array"}}}, "messages": [{"action": "upsert", "sequence": 100, "data": {"id": 1, "name": "Finn", "score": 1.5, "tags": ["x"]}}, {"action": "upsert", "sequence": 100, "data": {"id": 2, "name": "Jake", "score": 2, "tags": []}}]}'
SELECT * FROM sequenced_import(:'imp');
SELECT relid, unchanged FROM sequenced_tables WHERE relid = 'unc.imp_unc'::regclass;
SELECT sequenced_register('unc.imp_unc', key_columns => '{id}', unchanged => 'skip');
SELECT unc.last('unc.imp_unc') AS last \gset
-- the same batch at a newer sequence: unchanged, both
SELECT * FROM sequenced_import(jsonb_set(jsonb_set(:'imp', '{messages,0,sequence}', '200'), '{messages,1,sequence}', '200'));
-- a number written as 1.50 is another numeric (2, at 100, is stale now)
SELECT * FROM sequenced_import(jsonb_set(jsonb_set(:'imp', '{messages,0,sequence}', '300'),
  '{messages,0,data,score}', '1.50'));
SELECT id, name, score, tags, _sdc_sequence FROM unc.imp_unc ORDER BY id;
SELECT * FROM unc.feed('unc.imp_unc', :last);
SELECT sequenced_max_sequence('unc.imp_unc');
-- the first batch once more: older than the stored sequences, stale
SELECT * FROM sequenced_import(:'imp');

--
-- clean up
--
SET client_min_messages = warning;
DROP SCHEMA unc CASCADE;
RESET client_min_messages;
DROP ROLE regress_unc_writer;
RESET search_path;
RESET TimeZone;
