--
-- probe: a call reads its keys' stored states from the state index leaf
-- page by leaf page (src/probe.c), falling back to an ordinary index scan
-- where it cannot answer exactly.  Every path must give the outcomes an
-- ordinary scan gives: the next key on the leaf of the key before, one page
-- to the right, far away (a descent), absent keys inside a page's range,
-- keys with several row versions (updated again in one transaction),
-- all-visible pages after VACUUM; int4, int8, text and composite keys; and
-- ties under 'replace' in the inlined integer sort.
--
CREATE TABLE pr_int (id int PRIMARY KEY, v int);
SELECT sequenced_register('pr_int');

-- 20,000 even keys: a state index of many leaf pages
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_int', (SELECT jsonb_agg(jsonb_build_object('id', i * 2, 'v', i))
                                     FROM generate_series(1, 20000) i), 10)
 GROUP BY outcome ORDER BY outcome;

-- a dense replay: every key is stale
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_int', (SELECT jsonb_agg(jsonb_build_object('id', i * 2, 'v', -i))
                                     FROM generate_series(1, 20000) i), 10)
 GROUP BY outcome ORDER BY outcome;

-- dense, newer, and the odd keys in between (absent inside each page's range)
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_int', (SELECT jsonb_agg(jsonb_build_object('id', i, 'v', i) ORDER BY i DESC)
                                     FROM generate_series(1, 40001) i), 11)
 GROUP BY outcome ORDER BY outcome;

-- sparse keys (a descent each), half of them unknown: older ones stale, new ones inserted
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_int', (SELECT jsonb_agg(jsonb_build_object('id', i * 4999, 'v', 0))
                                     FROM generate_series(-5, 20) i), 9)
 GROUP BY outcome ORDER BY outcome;

-- keys past both ends of the index
SELECT ord, key, outcome
  FROM sequenced_upsert('pr_int', '[{"id": -2147483648}, {"id": 2147483647}, {"id": 0}, {"id": 40001}]', 11);

-- several versions of a key in the index: updated twice in one transaction,
-- then asked again in it
BEGIN;
SELECT count(*) FROM sequenced_upsert('pr_int', (SELECT jsonb_agg(jsonb_build_object('id', i, 'v', 20))
                                                   FROM generate_series(1000, 3999) i), 20);
SELECT count(*) FROM sequenced_upsert('pr_int', (SELECT jsonb_agg(jsonb_build_object('id', i, 'v', 21))
                                                   FROM generate_series(1000, 3999) i), 21);
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_int', (SELECT jsonb_agg(jsonb_build_object('id', i, 'v', 21))
                                     FROM generate_series(500, 4499) i), 21)
 GROUP BY outcome ORDER BY outcome;
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_int', (SELECT jsonb_agg(jsonb_build_object('id', i, 'v', 22))
                                     FROM generate_series(1000, 1999) i), 22)
 GROUP BY outcome ORDER BY outcome;
COMMIT;

-- all-visible pages: answered from the index alone
-- (VACUUM of everything: the state table is internal, and VACUUM cannot run in a function)
VACUUM;
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_int', (SELECT jsonb_agg(jsonb_build_object('id', i, 'v', i))
                                     FROM generate_series(0, 40001) i), 11)
 GROUP BY outcome ORDER BY outcome;

-- the final rows are each key's newest message
SELECT count(*) AS rows,
       count(*) FILTER (WHERE v = 22 AND _sdc_sequence = 22) AS v22,
       count(*) FILTER (WHERE v = 21 AND _sdc_sequence = 21) AS v21,
       count(*) FILTER (WHERE v = id AND _sdc_sequence = 11) AS v11,
       count(*) FILTER (WHERE v = 0 AND _sdc_sequence = 9) AS v9
  FROM pr_int;

-- int8 keys, ties under 'replace' (the last of equal sequences wins), signed order
CREATE TABLE pr_big (id bigint PRIMARY KEY, v text);
SELECT sequenced_register('pr_big', on_equal => 'replace');
SELECT * FROM sequenced_upsert('pr_big', '[
  {"sequence": 5, "data": {"id": 9000000000, "v": "a"}},
  {"sequence": 5, "data": {"id": 9000000000, "v": "b"}},
  {"sequence": 4, "data": {"id": -9000000000, "v": "c"}},
  {"sequence": 6, "data": {"id": -9000000000, "v": "d"}},
  {"sequence": 6, "data": {"id": 1, "v": "e"}},
  {"sequence": 6, "data": {"id": -1, "v": "f"}}]');
SELECT * FROM sequenced_upsert('pr_big', '[
  {"sequence": 5, "data": {"id": 9000000000, "v": "g"}},
  {"sequence": 5, "data": {"id": -9000000000, "v": "h"}},
  {"sequence": 6, "data": {"id": -1, "v": "i"}},
  {"sequence": 7, "data": {"id": 0, "v": "j"}}]');
SELECT * FROM pr_big ORDER BY id;

-- many leaf pages of int8, date and timestamptz keys (compared inline, as
-- signed integers, negatives included), and stored sequences that are NULL
-- (rows there before registration without one: older than any message)
CREATE TABLE pr_wide (id bigint PRIMARY KEY, v int, _sdc_sequence bigint);
INSERT INTO pr_wide SELECT i::bigint * 1000000007, 0, CASE WHEN i % 3 = 0 THEN NULL ELSE 10 END
  FROM generate_series(-6000, 6000) i;
SELECT sequenced_register('pr_wide');
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_wide', (SELECT jsonb_agg(jsonb_build_object('id', i::bigint * 1000000007, 'v', i) ORDER BY -i)
                                      FROM generate_series(-6500, 6500, 2) i), 10)
 GROUP BY outcome ORDER BY outcome;
SELECT count(*) FILTER (WHERE _sdc_sequence IS NULL) AS still_null,
       count(*) FILTER (WHERE v <> 0) AS replaced,
       count(*) FILTER (WHERE v <> 0 AND abs(id / 1000000007) <= 6000 AND (id / 1000000007) % 3 <> 0) AS wrongly_replaced
  FROM pr_wide;
CREATE TABLE pr_date (d date PRIMARY KEY, v int);
SELECT sequenced_register('pr_date');
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_date', (SELECT jsonb_agg(jsonb_build_object('d', date '2000-01-01' + i, 'v', i))
                                      FROM generate_series(-4000, 4000, 2) i), 1)
 GROUP BY outcome ORDER BY outcome;
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_date', (SELECT jsonb_agg(jsonb_build_object('d', date '2000-01-01' + i, 'v', -i))
                                      FROM generate_series(-4000, 4000) i), 1)
 GROUP BY outcome ORDER BY outcome;
SELECT count(*) AS rows, count(*) FILTER (WHERE v = d - date '2000-01-01') AS first_kept FROM pr_date;
CREATE TABLE pr_ts (t timestamptz PRIMARY KEY, v int);
SELECT sequenced_register('pr_ts');
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_ts', (SELECT jsonb_agg(jsonb_build_object('t', timestamptz '1999-12-31 00:00+00' + i * interval '1 second', 'v', i))
                                      FROM generate_series(-5000, 5000, 5) i), 1)
 GROUP BY outcome ORDER BY outcome;
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_ts', (SELECT jsonb_agg(jsonb_build_object('t', timestamptz '1999-12-31 00:00+00' + i * interval '1 second', 'v', i))
                                      FROM generate_series(-5000, 5000) i), 2)
 GROUP BY outcome ORDER BY outcome;
SELECT count(*) AS rows, count(*) FILTER (WHERE _sdc_sequence = 2) AS newer FROM pr_ts;

-- rows updated in place (HOT), around the functions and by them: the key's
-- row is reached through the index entry of its chain's root; after VACUUM
-- the next newer record must still find, lock and replace the current
-- version (an index entry alone is never locked: only a row version a heap
-- fetch returned)
CREATE TABLE pr_hot (id int PRIMARY KEY, v text);
SELECT sequenced_register('pr_hot');
SELECT outcome FROM sequenced_upsert('pr_hot', '[{"id": 1, "v": "a"}, {"id": 2, "v": "a"}]', 10);
UPDATE pr_hot SET v = 'outside', _sdc_sequence = 20;
SELECT outcome FROM sequenced_upsert('pr_hot', '[{"id": 1, "v": "b"}, {"id": 2, "v": "b"}]', 21);
SELECT pg_stat_force_next_flush();
SELECT s.n_tup_hot_upd >= 4 AS rows_hot_updated
  FROM pg_stat_all_tables s WHERE s.relid = 'pr_hot'::regclass;
VACUUM;
SELECT ord, outcome FROM sequenced_upsert('pr_hot', '[{"id": 1, "v": "c"}, {"id": 2, "v": "c"}]', 30);
SELECT * FROM pr_hot ORDER BY id;
SELECT ord, outcome FROM sequenced_upsert('pr_hot', '[{"id": 1, "v": "late"}, {"id": 2, "v": "d"}]', 25);
SELECT key, seq FROM sequenced_changes('pr_hot') ORDER BY pos;

-- text keys: the index' collation orders the leaf, not the numbers in the text
CREATE TABLE pr_text (k text COLLATE "C" PRIMARY KEY, v int);
SELECT sequenced_register('pr_text');
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_text', (SELECT jsonb_agg(jsonb_build_object('k', 'key' || i, 'v', i))
                                      FROM generate_series(1, 5000) i), 1)
 GROUP BY outcome ORDER BY outcome;
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_text', (SELECT jsonb_agg(jsonb_build_object('k', 'key' || i, 'v', i))
                                      FROM generate_series(2501, 7500) i), 1)
 GROUP BY outcome ORDER BY outcome;
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_text', (SELECT jsonb_agg(jsonb_build_object('k', 'key' || i, 'v', -i))
                                      FROM generate_series(1, 7500, 3) i), 2)
 GROUP BY outcome ORDER BY outcome;
SELECT count(*) AS rows, count(*) FILTER (WHERE v < 0 AND _sdc_sequence = 2) AS newer FROM pr_text;

-- composite keys
CREATE TABLE pr_comp (a int, b text, v int, PRIMARY KEY (a, b));
SELECT sequenced_register('pr_comp');
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_comp', (SELECT jsonb_agg(jsonb_build_object('a', i % 50, 'b', 'x' || i, 'v', i))
                                      FROM generate_series(1, 6000) i), 1)
 GROUP BY outcome ORDER BY outcome;
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_comp', (SELECT jsonb_agg(jsonb_build_object('a', i % 50, 'b', 'x' || i, 'v', -i))
                                      FROM generate_series(1, 9000) i), 1)
 GROUP BY outcome ORDER BY outcome;
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_comp', (SELECT jsonb_agg(jsonb_build_object('a', i % 50, 'b', 'x' || i, 'v', -i))
                                      FROM generate_series(1, 9000, 2) i), 2)
 GROUP BY outcome ORDER BY outcome;
SELECT count(*) AS rows, count(*) FILTER (WHERE v = -b_num AND _sdc_sequence = 2) AS newer,
       count(*) FILTER (WHERE v = b_num AND _sdc_sequence = 1) AS first
  FROM (SELECT *, substr(b, 2)::int AS b_num FROM pr_comp) s;

-- deletes and tombstones read by the probe: a late upsert stays stale
SELECT outcome, count(*)
  FROM sequenced_delete('pr_int', (SELECT jsonb_agg(jsonb_build_object('id', i)) FROM generate_series(0, 40001, 7) i), 30)
 GROUP BY outcome ORDER BY outcome;
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_int', (SELECT jsonb_agg(jsonb_build_object('id', i, 'v', 1)) FROM generate_series(0, 40001) i), 29)
 GROUP BY outcome ORDER BY outcome;
SELECT count(*) AS rows FROM pr_int;

-- The search in a leaf page starts from a position guessed from the page's
-- lowest and highest integer key: keys spread very unevenly (a dense run,
-- then huge gaps, negatives, both ends of bigint) make the guesses wrong,
-- and every outcome must still be an ordinary scan's.  Present keys are
-- stale, the absent keys between them are inserted; before and after VACUUM
-- (heap fetches, then the index alone).
CREATE TABLE pr_skew (id bigint PRIMARY KEY, v int);
SELECT sequenced_register('pr_skew');
CREATE TABLE pr_skew_keys AS
  SELECT id FROM (
    SELECT generate_series(1, 3000)::bigint AS id
    UNION ALL SELECT (1::bigint << 40) + i * (1::bigint << 30) FROM generate_series(1, 3000) i
    UNION ALL SELECT -(1::bigint << 62) + i * i FROM generate_series(1, 1500) i
    UNION ALL SELECT (1::bigint << 61) + (1::bigint << (i % 60)) + i FROM generate_series(1, 1500) i
    UNION ALL VALUES (-9223372036854775808), (9223372036854775807), (0)) s;
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_skew', (SELECT jsonb_agg(jsonb_build_object('id', id, 'v', 1)) FROM pr_skew_keys), 10)
 GROUP BY outcome ORDER BY outcome;
-- each present key, and the one just above it (absent unless present too)
CREATE TABLE pr_skew_probe AS
  SELECT id FROM pr_skew_keys
  UNION SELECT id + 1 FROM pr_skew_keys WHERE id < 9223372036854775807;
SELECT count(*) FILTER (WHERE id IN (SELECT id FROM pr_skew_keys)) AS present,
       count(*) FILTER (WHERE id NOT IN (SELECT id FROM pr_skew_keys)) AS absent
  FROM pr_skew_probe;
BEGIN;
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_skew', (SELECT jsonb_agg(jsonb_build_object('id', id, 'v', 2) ORDER BY random()) FROM pr_skew_probe), 10)
 GROUP BY outcome ORDER BY outcome;
ROLLBACK;
SELECT state_rel AS pr_skew_state FROM _sequenced.config WHERE relid = 'pr_skew'::regclass \gset
VACUUM :pr_skew_state;
SET enable_seqscan = off;
SELECT outcome, count(*)
  FROM sequenced_upsert('pr_skew', (SELECT jsonb_agg(jsonb_build_object('id', id, 'v', 2) ORDER BY random()) FROM pr_skew_probe), 10)
 GROUP BY outcome ORDER BY outcome;
RESET enable_seqscan;
SELECT count(*) AS rows, count(*) FILTER (WHERE v = 1) AS first, count(*) FILTER (WHERE v = 2) AS inserted_later
  FROM pr_skew;
DROP TABLE pr_skew, pr_skew_keys, pr_skew_probe;
