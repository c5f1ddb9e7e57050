--
-- rescan: sequenced_delete_missing and sequenced_delete_missing_count, the
-- circuit breaker and scope (SPEC section 6, "Keys missing from a
-- snapshot"), and full rescans of a 10,000-key source checked against a
-- reference kept by plain SQL.
--
-- Positions are opaque: the feed is printed as ranks.  Everything lives in
-- schema rs; the last section removes it.  Tables are made with autovacuum
-- off (an auto-analyze holds an xid for a moment, which would hold the feed
-- back).
--
CREATE SCHEMA rs;
SET search_path = rs, public;

-- the feed of a table, positions as ranks
CREATE FUNCTION rs.feed(t regclass, after bigint DEFAULT 0)
RETURNS TABLE (rank bigint, seq bigint, key jsonb, deleted boolean)
LANGUAGE sql AS $$
  SELECT row_number() OVER (ORDER BY c.pos), c.seq, c.key, c.deleted
    FROM sequenced_changes(t, after) c ORDER BY c.pos
$$;
CREATE FUNCTION rs.last(t regclass) RETURNS bigint
LANGUAGE sql AS $$ SELECT coalesce(max(pos), 0) FROM sequenced_changes(t) $$;
-- lo..hi as records {"id": i, "v": "v<i>"}, and with "account": i % 3
CREATE FUNCTION rs.recs(lo int, hi int)
RETURNS jsonb LANGUAGE sql AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('id', i, 'v', 'v' || i) ORDER BY i), '[]')
    FROM generate_series(lo, hi) i
$$;
CREATE FUNCTION rs.arecs(lo int, hi int)
RETURNS jsonb LANGUAGE sql AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('id', i, 'account', i % 3, 'v', 'v' || i) ORDER BY i), '[]')
    FROM generate_series(lo, hi) i
$$;

--
-- the basics: a snapshot at 100 that lacks keys 19 and 20
--
CREATE TABLE rs.t (id int PRIMARY KEY, account int, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('rs.t');
SELECT count(*) FROM sequenced_upsert('rs.t', rs.arecs(1, 20), 10);
SELECT rs.last('rs.t') AS last \gset
-- the snapshot, in two pages (two calls, two transactions)
SELECT outcome, count(*) FROM sequenced_upsert('rs.t', rs.arecs(1, 9), 100) GROUP BY 1;
SELECT outcome, count(*) FROM sequenced_upsert('rs.t', rs.arecs(10, 18), 100) GROUP BY 1;
-- meanwhile: a newer message for key 17 and for key 21, which the snapshot
-- does not hold (they stay); a late, older one for key 19 (applied, as it
-- beats 10; still older than the snapshot, so 19 is missing)
SELECT * FROM sequenced_upsert('rs.t', '[{"id": 17, "account": 2, "v": "v17 newer"},
                                         {"id": 21, "account": 0, "v": "v21 new"}]', 110);
SELECT * FROM sequenced_upsert('rs.t', '{"id": 19, "account": 1, "v": "v19 late"}', 50);
-- the dry run: 21 live keys, 2 missing (19 and 20)
SELECT * FROM sequenced_delete_missing_count('rs.t', 100);
-- nothing was deleted by it
SELECT count(*) FROM rs.t;
-- the rescan ends: 19 and 20 are deleted, in key order, numbered from 1
SELECT * FROM sequenced_delete_missing('rs.t', 100);
SELECT id, v, _sdc_sequence FROM rs.t WHERE id >= 15 ORDER BY id;
-- max_sequence stays 110 (the deletes at 100 are older)
SELECT sequenced_max_sequence('rs.t');
-- the feed: two tombstones at 100, after the other changes
SELECT * FROM rs.feed('rs.t', :last) WHERE deleted OR key->>'id' IN ('17', '21');
-- again with the same sequence: nothing more
SELECT * FROM sequenced_delete_missing('rs.t', 100);
SELECT * FROM sequenced_delete_missing_count('rs.t', 100);
-- tombstones: a late upsert older than 100 for a deleted key is stale, a
-- newer one brings it back
SELECT * FROM sequenced_upsert('rs.t', '{"id": 20, "account": 2, "v": "v20 late"}', 99);
SELECT * FROM sequenced_upsert('rs.t', '{"id": 20, "account": 2, "v": "v20 late"}', 100);
SELECT * FROM sequenced_upsert('rs.t', '{"id": 19, "account": 1, "v": "v19 back"}', 101);
SELECT id, v, _sdc_sequence FROM rs.t WHERE id >= 15 ORDER BY id;
-- a key stored exactly at the snapshot's sequence is not missing (19, at
-- 101; 17 and 21 at 110): 17 of 20
SELECT * FROM sequenced_delete_missing_count('rs.t', 101);
-- a rescan at 200 of everything but 1 and 2: max_sequence becomes 200
SELECT count(*) FROM sequenced_upsert('rs.t', rs.arecs(3, 21), 200);
SELECT * FROM sequenced_delete_missing('rs.t', 200);
SELECT sequenced_max_sequence('rs.t');
-- a delete_missing that deletes nothing does not move max_sequence
SELECT * FROM sequenced_delete_missing('rs.t', 300, max_fraction => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.t', 150);
SELECT sequenced_max_sequence('rs.t');
-- rolled back: nothing deleted, max_sequence as it was
BEGIN;
SELECT count(*) FROM sequenced_delete_missing('rs.t', 400, max_fraction => NULL);
SELECT count(*) FROM rs.t;
SELECT sequenced_max_sequence('rs.t');
ROLLBACK;
SELECT count(*) FROM rs.t;
SELECT sequenced_max_sequence('rs.t');
-- the snapshot and its end in one transaction
BEGIN;
SELECT count(*) FROM sequenced_upsert('rs.t', rs.arecs(3, 20), 500);
SELECT * FROM sequenced_delete_missing('rs.t', 500);
COMMIT;
SELECT count(*), min(id), max(id) FROM rs.t;

-- per_table ordering: the snapshot itself raises max_sequence to its
-- sequence, and newer deltas above it; the keys it lacks are missing all the
-- same, and deleted as counted
CREATE TABLE rs.ptab (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('rs.ptab', ordering => 'per_table');
SELECT count(*) FROM sequenced_upsert('rs.ptab', rs.recs(1, 10), 10);
SELECT count(*) FROM sequenced_upsert('rs.ptab', rs.recs(1, 9), 20);
SELECT sequenced_max_sequence('rs.ptab');
SELECT * FROM sequenced_delete_missing_count('rs.ptab', 20);
SELECT * FROM sequenced_delete_missing('rs.ptab', 20);
SELECT count(*) FROM sequenced_upsert('rs.ptab', rs.recs(1, 8), 30);
SELECT * FROM sequenced_upsert('rs.ptab', '{"id": 11, "v": "newer"}', 35);
SELECT * FROM sequenced_delete_missing_count('rs.ptab', 30);
SELECT * FROM sequenced_delete_missing('rs.ptab', 30, max_fraction => 0.2);
SELECT id, _sdc_sequence FROM rs.ptab WHERE id >= 8 ORDER BY id;

--
-- the circuit breaker: missing > max_fraction * live fails with 54000;
-- the message names the table, DETAIL gives both counts, HINT names
-- max_fraction; nothing is deleted
--
CREATE TABLE rs.br (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('rs.br');
SELECT count(*) FROM sequenced_upsert('rs.br', rs.recs(1, 20), 10);
-- a rescan that broke off after half the keys: 10 of 20 missing
SELECT count(*) FROM sequenced_upsert('rs.br', rs.recs(1, 10), 20);
SELECT * FROM sequenced_delete_missing_count('rs.br', 20);
SELECT * FROM sequenced_delete_missing('rs.br', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.br', 20, max_fraction => 0.49);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM rs.br;
SELECT sequenced_max_sequence('rs.br');
-- the error's fields (read back as in errors.sql)
CREATE FUNCTION rs.err_fields(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text; sch text; tbl text; col text; msg text; det text; hint text;
BEGIN
    EXECUTE call;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, sch = SCHEMA_NAME, tbl = TABLE_NAME,
                            col = COLUMN_NAME, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                            hint = PG_EXCEPTION_HINT;
    RETURN format('%s schema=%s table=%s column=%s | %s | %s | %s', state, coalesce(nullif(sch, ''), '-'),
                  coalesce(nullif(tbl, ''), '-'), coalesce(nullif(col, ''), '-'), msg,
                  coalesce(nullif(det, ''), '-'), coalesce(nullif(hint, ''), '-'));
END $$;
SELECT rs.err_fields($$SELECT * FROM sequenced_delete_missing('rs.br', 20, max_fraction => 0.25)$$);
-- exactly at the limit (10 of 20 at 0.5) passes
BEGIN;
SELECT count(*) FROM sequenced_delete_missing('rs.br', 20, max_fraction => 0.5);
ROLLBACK;
-- NULL: no limit
BEGIN;
SELECT count(*) FROM sequenced_delete_missing('rs.br', 20, max_fraction => NULL);
ROLLBACK;
-- the rest of the rescan, and the same call again: 2 missing of 20 pass
SELECT count(*) FROM sequenced_upsert('rs.br', rs.recs(11, 18), 20);
SELECT * FROM sequenced_delete_missing('rs.br', 20);
-- an empty snapshot (an API that answered with nothing) trips it
SELECT * FROM sequenced_delete_missing_count('rs.br', 30);
SELECT * FROM sequenced_delete_missing('rs.br', 30);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.br', 30, max_fraction => 0.99);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM rs.br;
-- max_fraction 0: nothing may be missing
SELECT * FROM sequenced_delete_missing('rs.br', 30, max_fraction => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM sequenced_upsert('rs.br', rs.recs(1, 18), 30);
SELECT * FROM sequenced_delete_missing('rs.br', 30, max_fraction => 0);
-- max_fraction 1 (or more, or infinity) deletes all
SELECT count(*) FROM sequenced_delete_missing('rs.br', 40, max_fraction => 1);
SELECT count(*) FROM rs.br;
SELECT sequenced_max_sequence('rs.br');
-- live = 0: nothing to delete, nothing trips, even at max_fraction 0
SELECT * FROM sequenced_delete_missing_count('rs.br', 50);
SELECT * FROM sequenced_delete_missing('rs.br', 50, max_fraction => 0);
SELECT sequenced_max_sequence('rs.br');
SELECT count(*) FROM sequenced_upsert('rs.br', rs.recs(1, 4), 60);
SELECT count(*) FROM sequenced_delete_missing('rs.br', 70, max_fraction => 2);
SELECT count(*) FROM sequenced_upsert('rs.br', rs.recs(1, 4), 80);
SELECT count(*) FROM sequenced_delete_missing('rs.br', 90, max_fraction => 'Infinity');
-- a table registered with rows already in it (sequence NULL): all older
-- than any snapshot
CREATE TABLE rs.pre (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
INSERT INTO rs.pre SELECT i, 'v' || i FROM generate_series(1, 10) i;
SELECT sequenced_register('rs.pre');
SELECT * FROM sequenced_delete_missing_count('rs.pre', 1);
SELECT count(*) FROM sequenced_upsert('rs.pre', rs.recs(1, 9), 1);
SELECT * FROM sequenced_delete_missing('rs.pre', 1);
SELECT count(*) FROM rs.pre;

--
-- scope: limits both the count and the deletes
--
CREATE TABLE rs.sc (id int PRIMARY KEY, account int, region text, v text)
  WITH (autovacuum_enabled = off);
SELECT sequenced_register('rs.sc');
SELECT count(*) FROM sequenced_upsert('rs.sc', (SELECT jsonb_agg(jsonb_build_object(
  'id', i, 'account', CASE WHEN i % 10 = 0 THEN NULL ELSE i % 3 END, 'region', CASE WHEN i <= 15 THEN 'eu' ELSE 'us' END,
  'v', 'v' || i)) FROM generate_series(1, 30) i), 10);
SELECT account, count(*) FROM rs.sc GROUP BY account ORDER BY account;
-- a rescan of account 1 only, at 20, that lacks 4 and 7
SELECT count(*) FROM sequenced_upsert('rs.sc', (SELECT jsonb_agg(jsonb_build_object(
  'id', i, 'account', 1, 'region', CASE WHEN i <= 15 THEN 'eu' ELSE 'us' END, 'v', 'v' || i))
  FROM generate_series(1, 30) i WHERE i % 10 <> 0 AND i % 3 = 1 AND i NOT IN (4, 7)), 20);
-- without scope: every other account is missing too
SELECT * FROM sequenced_delete_missing_count('rs.sc', 20);
SELECT * FROM sequenced_delete_missing('rs.sc', 20);
\echo :LAST_ERROR_SQLSTATE
-- with scope: 2 of 9, and the breaker looks at those only
SELECT * FROM sequenced_delete_missing_count('rs.sc', 20, '{"account": 1}');
SELECT * FROM sequenced_delete_missing('rs.sc', 20, scope => '{"account": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 0.25, scope => '{"account": 1}');
SELECT account, count(*) FROM rs.sc GROUP BY account ORDER BY account;
-- values are converted as record values are: "2" into an int column
SELECT * FROM sequenced_delete_missing_count('rs.sc', 20, '{"account": "2"}');
-- null matches the rows where the column is NULL (10, 20, 30)
SELECT * FROM sequenced_delete_missing_count('rs.sc', 20, '{"account": null}');
SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 1, scope => '{"account": null}');
SELECT count(*) FILTER (WHERE account IS NULL) AS null_accounts, count(*) FROM rs.sc;
-- two columns: both must match
SELECT * FROM sequenced_delete_missing_count('rs.sc', 20, '{"account": 2, "region": "eu"}');
SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 1, scope => '{"region": "eu", "account": 2}');
-- a key column
SELECT * FROM sequenced_delete_missing_count('rs.sc', 20, '{"id": 29}');
SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 1, scope => '{"id": "29"}');
SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 1, scope => '{"id": 1}');
-- a value that matches nothing: live = 0
SELECT * FROM sequenced_delete_missing_count('rs.sc', 20, '{"account": 99}');
SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 0, scope => '{"account": 99}');
-- the empty object limits nothing
SELECT * FROM sequenced_delete_missing_count('rs.sc', 20, '{}');
SELECT * FROM sequenced_delete_missing_count('rs.sc', 20);
SELECT account, region, count(*) FROM rs.sc GROUP BY 1, 2 ORDER BY 1, 2;
-- scope errors: an unknown column 42703; not an object 22023; a value the
-- column type rejects: the type's own error; nothing deleted
SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 1, scope => '{"nosuch": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing_count('rs.sc', 20, '{"Account": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 1, scope => '[{"account": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 1, scope => '"account"');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 1, scope => '1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 1, scope => 'null');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing_count('rs.sc', 20, '[]');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY sqlstate
SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 1, scope => '{"account": "one"}');
SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 1, scope => '{"account": 1.5}');
\set VERBOSITY default
SELECT count(*) FROM rs.sc;

-- scope on a jsonb column and an array column: JSON values
CREATE TABLE rs.scj (id int PRIMARY KEY, doc jsonb, tags text[]) WITH (autovacuum_enabled = off);
SELECT sequenced_register('rs.scj');
SELECT count(*) FROM sequenced_upsert('rs.scj', '[{"id": 1, "doc": {"a": 1}, "tags": ["x"]},
  {"id": 2, "doc": {"a": 1.0}, "tags": ["x", "y"]}, {"id": 3, "doc": "s", "tags": []}]', 10);
SELECT * FROM sequenced_delete_missing_count('rs.scj', 20, '{"doc": {"a": 1}}');
SELECT * FROM sequenced_delete_missing_count('rs.scj', 20, '{"doc": "s"}');
SELECT * FROM sequenced_delete_missing_count('rs.scj', 20, '{"tags": ["x", "y"]}');
SELECT * FROM sequenced_delete_missing('rs.scj', 20, max_fraction => 1, scope => '{"tags": []}');

-- names that need quoting, a sequence column of another name, soft and
-- skip; the sequence column and _sdc_deleted_at are no scope (42703, as
-- they cannot be set from data either)
CREATE TABLE rs."Odd" ("Key" text PRIMARY KEY, "Ver" bigint, "my col" int) WITH (autovacuum_enabled = off);
SELECT sequenced_register('rs."Odd"', sequence_column => 'Ver', deletes => 'soft', unchanged => 'skip');
SELECT count(*) FROM sequenced_upsert('rs."Odd"', '[{"Key": "a", "my col": 1}, {"Key": "b", "my col": 2}, {"Key": "c", "my col": 1}]', 10);
SELECT * FROM sequenced_upsert('rs."Odd"', '[{"Key": "a", "my col": 1}]', 20);
SELECT * FROM sequenced_delete_missing_count('rs."Odd"', 20, '{"my col": 1}');
SELECT * FROM sequenced_delete_missing('rs."Odd"', 20, 1, '{"my col": 1}');
SELECT "Key", "Ver", "my col", _sdc_deleted_at IS NOT NULL AS deleted FROM rs."Odd" ORDER BY 1;
-- (the messages, not fixed by the SPEC, are left out)
\set VERBOSITY sqlstate
SELECT * FROM sequenced_delete_missing('rs."Odd"', 20, 1, '{"Ver": 1}');
SELECT * FROM sequenced_delete_missing_count('rs."Odd"', 20, '{"_sdc_deleted_at": null}');
\set VERBOSITY default

--
-- soft deletes: rows are marked, not removed, and are no longer live
--
CREATE TABLE rs.soft (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('rs.soft', deletes => 'soft');
SELECT count(*) FROM sequenced_upsert('rs.soft', rs.recs(1, 10), 10);
SELECT rs.last('rs.soft') AS last \gset
SELECT count(*) FROM sequenced_upsert('rs.soft', rs.recs(1, 9), 20);
BEGIN;
SELECT * FROM sequenced_delete_missing('rs.soft', 20);
SELECT id, v, _sdc_sequence, _sdc_deleted_at = now() AS marked_now FROM rs.soft WHERE id >= 9 ORDER BY id;
COMMIT;
SELECT * FROM rs.feed('rs.soft', :last) WHERE deleted;
-- next time: 9 live, the marked row is neither live nor missing
SELECT * FROM sequenced_delete_missing_count('rs.soft', 30);
SELECT count(*) FROM sequenced_upsert('rs.soft', rs.recs(1, 8), 30);
SELECT * FROM sequenced_delete_missing_count('rs.soft', 30);
SELECT * FROM sequenced_delete_missing('rs.soft', 30, max_fraction => 0.2);
-- a marked row brought back by the next snapshot is live again
SELECT * FROM sequenced_upsert('rs.soft', rs.recs(1, 10), 40) WHERE outcome <> 'updated';
SELECT count(*) FILTER (WHERE _sdc_deleted_at IS NULL) AS live, count(*) FROM rs.soft;
SELECT * FROM sequenced_delete_missing_count('rs.soft', 40);
-- a marked row is not brought back by a late message older than its mark
SELECT count(*) FROM sequenced_upsert('rs.soft', rs.recs(1, 9), 50);
SELECT * FROM sequenced_delete_missing('rs.soft', 50);
SELECT * FROM sequenced_upsert('rs.soft', '{"id": 10, "v": "late"}', 45);
SELECT id, v, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM rs.soft WHERE id >= 9 ORDER BY id;
-- soft delete with an unknown key in the snapshot's table: a tombstone
-- (key with no row) is not live either
SELECT * FROM sequenced_delete('rs.soft', '{"id": 11}', 55);
SELECT * FROM sequenced_delete_missing_count('rs.soft', 60);

--
-- with unchanged => 'skip': unchanged records keep their row's sequence,
-- but the key's stored sequence is the snapshot's, so they are not missing
--
CREATE TABLE rs.sk (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
INSERT INTO rs.sk VALUES (1, 'v1'), (2, 'v2');
SELECT sequenced_register('rs.sk', unchanged => 'skip');
SELECT count(*) FROM sequenced_upsert('rs.sk', rs.recs(3, 10), 10);
SELECT rs.last('rs.sk') AS last \gset
SELECT outcome, count(*) FROM sequenced_upsert('rs.sk', rs.recs(1, 9), 20) GROUP BY 1 ORDER BY 1;
SELECT * FROM rs.feed('rs.sk', :last);
SELECT id, v, _sdc_sequence FROM rs.sk WHERE id IN (1, 2, 9, 10) ORDER BY id;
SELECT * FROM sequenced_delete_missing_count('rs.sk', 20);
SELECT * FROM sequenced_delete_missing('rs.sk', 20);
SELECT * FROM rs.feed('rs.sk', :last);
-- a late message older than the snapshot is stale for the unchanged keys
SELECT * FROM sequenced_upsert('rs.sk', '[{"id": 1, "v": "late"}, {"id": 5, "v": "late"}, {"id": 10, "v": "late"}]', 15);
SELECT count(*) FROM sequenced_upsert('rs.sk', rs.recs(1, 9), 30);
SELECT * FROM sequenced_delete_missing('rs.sk', 30);
SELECT id, v, _sdc_sequence FROM rs.sk ORDER BY id;
-- soft and skip: an unchanged record does not bring back a marked row (it
-- is a change), and an unchanged live row is not missing
CREATE TABLE rs.sks (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('rs.sks', deletes => 'soft', unchanged => 'skip');
SELECT count(*) FROM sequenced_upsert('rs.sks', rs.recs(1, 10), 10);
SELECT count(*) FROM sequenced_upsert('rs.sks', rs.recs(1, 9), 20);
SELECT * FROM sequenced_delete_missing('rs.sks', 20);
SELECT outcome, count(*) FROM sequenced_upsert('rs.sks', rs.recs(1, 10), 30) GROUP BY 1 ORDER BY 1;
SELECT * FROM sequenced_delete_missing_count('rs.sks', 30);
SELECT id, v, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM rs.sks WHERE id >= 9 ORDER BY id;

--
-- key order: the order of the key's unique index (here: not the order of
-- key_columns, and descending)
--
CREATE TABLE rs.ko (a text, b int, v text) WITH (autovacuum_enabled = off);
CREATE UNIQUE INDEX ko_key ON rs.ko (b, a);
SELECT sequenced_register('rs.ko', key_columns => '{a,b}');
SELECT count(*) FROM sequenced_upsert('rs.ko', '[{"a": "b", "b": 1}, {"a": "a", "b": 2}, {"a": "c", "b": 1},
  {"a": "a", "b": 1}, {"a": "b", "b": 3}]', 10);
SELECT * FROM sequenced_delete_missing('rs.ko', 11, max_fraction => NULL);
CREATE TABLE rs.kd (id int, v text) WITH (autovacuum_enabled = off);
CREATE UNIQUE INDEX kd_key ON rs.kd (id DESC);
SELECT sequenced_register('rs.kd', key_columns => '{id}');
SELECT count(*) FROM sequenced_upsert('rs.kd', rs.recs(1, 5), 10);
SELECT * FROM sequenced_delete_missing('rs.kd', 11, max_fraction => NULL);
-- text keys in the index's collation ("C" here: upper case first)
CREATE TABLE rs.kt (k text COLLATE "C" PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('rs.kt');
SELECT count(*) FROM sequenced_upsert('rs.kt', '[{"k": "b"}, {"k": "B"}, {"k": "a"}, {"k": "A"}, {"k": "_"}]', 10);
SELECT * FROM sequenced_delete_missing('rs.kt', 11, max_fraction => NULL);
-- many keys: ord 1..n in key order
CREATE TABLE rs.km (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('rs.km');
SELECT count(*) FROM sequenced_upsert('rs.km', (SELECT jsonb_agg(jsonb_build_object('id', (i * 7919) % 3001)) FROM generate_series(1, 3000) i), 10);
SELECT count(*) AS n, bool_and(ord = r) AS ord_1_to_n, bool_and(seq = 11 AND outcome = 'deleted') AS all_deleted
  FROM (SELECT d.*, row_number() OVER (ORDER BY (d.key->>'id')::int) AS r
          FROM sequenced_delete_missing('rs.km', 11, max_fraction => NULL) d) x;

--
-- a partitioned table, and tables with triggers (the statement path)
--
CREATE TABLE rs.pt (id int PRIMARY KEY, account int, v text) PARTITION BY RANGE (id);
CREATE TABLE rs.pt0 PARTITION OF rs.pt FOR VALUES FROM (MINVALUE) TO (11) WITH (autovacuum_enabled = off);
CREATE TABLE rs.pt1 PARTITION OF rs.pt FOR VALUES FROM (11) TO (21) WITH (autovacuum_enabled = off);
CREATE TABLE rs.pt2 PARTITION OF rs.pt FOR VALUES FROM (21) TO (MAXVALUE) WITH (autovacuum_enabled = off);
SELECT sequenced_register('rs.pt', unchanged => 'skip');
SELECT count(*) FROM sequenced_upsert('rs.pt', rs.arecs(1, 30), 10);
SELECT outcome, count(*) FROM sequenced_upsert('rs.pt', (SELECT jsonb_agg(r) FROM jsonb_array_elements(rs.arecs(1, 30)) r
  WHERE (r->>'id')::int NOT IN (5, 6, 7)), 20) GROUP BY 1 ORDER BY 1;
SELECT * FROM sequenced_delete_missing_count('rs.pt', 20, '{"account": 1}');
SELECT * FROM sequenced_delete_missing('rs.pt', 20);
SELECT tableoid::regclass, count(*) FROM rs.pt GROUP BY 1 ORDER BY 1;
SELECT * FROM sequenced_upsert('rs.pt', '{"id": 5, "account": 2, "v": "late"}', 15);

CREATE TABLE rs.tg (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
CREATE TABLE rs.tg_log (id int, op text);
CREATE FUNCTION rs.tg_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO rs.tg_log VALUES (OLD.id, TG_OP);
  RETURN OLD;
END $$;
CREATE TRIGGER log BEFORE DELETE ON rs.tg FOR EACH ROW EXECUTE FUNCTION rs.tg_log();
SELECT sequenced_register('rs.tg');
SELECT count(*) FROM sequenced_upsert('rs.tg', rs.recs(1, 10), 10);
SELECT count(*) FROM sequenced_upsert('rs.tg', rs.recs(2, 9), 20);
SELECT * FROM sequenced_delete_missing('rs.tg', 20, max_fraction => 0.25);
SELECT * FROM rs.tg_log ORDER BY id;
-- a foreign key that refuses the delete fails the call: nothing deleted
CREATE TABLE rs.tg_child (id int PRIMARY KEY, parent int REFERENCES rs.tg);
INSERT INTO rs.tg_child VALUES (1, 9);
SELECT count(*) FROM sequenced_upsert('rs.tg', rs.recs(2, 8), 30);
\set SHOW_CONTEXT never
SELECT * FROM sequenced_delete_missing('rs.tg', 30, max_fraction => 0.25);
\echo :LAST_ERROR_SQLSTATE
\set SHOW_CONTEXT errors
SELECT count(*) FROM rs.tg;
SELECT sequenced_max_sequence('rs.tg');

--
-- cost: the key state is read, never the whole target, unless scope names
-- columns outside the key or row-level security applies to the caller; then
-- the target, with an index where one serves.  Measured as the tuples read
-- from the target (pg_stat_user_tables, flushed after each call).
--
CREATE TABLE rs.cost_s (id int PRIMARY KEY, account int, v text) WITH (autovacuum_enabled = off);
CREATE INDEX cost_s_account ON rs.cost_s (account);
CREATE TABLE rs.cost_w (id int PRIMARY KEY, account int, v text) WITH (autovacuum_enabled = off);
CREATE INDEX cost_w_account ON rs.cost_w (account);
SELECT sequenced_register('rs.cost_s', unchanged => 'skip'), sequenced_register('rs.cost_w');
SELECT count(*) FROM unnest(ARRAY['rs.cost_s', 'rs.cost_w']::regclass[]) t,
  sequenced_upsert(t, (SELECT jsonb_agg(jsonb_build_object('id', i, 'account', i % 100, 'v', 'v' || i))
                         FROM generate_series(1, 5000) i), 10);
ANALYZE rs.cost_s, rs.cost_w;
CREATE FUNCTION rs.reads(t regclass) RETURNS bigint LANGUAGE sql AS $$
  SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables WHERE relid = t
$$;
-- a snapshot at 20 without keys 4991-5000
SELECT t, u.outcome, count(*) FROM unnest(ARRAY['rs.cost_s', 'rs.cost_w']::regclass[]) t,
  sequenced_upsert(t, (SELECT jsonb_agg(jsonb_build_object('id', i, 'account', i % 100, 'v', 'v' || i))
                         FROM generate_series(1, 4990) i), 20) u GROUP BY 1, 2 ORDER BY 1, 2;
-- (a flush forced at the end of one statement, read by the next)
-- no scope, 'skip' (every key has its key state): not the whole target
SELECT pg_stat_force_next_flush();
SELECT rs.reads('rs.cost_s') AS before \gset
SELECT * FROM sequenced_delete_missing_count('rs.cost_s', 20);
SELECT pg_stat_force_next_flush();
SELECT rs.reads('rs.cost_s') - :before < 100 AS target_read_as_specified;
-- scope on the key: its row at most
SELECT pg_stat_force_next_flush();
SELECT rs.reads('rs.cost_s') AS before \gset
SELECT * FROM sequenced_delete_missing_count('rs.cost_s', 20, '{"id": 4995}');
SELECT pg_stat_force_next_flush();
SELECT rs.reads('rs.cost_s') - :before <= 1 AS target_read_as_specified;
SELECT pg_stat_force_next_flush();
SELECT rs.reads('rs.cost_w') AS before \gset
SELECT * FROM sequenced_delete_missing_count('rs.cost_w', 20, '{"id": 4995}');
SELECT pg_stat_force_next_flush();
SELECT rs.reads('rs.cost_w') - :before <= 1 AS target_read_as_specified;
SELECT pg_stat_force_next_flush();
SELECT rs.reads('rs.cost_w') AS before \gset
SELECT * FROM sequenced_delete_missing('rs.cost_w', 20, 1, '{"id": 4995}');
SELECT pg_stat_force_next_flush();
SELECT rs.reads('rs.cost_w') - :before <= 2 AS target_read_as_specified;
-- scope on an indexed column outside the key: its 50 rows, by the index
SELECT pg_stat_force_next_flush();
SELECT rs.reads('rs.cost_s') AS before \gset
SELECT * FROM sequenced_delete_missing_count('rs.cost_s', 20, '{"account": 96}');
SELECT pg_stat_force_next_flush();
SELECT rs.reads('rs.cost_s') - :before <= 50 AS target_read_as_specified;
SELECT pg_stat_force_next_flush();
SELECT rs.reads('rs.cost_w') AS before \gset
SELECT * FROM sequenced_delete_missing('rs.cost_w', 20, 1, '{"account": 96}');
SELECT pg_stat_force_next_flush();
SELECT rs.reads('rs.cost_w') - :before <= 100 AS target_read_as_specified;
SELECT count(*) FROM rs.cost_w;

--
-- errors
--
-- not registered: 55000
CREATE TABLE rs.unreg (id int PRIMARY KEY);
SELECT * FROM sequenced_delete_missing('rs.unreg', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing_count('rs.unreg', 1);
\echo :LAST_ERROR_SQLSTATE
-- append-only: 22023
CREATE TABLE rs.app (event text);
SELECT sequenced_register('rs.app', key_columns => '{}');
SELECT * FROM sequenced_upsert('rs.app', '{"event": "x"}', 1);
SELECT * FROM sequenced_delete_missing('rs.app', 2, max_fraction => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing_count('rs.app', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM rs.app;
-- seq NULL: 22023
SELECT * FROM sequenced_delete_missing('rs.t', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing_count('rs.t', NULL);
\echo :LAST_ERROR_SQLSTATE
-- max_fraction below 0 or NaN: 22023
SELECT * FROM sequenced_delete_missing('rs.t', 1000, max_fraction => -0.1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.t', 1000, max_fraction => '-Infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.t', 1000, max_fraction => 'NaN');
\echo :LAST_ERROR_SQLSTATE
-- (checked even when nothing would be deleted)
SELECT * FROM sequenced_delete_missing('rs.br', 1, max_fraction => -1);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM rs.t;
-- the error fields of the extension's own errors: the table (and column)
SELECT rs.err_fields($$SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 1, scope => '{"nosuch": 1}')$$);
SELECT rs.err_fields($$SELECT * FROM sequenced_delete_missing('rs.sc', 20, max_fraction => 1, scope => '{"account": "x"}')$$);
SELECT rs.err_fields($$SELECT * FROM sequenced_delete_missing('rs.app', 2, max_fraction => NULL)$$);
SELECT rs.err_fields($$SELECT * FROM sequenced_delete_missing('rs.unreg', 2)$$);

--
-- rights: SELECT, and DELETE (hard) or UPDATE (soft); row-level security
--
CREATE ROLE regress_rescan_owner NOLOGIN;
CREATE ROLE regress_rescan_del NOLOGIN;     -- SELECT, DELETE
CREATE ROLE regress_rescan_upd NOLOGIN;     -- SELECT, UPDATE
CREATE ROLE regress_rescan_sel NOLOGIN;     -- SELECT
CREATE ROLE regress_rescan_nosel NOLOGIN;   -- INSERT, UPDATE, DELETE
GRANT USAGE ON SCHEMA rs TO regress_rescan_owner, regress_rescan_del, regress_rescan_upd,
  regress_rescan_sel, regress_rescan_nosel;
GRANT CREATE ON SCHEMA rs TO regress_rescan_owner;
SET ROLE regress_rescan_owner;
CREATE TABLE rs.rh (id int PRIMARY KEY, account int, v text) WITH (autovacuum_enabled = off);
CREATE TABLE rs.rsoft (id int PRIMARY KEY, account int, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('rs.rh'), sequenced_register('rs.rsoft', deletes => 'soft');
SELECT count(*) FROM sequenced_upsert('rs.rh', rs.arecs(1, 10), 10);
SELECT count(*) FROM sequenced_upsert('rs.rsoft', rs.arecs(1, 10), 10);
SELECT count(*) FROM sequenced_upsert('rs.rh', rs.arecs(1, 9), 20);
SELECT count(*) FROM sequenced_upsert('rs.rsoft', rs.arecs(1, 9), 20);
GRANT SELECT, DELETE ON rs.rh, rs.rsoft TO regress_rescan_del;
GRANT SELECT, UPDATE ON rs.rh, rs.rsoft TO regress_rescan_upd;
GRANT SELECT ON rs.rh, rs.rsoft TO regress_rescan_sel;
GRANT INSERT, UPDATE, DELETE ON rs.rh, rs.rsoft TO regress_rescan_nosel;
RESET ROLE;
-- SELECT only: may count, may not delete
SET ROLE regress_rescan_sel;
SELECT * FROM sequenced_delete_missing_count('rs.rh', 20);
SELECT * FROM sequenced_delete_missing('rs.rh', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.rsoft', 20);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- no SELECT: neither
SET ROLE regress_rescan_nosel;
SELECT * FROM sequenced_delete_missing_count('rs.rh', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.rh', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.rsoft', 20);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- SELECT and UPDATE: soft, not hard
SET ROLE regress_rescan_upd;
SELECT * FROM sequenced_delete_missing('rs.rh', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.rsoft', 20);
RESET ROLE;
-- SELECT, and UPDATE granted on every column rather than on the table:
-- soft deletes too (the check before the lock takes what the one after it
-- takes)
CREATE ROLE regress_rescan_colupd NOLOGIN;
GRANT USAGE ON SCHEMA rs TO regress_rescan_colupd;
GRANT SELECT, UPDATE (id, account, v, _sdc_sequence, _sdc_deleted_at) ON rs.rsoft TO regress_rescan_colupd;
BEGIN;
SET ROLE regress_rescan_colupd;
SELECT count(*) AS deleted FROM sequenced_delete_missing('rs.rsoft', 22, 1);
ROLLBACK;
REVOKE ALL ON rs.rsoft FROM regress_rescan_colupd;
REVOKE ALL ON SCHEMA rs FROM regress_rescan_colupd;
DROP ROLE regress_rescan_colupd;
-- SELECT and DELETE (no INSERT, no UPDATE): hard, not soft
SET ROLE regress_rescan_del;
SELECT * FROM sequenced_delete_missing('rs.rsoft', 21);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('rs.rh', 20);
RESET ROLE;
SELECT id, _sdc_sequence FROM rs.rh WHERE id >= 9 ORDER BY id;
SELECT id, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM rs.rsoft WHERE id >= 9 ORDER BY id;
-- the tombstone written for the role holds: a late upsert is stale
SELECT * FROM sequenced_upsert('rs.rh', '{"id": 10, "account": 1, "v": "late"}', 15);
-- row-level security: rows the caller cannot see are neither counted nor
-- deleted
SET ROLE regress_rescan_owner;
CREATE TABLE rs.rls (id int PRIMARY KEY, account int, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('rs.rls');
SELECT count(*) FROM sequenced_upsert('rs.rls', rs.arecs(1, 30), 10);
ALTER TABLE rs.rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON rs.rls USING (account = 1);
GRANT SELECT, INSERT, UPDATE, DELETE ON rs.rls TO regress_rescan_del;
RESET ROLE;
SET ROLE regress_rescan_del;
-- 10 visible (account 1), all older than 20
SELECT * FROM sequenced_delete_missing_count('rs.rls', 20);
SELECT count(*) FROM sequenced_upsert('rs.rls', (SELECT jsonb_agg(r) FROM jsonb_array_elements(rs.arecs(1, 30)) r
  WHERE (r->>'account')::int = 1 AND (r->>'id')::int NOT IN (1, 4)), 20);
SELECT * FROM sequenced_delete_missing_count('rs.rls', 20);
SELECT * FROM sequenced_delete_missing('rs.rls', 20, max_fraction => 0.2);
-- scope on a column outside the key under row-level security
SELECT * FROM sequenced_delete_missing_count('rs.rls', 30, '{"account": 2}');
SELECT * FROM sequenced_delete_missing('rs.rls', 30, max_fraction => 1, scope => '{"account": 2}');
RESET ROLE;
-- the rows of the other accounts are all there, older than 20 as they are
SELECT account, count(*), max(_sdc_sequence) FROM rs.rls GROUP BY account ORDER BY account;
-- the owner is not limited by the policies (not FORCE): sees them all
SET ROLE regress_rescan_owner;
SELECT * FROM sequenced_delete_missing_count('rs.rls', 20);
RESET ROLE;

--
-- full rescans of a 10,000-key source, checked against a reference
--
-- rs.src is the source.  Three targets are loaded from it: big_w
-- ('write', hard deletes), big_s ('skip', hard), big_soft ('skip', soft),
-- big_p ('skip', hard, partitioned: the statement path).
-- rs.ref is the reference: what each target must hold, maintained by
-- plain SQL from the same messages (rs.ref_upsert, rs.ref_delete).  Each
-- round sends the source, page by page (500 records per call, pages in a
-- shuffled order, a commit every three calls), interleaved with newer
-- delta messages (new keys absent from the snapshot, changes and deletes
-- after the snapshot began) and late, older ones; then calls
-- sequenced_delete_missing and compares the targets to the reference:
-- rows, outcomes of every call, the output of sequenced_delete_missing,
-- the feed (every key once, its deleted flag and sequence), the number of
-- positions the round created, and max_sequence.
--
-- (errors raised inside the helper functions are shown without their context)
\set SHOW_CONTEXT never
CREATE TABLE rs.src (id int PRIMARY KEY, account int, v text);
INSERT INTO rs.src SELECT i, i % 10, 'v' || i FROM generate_series(1, 10000) i;
CREATE TABLE rs.big_w (id int PRIMARY KEY, account int, v text) WITH (autovacuum_enabled = off);
CREATE TABLE rs.big_s (id int PRIMARY KEY, account int, v text) WITH (autovacuum_enabled = off);
CREATE TABLE rs.big_soft (id int PRIMARY KEY, account int, v text) WITH (autovacuum_enabled = off);
CREATE TABLE rs.big_p (id int PRIMARY KEY, account int, v text) PARTITION BY RANGE (id);
CREATE TABLE rs.big_p1 PARTITION OF rs.big_p FOR VALUES FROM (MINVALUE) TO (3000) WITH (autovacuum_enabled = off);
CREATE TABLE rs.big_p2 PARTITION OF rs.big_p FOR VALUES FROM (3000) TO (7000) WITH (autovacuum_enabled = off);
CREATE TABLE rs.big_p3 PARTITION OF rs.big_p FOR VALUES FROM (7000) TO (MAXVALUE) WITH (autovacuum_enabled = off);
SELECT sequenced_register('rs.big_w'), sequenced_register('rs.big_s', unchanged => 'skip'),
       sequenced_register('rs.big_soft', deletes => 'soft', unchanged => 'skip'),
       sequenced_register('rs.big_p', unchanged => 'skip');

-- the reference: per target and key, its row (has_row, values, the row's
-- sequence column, deleted: marked), and the key's stored sequence; changed:
-- the round of its last change (a change is what gets a position)
CREATE TABLE rs.ref (tgt regclass, id int, account int, v text, has_row boolean, deleted boolean,
                     row_seq bigint, key_seq bigint, changed int, PRIMARY KEY (tgt, id));
CREATE TABLE rs.ref_max (tgt regclass PRIMARY KEY, max_seq bigint);
INSERT INTO rs.ref_max VALUES ('rs.big_w', NULL), ('rs.big_s', NULL), ('rs.big_soft', NULL), ('rs.big_p', NULL);
CREATE TABLE rs.round (n int);
INSERT INTO rs.round VALUES (0);
-- what went wrong while playing (empty: nothing)
CREATE TABLE rs.mism (tgt regclass, round int, step int, what text);
-- each target's feed position before the round
CREATE TABLE rs.cursor (tgt regclass, round int, pos bigint, PRIMARY KEY (tgt, round));

-- an upsert of records (distinct keys) at s, as pg_sequenced must apply it
CREATE FUNCTION rs.ref_upsert(t regclass, recs jsonb, s bigint)
RETURNS TABLE (id int, outcome text) LANGUAGE plpgsql AS $$
DECLARE
  skip boolean := (SELECT c.unchanged = 'skip' FROM sequenced_tables c WHERE c.relid = t);
  rnd int := (SELECT n FROM rs.round);
BEGIN
  RETURN QUERY
  WITH m AS (SELECT (r->>'id')::int AS id, (r->>'account')::int AS account, r->>'v' AS v
               FROM jsonb_array_elements(recs) r),
  d AS (SELECT m.*, CASE WHEN x.key_seq >= s THEN 'stale'
                         WHEN x.id IS NULL OR NOT x.has_row THEN 'inserted'
                         WHEN skip AND NOT x.deleted AND (x.account, x.v) IS NOT DISTINCT FROM (m.account, m.v)
                           THEN 'unchanged'
                         ELSE 'updated' END AS o
          FROM m LEFT JOIN rs.ref x ON x.tgt = t AND x.id = m.id),
  w AS (INSERT INTO rs.ref AS x (tgt, id, account, v, has_row, deleted, row_seq, key_seq, changed)
        SELECT t, d.id, d.account, d.v, true, false, s, s, rnd FROM d WHERE d.o <> 'stale'
        ON CONFLICT ON CONSTRAINT ref_pkey DO UPDATE SET
          account = excluded.account, v = excluded.v, has_row = true, deleted = false, key_seq = s,
          row_seq = CASE WHEN skip AND x.has_row AND NOT x.deleted
                              AND (x.account, x.v) IS NOT DISTINCT FROM (excluded.account, excluded.v)
                         THEN x.row_seq ELSE s END,
          changed = CASE WHEN skip AND x.has_row AND NOT x.deleted
                              AND (x.account, x.v) IS NOT DISTINCT FROM (excluded.account, excluded.v)
                         THEN x.changed ELSE rnd END)
  SELECT d.id, d.o FROM d;
  UPDATE rs.ref_max SET max_seq = greatest(max_seq, s)
   WHERE tgt = t AND EXISTS (SELECT FROM jsonb_array_elements(recs) r JOIN rs.ref x
                              ON x.tgt = t AND x.id = (r->>'id')::int AND x.key_seq = s);
END $$;
-- deletes of keys (distinct) at s
CREATE FUNCTION rs.ref_delete(t regclass, ids int[], s bigint)
RETURNS TABLE (id int, outcome text) LANGUAGE plpgsql AS $$
DECLARE
  soft boolean := (SELECT c.deletes = 'soft' FROM sequenced_tables c WHERE c.relid = t);
  rnd int := (SELECT n FROM rs.round);
BEGIN
  RETURN QUERY
  WITH d AS (SELECT m.id, CASE WHEN x.key_seq >= s THEN 'stale' ELSE 'deleted' END AS o
               FROM unnest(ids) m(id) LEFT JOIN rs.ref x ON x.tgt = t AND x.id = m.id),
  w AS (INSERT INTO rs.ref AS x (tgt, id, account, v, has_row, deleted, row_seq, key_seq, changed)
        SELECT t, d.id, NULL, NULL, false, true, NULL, s, rnd FROM d WHERE d.o = 'deleted'
        ON CONFLICT ON CONSTRAINT ref_pkey DO UPDATE SET
          has_row = soft AND x.has_row,
          account = CASE WHEN soft AND x.has_row THEN x.account END,
          v = CASE WHEN soft AND x.has_row THEN x.v END,
          deleted = true,
          row_seq = CASE WHEN soft AND x.has_row THEN s END,
          key_seq = s, changed = rnd)
  SELECT d.id, d.o FROM d;
  IF EXISTS (SELECT FROM unnest(ids) m(id) JOIN rs.ref x ON x.tgt = t AND x.id = m.id AND x.key_seq = s) THEN
    UPDATE rs.ref_max SET max_seq = greatest(max_seq, s) WHERE tgt = t;
  END IF;
END $$;

-- the stream of a round: upserts (3-argument form: data, seq), deletes
-- (keys, seq) and mixed messages (2-argument form)
CREATE TABLE rs.stream (round int, step int, kind text, data jsonb, seq bigint, PRIMARY KEY (round, step));
-- the keys the source lost, per round
CREATE TABLE rs.gone (round int, id int);
CREATE TABLE rs.got (id int, outcome text);
CREATE TABLE rs.exp (id int, outcome text);

-- play the steps of a round from step lo on (below hi) into every target
-- and the reference, a commit every three steps
CREATE PROCEDURE rs.play(r int, lo int DEFAULT 0, hi int DEFAULT 1000000)
LANGUAGE plpgsql AS $$
DECLARE
  st record;
  t regclass;
  m jsonb;
  k int := 0;
BEGIN
  UPDATE rs.round SET n = r;
  FOR st IN SELECT * FROM rs.stream WHERE round = r AND step >= lo AND step < hi ORDER BY step LOOP
    FOREACH t IN ARRAY ARRAY['rs.big_w', 'rs.big_s', 'rs.big_soft', 'rs.big_p']::regclass[] LOOP
      DELETE FROM rs.got;
      DELETE FROM rs.exp;
      IF st.kind = 'upsert' THEN
        INSERT INTO rs.got SELECT (u.key->>'id')::int, u.outcome FROM sequenced_upsert(t, st.data, st.seq) u;
        INSERT INTO rs.exp SELECT * FROM rs.ref_upsert(t, st.data, st.seq);
      ELSIF st.kind = 'delete' THEN
        INSERT INTO rs.got SELECT (u.key->>'id')::int, u.outcome FROM sequenced_delete(t, st.data, st.seq) u;
        INSERT INTO rs.exp SELECT * FROM rs.ref_delete(t, ARRAY(SELECT (e->>'id')::int FROM jsonb_array_elements(st.data) e), st.seq);
      ELSE
        INSERT INTO rs.got SELECT (u.key->>'id')::int, u.outcome FROM sequenced_upsert(t, st.data) u;
        FOR m IN SELECT * FROM jsonb_array_elements(st.data) LOOP
          IF m->>'action' = 'delete' THEN
            INSERT INTO rs.exp SELECT * FROM rs.ref_delete(t, ARRAY[(m->'data'->>'id')::int], (m->>'sequence')::bigint);
          ELSE
            INSERT INTO rs.exp SELECT * FROM rs.ref_upsert(t, jsonb_build_array(m->'data'), (m->>'sequence')::bigint);
          END IF;
        END LOOP;
      END IF;
      INSERT INTO rs.mism
      SELECT t, r, st.step, format('key %s: %s, expected %s', coalesce(g.id, e.id), g.outcome, e.outcome)
        FROM rs.got g FULL JOIN rs.exp e ON g.id = e.id
       WHERE g.outcome IS DISTINCT FROM e.outcome;
    END LOOP;
    k := k + 1;
    IF k % 3 = 0 THEN
      COMMIT;
    END IF;
  END LOOP;
END $$;

-- wait until no transaction holds the feed of t back (an autovacuum of its
-- key state, say)
CREATE FUNCTION rs.settle(t regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..400 LOOP
    EXIT WHEN (SELECT held_by_pid IS NULL FROM sequenced_feed_status(t));
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;

-- end a rescan of t at s: the count, the call, the reference's deletes;
-- what the call returned against what the reference expected
CREATE FUNCTION rs.finish(t regclass, s bigint, mf float8 DEFAULT 0.1, scope jsonb DEFAULT NULL)
RETURNS TABLE (tgt regclass, live bigint, missing bigint, deleted bigint, mismatches bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c record;
  exp int[];
  nlive bigint;
  bad bigint;
BEGIN
  SELECT * INTO c FROM sequenced_delete_missing_count(t, s, scope);
  SELECT count(*) INTO nlive FROM rs.ref x
   WHERE x.tgt = t AND x.has_row AND NOT x.deleted
     AND (scope IS NULL OR x.account = (scope->>'account')::int);
  exp := ARRAY(SELECT x.id FROM rs.ref x
                WHERE x.tgt = t AND x.has_row AND NOT x.deleted AND x.key_seq < s
                  AND (scope IS NULL OR x.account = (scope->>'account')::int) ORDER BY x.id);
  DELETE FROM rs.got;
  INSERT INTO rs.got
  SELECT (d.key->>'id')::int, format('%s %s %s', d.ord, d.seq, d.outcome)
    FROM sequenced_delete_missing(t, s, mf, scope) d;
  PERFORM rs.ref_delete(t, exp, s);
  SELECT count(*) INTO bad
    FROM rs.got g FULL JOIN (SELECT e.id, format('%s %s deleted', e.ord, s) AS o
                               FROM unnest(exp) WITH ORDINALITY e(id, ord)) e ON g.id = e.id
   WHERE g.outcome IS DISTINCT FROM e.o;
  RETURN QUERY SELECT t, c.live, c.missing, (SELECT count(*) FROM rs.got),
    bad + (c.live <> nlive)::int + (c.missing <> cardinality(exp))::int;
END $$;

-- a target against the reference: rows (values, sequence column, mark),
-- the feed (each key once, deleted flag and sequence), the positions
-- created in round r, max_sequence; mismatches counted
CREATE FUNCTION rs.check(t regclass, r int)
RETURNS TABLE (tgt regclass, rows bigint, marked bigint, tombstones bigint, new_positions bigint,
               bad_rows bigint, bad_feed bigint, bad_positions bigint, bad_max bool, bad_outcomes bigint)
LANGUAGE plpgsql AS $$
DECLARE
  soft boolean := (SELECT c.deletes = 'soft' FROM sequenced_tables c WHERE c.relid = t);
  nrows bigint;
  nmarked bigint;
  br bigint;
  bf bigint;
  npos bigint;
  cur bigint := (SELECT pos FROM rs.cursor WHERE cursor.tgt = t AND cursor.round = r);
BEGIN
  PERFORM rs.settle(t);
  EXECUTE format('SELECT count(*), count(*) FILTER (WHERE %s) FROM %s',
                 CASE WHEN soft THEN '_sdc_deleted_at IS NOT NULL' ELSE 'false' END, t) INTO nrows, nmarked;
  EXECUTE format($q$
    SELECT count(*) FROM (SELECT id, account, v, _sdc_sequence AS seq, %s AS del FROM %s) g
      FULL JOIN (SELECT * FROM rs.ref WHERE ref.tgt = $1 AND has_row) e USING (id)
     WHERE g.id IS NULL OR e.id IS NULL
        OR (g.account, g.v, g.seq, g.del) IS DISTINCT FROM (e.account, e.v, e.row_seq, e.deleted)$q$,
    CASE WHEN soft THEN '_sdc_deleted_at IS NOT NULL' ELSE 'false' END, t) INTO br USING t;
  SELECT count(*) INTO bf
    FROM (SELECT (f.key->>'id')::int AS id, f.deleted, f.seq FROM sequenced_changes(t) f) g
    FULL JOIN (SELECT x.id, x.deleted, CASE WHEN x.has_row THEN x.row_seq ELSE x.key_seq END AS seq
                 FROM rs.ref x WHERE x.tgt = t) e USING (id)
   WHERE g.id IS NULL OR e.id IS NULL OR (g.deleted, g.seq) IS DISTINCT FROM (e.deleted, e.seq);
  bf := bf + (SELECT count(*) - count(DISTINCT f.key) FROM sequenced_changes(t) f);
  SELECT count(*) INTO npos FROM sequenced_changes(t, coalesce(cur, 0));
  RETURN QUERY SELECT t, nrows, nmarked,
    (SELECT count(*) FROM rs.ref x WHERE x.tgt = t AND NOT x.has_row),
    npos, br, bf,
    npos - (SELECT count(*) FROM rs.ref x WHERE x.tgt = t AND x.changed = r),
    sequenced_max_sequence(t) IS DISTINCT FROM (SELECT max_seq FROM rs.ref_max m WHERE m.tgt = t),
    (SELECT count(*) FROM rs.mism m WHERE m.tgt = t AND m.round = r);
END $$;
-- the positions before round r
CREATE FUNCTION rs.start(r int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE t regclass;
BEGIN
  UPDATE rs.round SET n = r;
  FOREACH t IN ARRAY ARRAY['rs.big_w', 'rs.big_s', 'rs.big_soft', 'rs.big_p']::regclass[] LOOP
    PERFORM rs.settle(t);
    INSERT INTO rs.cursor VALUES (t, r, rs.last(t));
  END LOOP;
END $$;
-- the snapshot of round r at s: the source (rows matching cond) in pages
-- of 500, at steps 10, 20, ... in a shuffled order; returns the number of
-- pages
CREATE FUNCTION rs.snapshot(r int, s bigint, cond text DEFAULT 'true') RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format($q$
    WITH pages AS (
      SELECT p, jsonb_agg(jsonb_build_object('id', id, 'account', account, 'v', v) ORDER BY id) AS recs
        FROM (SELECT *, (row_number() OVER (ORDER BY id) - 1) / 500 AS p FROM rs.src WHERE %s) x
       GROUP BY p),
    ins AS (
      INSERT INTO rs.stream
      SELECT $1, 10 * row_number() OVER (ORDER BY md5(p::text || '/' || $1)), 'upsert', recs, $2 FROM pages
      RETURNING 1)
    SELECT count(*) FROM ins$q$, cond) INTO n USING r, s;
  RETURN n;
END $$;
-- the deltas of round r around a snapshot at s, between its pages:
--  35: new keys, absent from the snapshot, newer (s + 5): they stay
--  55: changes of keys after the snapshot began (s + 7)
--  75: deletes after the snapshot began (s + 8)
--  95: late, older messages (two-argument form): upserts at s - 500 of
--      keys in the snapshot (stale where their page came first), of the new
--      keys of step 35 (stale), and of keys the source lost this round
--      (applied: they beat the previous snapshot; deleted at its end all
--      the same); deletes at s - 1 (a key whose page comes later is
--      inserted again by it)
-- The source then takes the changes of steps 35-75 (the next snapshot
-- holds them).
CREATE FUNCTION rs.deltas(r int, s bigint) RETURNS void LANGUAGE sql AS $$
  INSERT INTO rs.stream VALUES
  (r, 35, 'upsert', (SELECT jsonb_agg(jsonb_build_object('id', 50000 + r * 100 + i, 'account', i % 10, 'v', 'new' || i))
                       FROM generate_series(1, 20) i), s + 5),
  (r, 55, 'upsert', (SELECT jsonb_agg(jsonb_build_object('id', id, 'account', account, 'v', v || ' delta' || r))
                       FROM rs.src WHERE id % 101 = r), s + 7),
  (r, 75, 'delete', (SELECT jsonb_agg(jsonb_build_object('id', id)) FROM rs.src WHERE id % 103 = r), s + 8),
  (r, 95, 'messages', (SELECT jsonb_agg(m) FROM (
      SELECT jsonb_build_object('sequence', s - 500, 'data', jsonb_build_object('id', id, 'account', account, 'v', 'late')) m
        FROM rs.src WHERE id % 107 = r
      UNION ALL
      SELECT jsonb_build_object('sequence', s - 500, 'data', jsonb_build_object('id', 50000 + r * 100 + i, 'account', 0, 'v', 'late'))
        FROM generate_series(1, 5) i
      UNION ALL
      SELECT jsonb_build_object('sequence', s - 500, 'data', jsonb_build_object('id', id, 'account', 0, 'v', 'late gone'))
        FROM rs.gone WHERE round = r
      UNION ALL
      SELECT jsonb_build_object('action', 'delete', 'sequence', s - 1, 'data', jsonb_build_object('id', id))
        FROM rs.src WHERE id % 109 = r AND id % 107 <> r) x), NULL)
$$;
CREATE FUNCTION rs.after_deltas(r int) RETURNS void LANGUAGE sql AS $$
  INSERT INTO rs.src SELECT 50000 + r * 100 + i, i % 10, 'new' || i FROM generate_series(1, 20) i;
  UPDATE rs.src SET v = v || ' delta' || r WHERE id % 101 = r AND id < 50000;
  DELETE FROM rs.src WHERE id % 103 = r AND id < 50000;
$$;
-- all three targets
CREATE FUNCTION rs.finish_all(s bigint, mf float8 DEFAULT 0.1, scope jsonb DEFAULT NULL)
RETURNS TABLE (tgt regclass, live bigint, missing bigint, deleted bigint, mismatches bigint)
LANGUAGE sql AS $$
  SELECT f.* FROM unnest(ARRAY['rs.big_w', 'rs.big_s', 'rs.big_soft', 'rs.big_p']::regclass[]) WITH ORDINALITY t(t, o),
                  rs.finish(t.t, s, mf, scope) f ORDER BY t.o
$$;
CREATE FUNCTION rs.check_all(r int)
RETURNS TABLE (tgt regclass, rows bigint, marked bigint, tombstones bigint, new_positions bigint,
               bad_rows bigint, bad_feed bigint, bad_positions bigint, bad_max bool, bad_outcomes bigint)
LANGUAGE sql AS $$
  SELECT c.* FROM unnest(ARRAY['rs.big_w', 'rs.big_s', 'rs.big_soft', 'rs.big_p']::regclass[]) WITH ORDINALITY t(t, o),
                  rs.check(t.t, r) c ORDER BY t.o
$$;

-- round 0: the first load, at 1000 (nothing is missing)
SELECT rs.start(0);
SELECT rs.snapshot(0, 1000) AS pages;
CALL rs.play(0);
SELECT * FROM rs.finish_all(1000);
SELECT * FROM rs.check_all(0);

-- rounds 1-3: the source changes between rescans: keys go (id % 41 = r),
-- some come back (round 2: the even ones gone in round 1), new ones come,
-- values and accounts change; a rescan at 1000 * (r + 1) with its deltas
CREATE PROCEDURE rs.do_round(r int)
LANGUAGE plpgsql AS $$
BEGIN
  WITH d AS (DELETE FROM rs.src WHERE id % 41 = r AND id < 50000 RETURNING id)
  INSERT INTO rs.gone SELECT r, id FROM d;
  IF r = 2 THEN
    INSERT INTO rs.src SELECT id, id % 10, 'back' || id FROM rs.gone WHERE round = 1 AND id % 2 = 0;
  END IF;
  INSERT INTO rs.src SELECT 20000 + r * 1000 + i, i % 10, 'added' || i FROM generate_series(1, 150) i;
  UPDATE rs.src SET v = v || '.' || r WHERE id % 53 = r;
  UPDATE rs.src SET account = (account + 1) % 10 WHERE id % 97 = r;
  PERFORM rs.start(r);
  PERFORM rs.snapshot(r, 1000 * (r + 1));
  PERFORM rs.deltas(r, 1000 * (r + 1));
  COMMIT;
  CALL rs.play(r);
END $$;

CALL rs.do_round(1);
SELECT count(*) AS src_keys, (SELECT count(*) FROM rs.gone WHERE round = 1) AS gone FROM rs.src;
SELECT * FROM rs.finish_all(2000);
SELECT rs.after_deltas(1);
SELECT * FROM rs.check_all(1);
-- the keys a newer delta made (absent from the snapshot) stayed; those a
-- newer delete removed are tombstones at 2008; those the source lost are
-- tombstones at 2000 (in big_soft: marked rows)
SELECT t, count(*) FILTER (WHERE id > 50000) AS new_deltas,
       count(*) FILTER (WHERE id % 103 = 1 AND id < 50000 AND deleted AND seq = 2008) AS newer_deletes,
       count(*) FILTER (WHERE id IN (SELECT id FROM rs.gone WHERE round = 1) AND deleted AND seq = 2000) AS lost
  FROM unnest(ARRAY['rs.big_w', 'rs.big_s', 'rs.big_soft', 'rs.big_p']::regclass[]) t,
       LATERAL (SELECT (key->>'id')::int AS id, deleted, seq FROM sequenced_changes(t)) f
 GROUP BY t ORDER BY t::text;

CALL rs.do_round(2);
SELECT * FROM rs.finish_all(3000);
SELECT rs.after_deltas(2);
SELECT * FROM rs.check_all(2);
-- the keys that came back: inserted again (hard) or updated (soft)
SELECT count(*) FROM rs.big_s WHERE v LIKE 'back%';
SELECT count(*) FROM rs.big_soft WHERE v LIKE 'back%' AND _sdc_deleted_at IS NULL;

CALL rs.do_round(3);
SELECT * FROM rs.finish_all(4000);
SELECT rs.after_deltas(3);
SELECT * FROM rs.check_all(3);
-- the same again: nothing more
SELECT * FROM rs.finish_all(4000);
SELECT * FROM rs.check_all(3);
SELECT * FROM rs.mism ORDER BY tgt::text, round, step LIMIT 20;

-- round 4: a rescan at 5000 that broke off after half its pages trips the
-- breaker and deletes nothing; sent to its end, it passes
DELETE FROM rs.src WHERE id % 43 = 4;
SELECT rs.start(4);
SELECT rs.snapshot(4, 5000) AS pages \gset
CALL rs.play(4, 0, 10 * (:pages / 2) + 5);
SELECT * FROM rs.finish('rs.big_w', 5000);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM rs.finish('rs.big_s', 5000);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM rs.finish('rs.big_soft', 5000);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM rs.finish('rs.big_p', 5000, 0.2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM rs.check_all(4);
CALL rs.play(4, 10 * (:pages / 2) + 5);
SELECT * FROM rs.finish_all(5000);
SELECT * FROM rs.check_all(4);

-- round 5: a rescan at 6000 of account 3 only, with scope: the other
-- accounts, all older than 6000, stay
DELETE FROM rs.src WHERE account = 3 AND id % 13 = 0;
UPDATE rs.src SET v = v || '.5' WHERE account = 3 AND id % 11 = 0;
SELECT rs.start(5);
SELECT rs.snapshot(5, 6000, 'account = 3') AS pages;
CALL rs.play(5);
SELECT * FROM rs.finish_all(6000, scope => '{"account": 3}');
SELECT * FROM rs.check_all(5);
SELECT account = 3 AS account_3, count(*), max(_sdc_sequence) FROM rs.big_w GROUP BY 1 ORDER BY 1;

-- round 6: an empty snapshot at 7000 trips the breaker; max_fraction 1
-- deletes everything
SELECT rs.start(6);
UPDATE rs.round SET n = 6;
SELECT * FROM rs.finish('rs.big_w', 7000);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM rs.finish('rs.big_s', 7000, 0.999);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM rs.finish('rs.big_soft', 7000);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM rs.finish('rs.big_p', 7000);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM rs.finish_all(7000, 1);
SELECT * FROM rs.check_all(6);
SELECT * FROM rs.mism ORDER BY tgt::text, round, step LIMIT 20;

\set SHOW_CONTEXT errors

--
-- a scope that names some of a composite key's columns, or none ('{}'),
-- counts and deletes every live key within it -- not only those equal to
-- the first missing key (that key's delete message once took the scope's
-- place)
--
CREATE TABLE rs.part (g int, id int, v text, PRIMARY KEY (g, id));
SELECT sequenced_register('rs.part');
SELECT count(*) FROM sequenced_upsert('rs.part',
  (SELECT jsonb_agg(jsonb_build_object('g', g, 'id', id, 'v', 'a')) FROM generate_series(1, 2) g, generate_series(1, 4) id), 10);
SELECT count(*) FROM sequenced_upsert('rs.part', '[{"g": 1, "id": 2}, {"g": 2, "id": 3}]', 20);
SELECT * FROM sequenced_delete_missing_count('rs.part', 20, '{}');
SELECT * FROM sequenced_delete_missing_count('rs.part', 20, '{"g": 1}');
SELECT ord, key, outcome FROM sequenced_delete_missing('rs.part', 20, 1, '{"g": 1}');
SELECT ord, key, outcome FROM sequenced_delete_missing('rs.part', 20, 1, '{}');
SELECT g, id FROM rs.part ORDER BY g, id;

--
-- clean up
--
SET client_min_messages = warning;
DROP SCHEMA rs CASCADE;
RESET client_min_messages;
DROP ROLE regress_rescan_owner, regress_rescan_del, regress_rescan_upd, regress_rescan_sel,
          regress_rescan_nosel;
RESET search_path;
