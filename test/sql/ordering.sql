--
-- ordering: which message wins, on_equal, ordering => 'per_table', composite
-- and quoted keys (SPEC section 2, Which message wins)
--

--
-- on_equal => 'keep' (the default)
--
CREATE TABLE ord_keep (id int PRIMARY KEY, v text);
SELECT sequenced_register('ord_keep');
-- within one call: the first of equal sequences wins
SELECT * FROM sequenced_upsert('ord_keep', '[
  {"sequence": 10, "data": {"id": 1, "v": "first"}},
  {"sequence": 10, "data": {"id": 1, "v": "second"}},
  {"sequence": 10, "data": {"id": 1, "v": "third"}},
  {"sequence": 10, "data": {"id": 2, "v": "other key"}}
]');
SELECT * FROM ord_keep ORDER BY id;
-- against the stored row: equal is stale
SELECT * FROM sequenced_upsert('ord_keep', '{"id": 1, "v": "equal"}', 10);
SELECT * FROM sequenced_delete('ord_keep', '{"id": 2}', 10);
SELECT * FROM ord_keep ORDER BY id;
-- a delete and an upsert of equal sequence in one call: the first wins
SELECT * FROM sequenced_upsert('ord_keep', '[
  {"action": "delete", "sequence": 20, "data": {"id": 1}},
  {"action": "upsert", "sequence": 20, "data": {"id": 1, "v": "not applied"}},
  {"action": "upsert", "sequence": 20, "data": {"id": 2, "v": "applied"}},
  {"action": "delete", "sequence": 20, "data": {"id": 2}}
]');
SELECT * FROM ord_keep ORDER BY id;

--
-- on_equal => 'replace'
--
CREATE TABLE ord_replace (id int PRIMARY KEY, v text);
SELECT sequenced_register('ord_replace', on_equal => 'replace');
-- within one call: the last of equal sequences wins
SELECT * FROM sequenced_upsert('ord_replace', '[
  {"sequence": 10, "data": {"id": 1, "v": "first"}},
  {"sequence": 10, "data": {"id": 1, "v": "second"}},
  {"sequence": 10, "data": {"id": 1, "v": "third"}},
  {"sequence": 10, "data": {"id": 2, "v": "other key"}}
]');
SELECT * FROM ord_replace ORDER BY id;
SELECT * FROM sequenced_upsert('ord_replace', '[{"id": 3, "v": "a"}, {"id": 3, "v": "b"}]', 10);
SELECT * FROM ord_replace ORDER BY id;
-- against the stored row: equal is applied
SELECT * FROM sequenced_upsert('ord_replace', '{"id": 1, "v": "equal"}', 10);
SELECT * FROM ord_replace ORDER BY id;
-- older is still stale
SELECT * FROM sequenced_upsert('ord_replace', '{"id": 1, "v": "older"}', 9);
-- an equal delete is applied too
SELECT * FROM sequenced_delete('ord_replace', '{"id": 2}', 10);
SELECT * FROM ord_replace ORDER BY id;
-- and an equal upsert brings back a key deleted with that sequence
SELECT * FROM sequenced_upsert('ord_replace', '{"id": 2, "v": "back"}', 10);
SELECT * FROM ord_replace ORDER BY id;

--
-- on_equal => 'error'
--
CREATE TABLE ord_error (id int PRIMARY KEY, v text);
SELECT sequenced_register('ord_error', on_equal => 'error');
SELECT * FROM sequenced_upsert('ord_error', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]', 10);
SELECT * FROM ord_error ORDER BY id;
-- within one call: two messages sharing the highest sequence of a key fail
-- the whole call
SELECT * FROM sequenced_upsert('ord_error', '[
  {"sequence": 20, "data": {"id": 1, "v": "x"}},
  {"sequence": 20, "data": {"id": 3, "v": "first"}},
  {"sequence": 20, "data": {"id": 3, "v": "second"}}
]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ord_error ORDER BY id;
-- the three-argument form: the same key twice
SELECT * FROM sequenced_upsert('ord_error', '[{"id": 4, "v": "a"}, {"id": 4, "v": "b"}]', 30);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete('ord_error', '[{"id": 1}, {"id": 1}]', 30);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ord_error ORDER BY id;
-- against the stored row: equal fails, and nothing of the call is applied
SELECT * FROM sequenced_upsert('ord_error', '[{"id": 5, "v": "new"}, {"id": 1, "v": "equal"}]', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete('ord_error', '{"id": 2}', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ord_error ORDER BY id;
SELECT sequenced_max_sequence('ord_error');
-- ties that decide nothing do not fail: equal sequences below another
-- message of the same key, and equal sequences of different keys
SELECT * FROM sequenced_upsert('ord_error', '[
  {"sequence": 40, "data": {"id": 1, "v": "tie a"}},
  {"sequence": 40, "data": {"id": 1, "v": "tie b"}},
  {"sequence": 41, "data": {"id": 1, "v": "newest"}},
  {"sequence": 40, "data": {"id": 2, "v": "two"}},
  {"sequence": 40, "data": {"id": 6, "v": "six"}}
]');
SELECT * FROM ord_error ORDER BY id;
-- the same with a delete among the tied messages
SELECT * FROM sequenced_upsert('ord_error', '[
  {"action": "delete", "sequence": 50, "data": {"id": 6}},
  {"action": "upsert", "sequence": 50, "data": {"id": 6, "v": "tie"}},
  {"action": "upsert", "sequence": 51, "data": {"id": 6, "v": "six v2"}}
]');
SELECT * FROM ord_error ORDER BY id;
-- older than the stored row is stale, not an error
SELECT * FROM sequenced_upsert('ord_error', '{"id": 6, "v": "older"}', 50);
SELECT * FROM ord_error ORDER BY id;
-- two messages sharing the highest sequence of their key in the call fail,
-- even when the stored row is newer than both
SELECT * FROM sequenced_upsert('ord_error', '[{"id": 6, "v": "x"}, {"id": 6, "v": "y"}]', 5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ord_error ORDER BY id;

--
-- ordering => 'per_table': a message is also stale when its sequence is not
-- greater than the table's max_sequence as it stood when the call began
--
CREATE TABLE ord_table (id int PRIMARY KEY, v text);
SELECT sequenced_register('ord_table', ordering => 'per_table');
-- no max_sequence yet: everything is accepted, lowest and highest alike
SELECT * FROM sequenced_upsert('ord_table', '[
  {"sequence": 100, "data": {"id": 1, "v": "a"}},
  {"sequence": 50, "data": {"id": 2, "v": "b"}}
]');
SELECT * FROM ord_table ORDER BY id;
SELECT sequenced_max_sequence('ord_table');
-- a new key at or below max_sequence is stale; above it is inserted
SELECT * FROM sequenced_upsert('ord_table', '[
  {"sequence": 60, "data": {"id": 3, "v": "c"}},
  {"sequence": 100, "data": {"id": 4, "v": "d"}},
  {"sequence": 60, "data": {"id": 2, "v": "b newer than its row"}}
]');
SELECT * FROM ord_table ORDER BY id;
-- the maximum as it stood when the call began: a message raising it does not
-- make the later messages of the same call stale
SELECT * FROM sequenced_upsert('ord_table', '[
  {"sequence": 200, "data": {"id": 5, "v": "e"}},
  {"sequence": 150, "data": {"id": 6, "v": "f"}},
  {"sequence": 101, "data": {"id": 2, "v": "b2"}}
]');
SELECT * FROM ord_table ORDER BY id;
SELECT sequenced_max_sequence('ord_table');
-- deletes follow the same rule
SELECT * FROM sequenced_delete('ord_table', '[{"id": 5}, {"id": 1}]', 200);
SELECT * FROM sequenced_delete('ord_table', '{"id": 1}', 201);
SELECT * FROM ord_table ORDER BY id;
-- a rolled back call does not raise the maximum
BEGIN;
SELECT * FROM sequenced_upsert('ord_table', '{"id": 7, "v": "g"}', 300);
ROLLBACK;
SELECT * FROM sequenced_upsert('ord_table', '{"id": 7, "v": "g"}', 250);
SELECT * FROM ord_table ORDER BY id;
SELECT sequenced_max_sequence('ord_table');
-- per_table with on_equal => 'replace': equal to max_sequence is still stale
CREATE TABLE ord_table_replace (id int PRIMARY KEY, v text);
SELECT sequenced_register('ord_table_replace', on_equal => 'replace', ordering => 'per_table');
SELECT * FROM sequenced_upsert('ord_table_replace', '[{"id": 1, "v": "a"}, {"id": 1, "v": "b"}]', 10);
SELECT * FROM sequenced_upsert('ord_table_replace', '[{"id": 1, "v": "c"}, {"id": 2, "v": "d"}]', 10);
SELECT * FROM ord_table_replace ORDER BY id;

--
-- composite keys
--
CREATE TABLE ord_comp (region text, id int, v text, PRIMARY KEY (region, id));
SELECT sequenced_register('ord_comp');
SELECT * FROM sequenced_upsert('ord_comp', '[
  {"sequence": 10, "data": {"region": "eu", "id": 1, "v": "eu1"}},
  {"sequence": 10, "data": {"region": "us", "id": 1, "v": "us1"}},
  {"sequence": 11, "data": {"id": 1, "region": "eu", "v": "eu1 v2"}},
  {"sequence": 9, "data": {"region": "eu", "id": 2, "v": "eu2"}}
]');
SELECT * FROM ord_comp ORDER BY region, id;
SELECT * FROM sequenced_upsert('ord_comp', '[
  {"sequence": 10, "data": {"region": "eu", "id": 1, "v": "stale"}},
  {"sequence": 12, "data": {"region": "us", "id": "1", "v": "us1 v2"}}
]');
SELECT * FROM sequenced_delete('ord_comp', '{"region": "eu", "id": 2}', 12);
SELECT * FROM ord_comp ORDER BY region, id;
SELECT * FROM sequenced_upsert('ord_comp', '{"region": "eu", "id": 2, "v": "late"}', 11);
SELECT * FROM ord_comp ORDER BY region, id;
-- a key needs all of its columns
SELECT * FROM sequenced_delete('ord_comp', '{"region": "eu"}', 13);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ord_comp ORDER BY region, id;

--
-- quoted, mixed-case table and column names
--
CREATE TABLE "Order Items" ("Tenant" text, "Line No" int, "Qty" int, qty text,
                            "select" text, PRIMARY KEY ("Tenant", "Line No"));
SELECT sequenced_register('"Order Items"');
SELECT * FROM sequenced_tables WHERE relid = '"Order Items"'::regclass;
SELECT * FROM sequenced_upsert('"Order Items"', '[
  {"sequence": 10, "data": {"Tenant": "Acme", "Line No": 1, "Qty": 5, "qty": "five", "select": "x"}},
  {"sequence": 10, "data": {"Tenant": "acme", "Line No": 1, "Qty": 6}},
  {"sequence": 11, "data": {"Tenant": "Acme", "Line No": 2, "Qty": 7}},
  {"sequence": 9, "data": {"Tenant": "Acme", "Line No": 2, "Qty": 0}}
]');
SELECT * FROM "Order Items" ORDER BY "Tenant", "Line No";
SELECT * FROM sequenced_upsert('"Order Items"', '{"Tenant": "Acme", "Line No": 1, "Qty": 8}', 12);
SELECT * FROM sequenced_delete('"Order Items"', '{"Tenant": "acme", "Line No": 1}', 12);
SELECT * FROM "Order Items" ORDER BY "Tenant", "Line No";
-- property names are matched exactly
SELECT * FROM sequenced_upsert('"Order Items"', '{"tenant": "Acme", "Line No": 3}', 13);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('"Order Items"', '{"Tenant": "Acme", "line no": 3, "Line No": 3}', 13);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM "Order Items" ORDER BY "Tenant", "Line No";
-- key_columns are exact column names too; a custom quoted sequence column
CREATE TABLE "Ord ""Quoted""" ("Key" int NOT NULL, "Val" text, "Seq No" bigint);
CREATE UNIQUE INDEX ON "Ord ""Quoted""" ("Key");
SELECT sequenced_register('"Ord ""Quoted"""', key_columns => '{Key}', sequence_column => 'Seq No');
SELECT * FROM sequenced_upsert('"Ord ""Quoted"""', '[{"Key": 1, "Val": "a"}, {"Key": 2, "Val": "b"}]', 5);
SELECT * FROM sequenced_upsert('"Ord ""Quoted"""', '{"Key": 1, "Val": "a2"}', 6);
SELECT * FROM sequenced_delete('"Ord ""Quoted"""', '{"Key": 2}', 6);
SELECT * FROM sequenced_upsert('"Ord ""Quoted"""', '{"Key": 2, "Val": "late"}', 4);
SELECT * FROM "Ord ""Quoted""" ORDER BY "Key";

--
-- max_sequence over many calls, each its own transaction: the log behind it
-- stays small (older rows are compacted), lower sequences do not lower it,
-- and per_table ordering reads it at every call
--
CREATE TABLE ord_maxlog (id int PRIMARY KEY, v text);
SELECT sequenced_register('ord_maxlog', ordering => 'per_table');
DO $$
BEGIN
  FOR i IN 1..100 LOOP
    PERFORM sequenced_upsert('ord_maxlog', jsonb_build_object('id', i % 7, 'v', 'r' || i), i * 10);
    COMMIT;
  END LOOP;
END $$;
SELECT sequenced_max_sequence('ord_maxlog');
SELECT count(*) BETWEEN 1 AND 40 AS log_compacted
  FROM _sequenced.max_log WHERE relid = 'ord_maxlog'::regclass;
SELECT max(seq) FROM _sequenced.max_log WHERE relid = 'ord_maxlog'::regclass;
-- at or below the maximum: stale under per_table; above: applied
SELECT * FROM sequenced_upsert('ord_maxlog', '[{"id": 1, "v": "low"}, {"id": 99, "v": "new low"}]', 1000);
SELECT * FROM sequenced_upsert('ord_maxlog', '{"id": 99, "v": "new"}', 1001);
SELECT sequenced_max_sequence('ord_maxlog');
-- a call that rolls back leaves the maximum as it was
BEGIN;
SELECT outcome FROM sequenced_upsert('ord_maxlog', '{"id": 98, "v": "gone"}', 5000);
SELECT sequenced_max_sequence('ord_maxlog');
ROLLBACK;
SELECT sequenced_max_sequence('ord_maxlog');
SELECT * FROM ord_maxlog ORDER BY id;

-- clean up
SELECT sequenced_unregister(t)
  FROM unnest(ARRAY['ord_keep', 'ord_replace', 'ord_error', 'ord_table', 'ord_table_replace', 'ord_comp',
                    '"Order Items"', '"Ord ""Quoted"""', 'ord_maxlog']::regclass[]) t;
DROP TABLE ord_keep, ord_replace, ord_error, ord_table, ord_table_replace, ord_comp, "Order Items", "Ord ""Quoted""", ord_maxlog;

-- append-only tables: never stale under per_key; per_table applies when
-- asked for
CREATE TABLE ord_app_key (v text);
CREATE TABLE ord_app_table (v text);
SELECT sequenced_register('ord_app_key', key_columns => '{}');
SELECT sequenced_register('ord_app_table', key_columns => '{}', ordering => 'per_table');
SELECT * FROM sequenced_upsert('ord_app_key', '{"v": "a"}', 10);
SELECT * FROM sequenced_upsert('ord_app_key', '[{"v": "b"}, {"v": "b"}]', 5);
SELECT * FROM sequenced_upsert('ord_app_table', '{"v": "a"}', 10);
SELECT * FROM sequenced_upsert('ord_app_table', '[{"v": "b"}, {"v": "b"}]', 5);
SELECT * FROM sequenced_upsert('ord_app_table', '{"v": "c"}', 11);
SELECT v, _sdc_sequence FROM ord_app_key ORDER BY v;
SELECT v, _sdc_sequence FROM ord_app_table ORDER BY v;
DROP TABLE ord_app_key, ord_app_table;

-- the max-sequence log stays short when every session makes one call: a
-- backend's first insert drops the older rows
CREATE TABLE ord_short (id int PRIMARY KEY);
SELECT sequenced_register('ord_short');
\c
SELECT outcome FROM sequenced_upsert('ord_short', '{"id": 1}', 1);
\c
SELECT outcome FROM sequenced_upsert('ord_short', '{"id": 2}', 2);
\c
SELECT outcome FROM sequenced_upsert('ord_short', '{"id": 3}', 3);
\c
SELECT outcome FROM sequenced_upsert('ord_short', '{"id": 4}', 4);
\c
SELECT outcome FROM sequenced_upsert('ord_short', '{"id": 5}', 5);
SELECT count(*) AS log_rows, max(seq) FROM _sequenced.max_log WHERE relid = 'ord_short'::regclass;
SELECT sequenced_max_sequence('ord_short');
DROP TABLE ord_short;
SELECT count(*) AS log_rows_left FROM _sequenced.max_log WHERE relid::oid NOT IN (SELECT oid FROM pg_class);
