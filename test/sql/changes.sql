--
-- changes: sequenced_changes, the changes feed (SPEC section 4)
--
-- Positions are opaque: they are printed only as ranks within one result
-- (row_number() OVER (ORDER BY pos)) or compared (pos > :last), and a
-- consumer's cursor lives in the psql variable :last.
--
-- Everything lives in schema chg; the last section removes it.  Tables are
-- created with autovacuum off: an auto-analyze holds an xid for a moment,
-- which would hold the feed back.
--
CREATE SCHEMA chg;
SET search_path = chg, public;

-- the feed of a table after a position, positions as ranks
CREATE FUNCTION chg.feed(t regclass, after bigint DEFAULT 0, max_rows int DEFAULT NULL)
RETURNS TABLE (rank bigint, seq bigint, key jsonb, deleted boolean, record jsonb)
LANGUAGE sql AS $$
  SELECT row_number() OVER (ORDER BY c.pos), c.seq, c.key, c.deleted, c.record
    FROM sequenced_changes(t, after, max_rows) c ORDER BY c.pos
$$;

--
-- backfill: every row present at registration has a position, so a
-- consumer starting from 0 sees the whole table first
--
CREATE TABLE chg.items (id int PRIMARY KEY, name text, qty int)
  WITH (autovacuum_enabled = off);
INSERT INTO chg.items VALUES (1, 'apple', 1), (2, 'pear', 2), (3, 'plum', 3);
SELECT sequenced_register('chg.items');
SELECT * FROM chg.feed('chg.items');
-- the default arguments: after 0, no limit
SELECT count(*) FROM sequenced_changes('chg.items');
SELECT count(*) FROM sequenced_changes('chg.items', 0, NULL);
-- a consumer keeps the last position it saw
SELECT max(pos) AS last FROM sequenced_changes('chg.items') \gset
-- nothing changed since
SELECT count(*) FROM sequenced_changes('chg.items', :last);

--
-- changes after the cursor, in the order they were applied
--
SELECT * FROM sequenced_upsert('chg.items', '{"id": 2, "name": "pear", "qty": 20}', 10);
SELECT * FROM sequenced_upsert('chg.items', '{"id": 4, "name": "fig", "qty": 4}', 10);
SELECT * FROM sequenced_delete('chg.items', '{"id": 3}', 10);
-- stale messages change nothing, so they are no change
SELECT * FROM sequenced_upsert('chg.items', '{"id": 2, "name": "old pear", "qty": 0}', 5);
SELECT * FROM sequenced_delete('chg.items', '{"id": 4}', 9);
-- key 2 updated, key 4 inserted, key 3 a tombstone (deleted, record NULL)
SELECT * FROM chg.feed('chg.items', :last);
SELECT bool_and(pos > :last) AS all_after_cursor FROM sequenced_changes('chg.items', :last);
SELECT max(pos) AS last FROM sequenced_changes('chg.items', :last) \gset

-- a key changed several times since the cursor appears once, in its
-- latest state, at the position of its latest change
SELECT * FROM sequenced_upsert('chg.items', '{"id": 4, "name": "fig", "qty": 41}', 11);
SELECT * FROM sequenced_upsert('chg.items', '{"id": 1, "name": "apple", "qty": 10}', 11);
SELECT * FROM sequenced_upsert('chg.items', '{"id": 4, "name": "fig", "qty": 42}', 12);
SELECT * FROM chg.feed('chg.items', :last);
SELECT max(pos) AS last FROM sequenced_changes('chg.items', :last) \gset

-- from 0: the current state of every key once, tombstones included, in
-- ascending position
SELECT * FROM chg.feed('chg.items');
SELECT count(*) = count(DISTINCT key) AS each_key_once,
       bool_and(pos > prev OR prev IS NULL) AS ascending
  FROM (SELECT key, pos, lag(pos) OVER (ORDER BY pos) AS prev
          FROM sequenced_changes('chg.items')) f;

-- a tombstone revived by a newer upsert is a change like any other
SELECT * FROM sequenced_upsert('chg.items', '{"id": 3, "name": "plum again", "qty": 30}', 20);
SELECT * FROM chg.feed('chg.items', :last);
SELECT max(pos) AS last FROM sequenced_changes('chg.items', :last) \gset

--
-- a late record for a new key that carries an old sequence is still seen
-- after the cursor; a cursor on the source sequence would miss it
--
SELECT max(_sdc_sequence) AS max_seen_seq FROM chg.items \gset
SELECT * FROM sequenced_upsert('chg.items', '{"id": 5, "name": "late lime", "qty": 5}', 1);
SELECT * FROM chg.feed('chg.items', :last);
SELECT count(*) AS seen_by_a_sequence_cursor FROM chg.items WHERE _sdc_sequence > :max_seen_seq;
SELECT max(pos) AS last FROM sequenced_changes('chg.items', :last) \gset

-- a change that rolled back is never seen, and holds nothing back
BEGIN;
SELECT * FROM sequenced_upsert('chg.items', '{"id": 6, "name": "rolled back", "qty": 6}', 30);
ROLLBACK;
SELECT count(*) FROM sequenced_changes('chg.items', :last);
SELECT * FROM sequenced_upsert('chg.items', '{"id": 7, "name": "kiwi", "qty": 7}', 30);
SELECT * FROM chg.feed('chg.items', :last);
SELECT max(pos) AS last FROM sequenced_changes('chg.items', :last) \gset

-- changes applied in one call, through every entry point, all appear
SELECT * FROM sequenced_upsert('chg.items', '[
  {"action": "upsert", "sequence": 40, "data": {"id": 8, "name": "date", "qty": 8}},
  {"action": "delete", "sequence": 40, "data": {"id": 7}},
  {"action": "upsert", "sequence": 39, "data": {"id": 8, "name": "superseded", "qty": 0}}
]');
SELECT * FROM sequenced_import('{"table_name": "chg.items", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "qty": {"type": "integer"}}},
  "messages": [{"sequence": 41, "data": {"id": 9, "name": "imported", "qty": 9}}]}');
CREATE TABLE chg.items_inbox (id int, name text, qty int, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON chg.items_inbox REFERENCING NEW TABLE AS n
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('items');
INSERT INTO chg.items_inbox VALUES (10, 'staged', 10, 42);
SELECT seq, key, deleted, record FROM sequenced_changes('chg.items', :last) ORDER BY key->>'id';
SELECT bool_and(pos > :last) AS all_after_cursor FROM sequenced_changes('chg.items', :last);

--
-- max_rows: at most that many, the lowest positions first
--
SELECT * FROM chg.feed('chg.items', 0, 3);
SELECT count(*) FROM sequenced_changes('chg.items', 0, 0);
SELECT count(*) FROM sequenced_changes('chg.items', 0, 1000);
-- a page ends where the next one starts
SELECT (SELECT max(pos) FROM sequenced_changes('chg.items', 0, 3)) <
       (SELECT min(pos) FROM sequenced_changes('chg.items',
          (SELECT max(pos) FROM sequenced_changes('chg.items', 0, 3)), 3)) AS next_page_after;

--
-- a consumer paging with max_rows, resuming from the last position it saw
--
CREATE TABLE chg.paged (id int PRIMARY KEY, v text)
  WITH (autovacuum_enabled = off);
SELECT sequenced_register('chg.paged');
SELECT outcome, count(*) FROM sequenced_upsert('chg.paged',
  (SELECT jsonb_agg(jsonb_build_object('id', i, 'v', 'v1')) FROM generate_series(1, 10) i), 100)
  GROUP BY outcome;
SELECT * FROM sequenced_delete('chg.paged', '{"id": 11}', 100);

-- without writes in between: every key exactly once, in its latest state
CREATE FUNCTION chg.consume(t regclass, page int)
RETURNS TABLE (pages int, rows_seen bigint, keys_seen bigint)
LANGUAGE plpgsql AS $$
DECLARE
  last bigint := 0;
  n bigint;
BEGIN
  CREATE TEMP TABLE consumed (pos bigint, seq bigint, key jsonb, deleted boolean, record jsonb);
  pages := 0;
  LOOP
    INSERT INTO consumed SELECT * FROM sequenced_changes(t, last, page);
    GET DIAGNOSTICS n = ROW_COUNT;
    EXIT WHEN n = 0;
    pages := pages + 1;
    SELECT max(c.pos) INTO last FROM consumed c;
  END LOOP;
  SELECT count(*), count(DISTINCT c.key) INTO rows_seen, keys_seen FROM consumed c;
  RETURN NEXT;
END $$;
SELECT * FROM chg.consume('chg.paged', 3);
-- what it saw is the table: rows for live keys, tombstones for the rest
SELECT (c.key->>'id')::int AS id, c.deleted, c.record->>'v' AS v, c.seq
  FROM consumed c ORDER BY 1;
SELECT count(*) AS differences FROM (
  (SELECT c.record FROM consumed c WHERE NOT c.deleted
   EXCEPT SELECT to_jsonb(p) FROM chg.paged p)
  UNION ALL
  (SELECT to_jsonb(p) FROM chg.paged p
   EXCEPT SELECT c.record FROM consumed c WHERE NOT c.deleted)) d;
DROP TABLE consumed;

-- with writes between the pages: a key seen before and changed again is
-- seen again later, a key not yet seen is seen once in its latest state,
-- a new key with an old sequence is seen too; nothing is missed
CREATE TEMP TABLE seen (page int, pos bigint, seq bigint, key jsonb, deleted boolean, record jsonb);
SELECT 0 AS last \gset
INSERT INTO seen SELECT 1, * FROM sequenced_changes('chg.paged', :last, 4);
SELECT max(pos) AS last FROM seen \gset
SELECT page, (key->>'id')::int AS id, record->>'v' AS v FROM seen WHERE page = 1 ORDER BY pos;
-- writers: one key already seen, one not yet seen (twice), a delete of one
-- not yet seen, a new key with an old sequence
SELECT * FROM sequenced_upsert('chg.paged', '{"id": 1, "v": "v2"}', 200);
SELECT * FROM sequenced_upsert('chg.paged', '{"id": 7, "v": "v2"}', 200);
SELECT * FROM sequenced_upsert('chg.paged', '{"id": 7, "v": "v3"}', 300);
SELECT * FROM sequenced_delete('chg.paged', '{"id": 9}', 200);
SELECT * FROM sequenced_upsert('chg.paged', '{"id": 12, "v": "late"}', 1);
INSERT INTO seen SELECT 2, * FROM sequenced_changes('chg.paged', :last, 4);
SELECT max(pos) AS last FROM seen \gset
INSERT INTO seen SELECT 3, * FROM sequenced_changes('chg.paged', :last, 4);
SELECT max(pos) AS last FROM seen \gset
INSERT INTO seen SELECT 4, * FROM sequenced_changes('chg.paged', :last, 4);
SELECT max(pos) AS last FROM seen \gset
-- the last page is empty: the consumer is done
SELECT count(*) FROM sequenced_changes('chg.paged', :last, 4);
SELECT page, row_number() OVER (ORDER BY pos) AS rank, (key->>'id')::int AS id,
       deleted, record->>'v' AS v, seq
  FROM seen ORDER BY pos;
SELECT count(*) = count(DISTINCT pos) AND bool_and(pos > prev OR prev IS NULL) AS ascending
  FROM (SELECT pos, lag(pos) OVER (ORDER BY page, pos) AS prev FROM seen) s;
-- the latest state the consumer saw of every key is the table
SELECT count(*) AS differences FROM (
  (SELECT DISTINCT ON (key) key, CASE WHEN deleted THEN NULL ELSE record END AS record
     FROM seen ORDER BY key, pos DESC)
  EXCEPT
  (SELECT jsonb_build_object('id', k), (SELECT to_jsonb(p) FROM chg.paged p WHERE p.id = k)
     FROM generate_series(1, 12) k)) d;
SELECT count(DISTINCT key) AS keys_seen FROM seen;

--
-- soft deletes: deleted true and the row as record
--
CREATE TABLE chg.soft (id int PRIMARY KEY, name text)
  WITH (autovacuum_enabled = off);
SELECT sequenced_register('chg.soft', deletes => 'soft');
SELECT * FROM sequenced_upsert('chg.soft', '[{"id": 1, "name": "one"}, {"id": 2, "name": "two"}]', 10);
SELECT max(pos) AS last FROM sequenced_changes('chg.soft') \gset
SELECT * FROM sequenced_delete('chg.soft', '{"id": 1}', 11);
-- a delete of a key without a row: a tombstone, record NULL
SELECT * FROM sequenced_delete('chg.soft', '{"id": 3}', 11);
SELECT rank, seq, key, deleted, record - '_sdc_deleted_at' AS record,
       record->>'_sdc_deleted_at' IS NOT NULL AS deleted_at_set
  FROM chg.feed('chg.soft', :last);
SELECT max(pos) AS last FROM sequenced_changes('chg.soft') \gset
-- a newer upsert undeletes: deleted false, _sdc_deleted_at null
SELECT * FROM sequenced_upsert('chg.soft', '{"id": 1, "name": "one again"}', 12);
SELECT * FROM chg.feed('chg.soft', :last);

--
-- a composite key: key names every key column
--
CREATE TABLE chg.pairs (a int, b text, v text, PRIMARY KEY (a, b))
  WITH (autovacuum_enabled = off);
SELECT sequenced_register('chg.pairs');
SELECT * FROM sequenced_upsert('chg.pairs', '[{"a": 1, "b": "x", "v": "first"}, {"a": "2", "b": "y", "v": "second"}]', 1);
SELECT * FROM sequenced_delete('chg.pairs', '{"a": 1, "b": "x"}', 2);
SELECT key, deleted, record FROM sequenced_changes('chg.pairs') ORDER BY key->>'a';

--
-- append-only tables: one change per inserted row, key NULL
--
CREATE TABLE chg.events (kind text, n int)
  WITH (autovacuum_enabled = off);
INSERT INTO chg.events VALUES ('before registration', 0);
SELECT sequenced_register('chg.events', key_columns => '{}');
SELECT * FROM chg.feed('chg.events');
SELECT max(pos) AS last FROM sequenced_changes('chg.events') \gset
-- the same record twice is two changes; an old sequence is no obstacle
SELECT * FROM sequenced_upsert('chg.events', '[{"kind": "click", "n": 1}, {"kind": "click", "n": 1}]', 50);
SELECT * FROM sequenced_upsert('chg.events', '{"kind": "view", "n": 2}', 1);
SELECT * FROM chg.feed('chg.events', :last);
-- paged
SELECT * FROM chg.feed('chg.events', :last, 2);
SELECT count(*) FROM sequenced_changes('chg.events',
  (SELECT max(pos) FROM sequenced_changes('chg.events', :last, 2)));

--
-- reading the newest changes is index-backed: on a table of 50,000 keys,
-- the last few changes cost a few buffers, not a scan of the table
--
-- shared buffers touched by a query, its planning excluded
CREATE FUNCTION chg.buffers(query text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  plan json;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) ' || query
    INTO plan;
  RETURN (plan->0->'Plan'->>'Shared Hit Blocks')::bigint
       + (plan->0->'Plan'->>'Shared Read Blocks')::bigint;
END $$;
CREATE TABLE chg.big (id int PRIMARY KEY, name text, payload text)
  WITH (autovacuum_enabled = off);
INSERT INTO chg.big SELECT i, 'name ' || i, repeat('x', 100) FROM generate_series(1, 50000) i;
SELECT sequenced_register('chg.big');
SELECT count(*) FROM sequenced_changes('chg.big');
SELECT max(pos) AS last FROM sequenced_changes('chg.big') \gset
SELECT * FROM sequenced_upsert('chg.big', '{"id": 17, "name": "changed", "payload": "y"}', 1);
SELECT * FROM sequenced_upsert('chg.big', '{"id": 49999, "name": "changed", "payload": "y"}', 1);
SELECT * FROM sequenced_delete('chg.big', '{"id": 25000}', 1);
SELECT * FROM sequenced_upsert('chg.big', '{"id": 50001, "name": "new", "payload": "y"}', 1);
SELECT rank, key, deleted, record->>'name' AS name FROM chg.feed('chg.big', :last, 10);
-- (a first call warms the caches)
SELECT count(*) FROM sequenced_changes('chg.big', :last, 10);
SELECT chg.buffers(format('SELECT * FROM sequenced_changes(%L, %s, 10)', 'chg.big', :last)) < 100
  AS newest_changes_few_buffers;
SELECT chg.buffers(format('SELECT * FROM sequenced_changes(%L, %s)', 'chg.big', :last)) < 100
  AS newest_changes_unlimited_few_buffers;
-- the first page from 0 too
SELECT chg.buffers(format('SELECT * FROM sequenced_changes(%L, 0, 10)', 'chg.big')) < 100
  AS first_page_few_buffers;
-- while reading everything does read the table (so the measure means something)
SELECT chg.buffers(format('SELECT * FROM sequenced_changes(%L)', 'chg.big')) > 1000
  AS full_read_many_buffers;

--
-- privileges: SELECT on the target is needed (42501), nothing else
--
CREATE ROLE regress_chg_reader NOLOGIN;
GRANT USAGE ON SCHEMA chg TO regress_chg_reader;
SET ROLE regress_chg_reader;
SELECT count(*) FROM sequenced_changes('chg.items');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SELECT ON chg.items TO regress_chg_reader;
SET ROLE regress_chg_reader;
SELECT count(*) FROM sequenced_changes('chg.items');
SELECT count(*) FROM sequenced_changes('chg.items', :last, 1);
-- and the writer's rights stay the owner's
SELECT * FROM sequenced_upsert('chg.items', '{"id": 1, "name": "x", "qty": 0}', 1000);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

--
-- errors
--
-- not registered: 55000
CREATE TABLE chg.plain (id int PRIMARY KEY);
SELECT * FROM sequenced_changes('chg.plain');
\echo :LAST_ERROR_SQLSTATE
-- negative max_rows: 22023
SELECT * FROM sequenced_changes('chg.items', 0, -1);
\echo :LAST_ERROR_SQLSTATE

-- a backlog read page by page (the feed reads positions in index order and
-- stops at max_rows): every key once, in position order, none missed; the
-- planner settings the feed uses are the caller's again afterwards
CREATE TABLE chg.backlog (id int PRIMARY KEY, v int);
SELECT sequenced_register('chg.backlog');
SELECT count(*) FROM sequenced_upsert('chg.backlog', (SELECT jsonb_agg(jsonb_build_object('id', i, 'v', i)) FROM generate_series(1, 5000) i), 1);
SELECT count(*) FROM sequenced_upsert('chg.backlog', (SELECT jsonb_agg(jsonb_build_object('id', i, 'v', -i)) FROM generate_series(1, 5000, 3) i), 2);
DO $$
DECLARE
    cur bigint := 0;
    pages int := 0;
    n int;
    seen int := 0;
    lastpos bigint;
BEGIN
    LOOP
        SELECT count(*), max(pos) INTO n, lastpos FROM sequenced_changes('chg.backlog', cur, 700);
        EXIT WHEN n = 0;
        pages := pages + 1;
        seen := seen + n;
        cur := lastpos;
    END LOOP;
    RAISE NOTICE 'pages %, rows %', pages, seen;
END
$$;
SELECT count(DISTINCT key) AS keys, bool_and(record->>'v' = CASE WHEN (key->>'id')::int % 3 = 1 THEN '-' ELSE '' END || (key->>'id'))
       AS latest FROM sequenced_changes('chg.backlog');
SELECT current_setting('enable_sort') AS enable_sort, current_setting('enable_bitmapscan') AS enable_bitmapscan;

-- clean up
RESET search_path;
SELECT sequenced_unregister(relid) FROM sequenced_tables
 WHERE relid::text LIKE 'chg.%' ORDER BY relid::text;
SET client_min_messages = warning;
DROP SCHEMA chg CASCADE;
RESET client_min_messages;
DROP ROLE regress_chg_reader;
