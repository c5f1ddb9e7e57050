--
-- lenient records (issue 23, item 5): unknown_properties => 'error' |
-- 'ignore' | 'column' and omitted => 'default' | 'keep', on every apply
-- path: sequenced_upsert (both forms), the staging trigger (statement and
-- row level), sequenced_import; the direct path (a plain table) and the
-- statement path (a table with a trigger, a partitioned table).
--
CREATE TABLE len_plain (id int PRIMARY KEY, a text, b text DEFAULT 'b-default', n int);
CREATE TABLE len_trig (LIKE len_plain INCLUDING ALL);
CREATE FUNCTION len_noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER noop AFTER INSERT OR UPDATE ON len_trig FOR EACH STATEMENT EXECUTE FUNCTION len_noop();
CREATE TABLE len_part (id int PRIMARY KEY, a text, b text DEFAULT 'b-default', n int) PARTITION BY RANGE (id);
CREATE TABLE len_part_1 PARTITION OF len_part FOR VALUES FROM (0) TO (100);
CREATE FUNCTION len_all(data jsonb, s bigint) RETURNS TABLE (t text, ord int, outcome text)
LANGUAGE sql AS $$
  SELECT 'plain', ord, outcome FROM sequenced_upsert('len_plain', data, s)
  UNION ALL SELECT 'trig', ord, outcome FROM sequenced_upsert('len_trig', data, s)
  UNION ALL SELECT 'part', ord, outcome FROM sequenced_upsert('len_part', data, s)
$$;

-- the default: an unknown property is 42703, an omitted column takes its DEFAULT
SELECT sequenced_register(t) FROM unnest('{len_plain,len_trig,len_part}'::regclass[]) t;
CREATE FUNCTION len_rows() RETURNS TABLE (t text, id int, a text, b text, n int, seq bigint, extra jsonb)
LANGUAGE sql AS $$
  SELECT 'plain', id, a, b, n, _sdc_sequence, to_jsonb(x) -> '_sdc_extra' FROM len_plain x
  UNION ALL SELECT 'trig', id, a, b, n, _sdc_sequence, to_jsonb(x) -> '_sdc_extra' FROM len_trig x
  UNION ALL SELECT 'part', id, a, b, n, _sdc_sequence, to_jsonb(x) -> '_sdc_extra' FROM len_part x
  ORDER BY 2, 1
$$;
SELECT * FROM len_all('{"id": 1, "a": "one", "zzz": 1}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM len_all('{"id": 1, "a": "one", "b": "bee", "n": 1}', 1) ORDER BY ord, t;
SELECT * FROM len_all('{"id": 1, "n": 2}', 2) ORDER BY ord, t;
SELECT * FROM len_rows();

-- 'ignore': unknown properties are dropped
SELECT sequenced_register(t, unknown_properties => 'ignore') FROM unnest('{len_plain,len_trig,len_part}'::regclass[]) t;
SELECT * FROM len_all('{"id": 2, "a": "two", "zzz": 1, "nested": {"x": [1]}}', 1) ORDER BY ord, t;
SELECT * FROM len_rows() WHERE id = 2;
SELECT relid, unknown_properties, omitted FROM sequenced_table_options
 WHERE relid::text LIKE 'len\_%' ORDER BY relid::text;

-- 'column': they go into _sdc_extra (added by registration), one object per
-- record; a record without any leaves _sdc_extra as an omitted column
SELECT sequenced_register(t, unknown_properties => 'column') FROM unnest('{len_plain,len_trig,len_part}'::regclass[]) t;
SELECT column_name, data_type FROM information_schema.columns
 WHERE table_name = 'len_plain' AND column_name = '_sdc_extra';
SELECT * FROM len_all('{"id": 3, "a": "three", "zzz": 1, "nested": {"x": [1]}, "nul": null}', 1) ORDER BY ord, t;
SELECT * FROM len_rows() WHERE id = 3;
-- _sdc_extra itself cannot be set from data
SELECT * FROM sequenced_upsert('len_plain', '{"id": 3, "_sdc_extra": {}}', 2);
\echo :LAST_ERROR_SQLSTATE

-- omitted => 'keep': an update changes only the columns a record names; an
-- insert still gives omitted columns their DEFAULT; the sequence decides
SELECT sequenced_register(t, unknown_properties => 'column', omitted => 'keep')
  FROM unnest('{len_plain,len_trig,len_part}'::regclass[]) t;
SELECT * FROM len_all('[{"id": 3, "n": 30}, {"id": 4, "a": "four"}]', 5) ORDER BY ord, t;
SELECT * FROM len_rows() WHERE id IN (3, 4);
-- the messages form in one call, and a stale patch
SELECT t, ord, outcome FROM (
  SELECT 'plain' AS t, * FROM sequenced_upsert('len_plain', '[
    {"sequence": 6, "data": {"id": 4, "b": "bee four"}},
    {"sequence": 4, "data": {"id": 3, "a": "too late"}}]')
  UNION ALL SELECT 'part', * FROM sequenced_upsert('len_part', '[
    {"sequence": 6, "data": {"id": 4, "b": "bee four"}},
    {"sequence": 4, "data": {"id": 3, "a": "too late"}}]')) x ORDER BY ord, t;
SELECT * FROM len_rows() WHERE id IN (3, 4) AND t <> 'trig';
-- explicit null is a value, not an omission
SELECT * FROM len_all('{"id": 4, "a": null}', 7) ORDER BY ord, t;
SELECT * FROM len_rows() WHERE id = 4;

-- with unchanged => 'skip': a patch that names only stored values is unchanged
SELECT sequenced_register(t, unknown_properties => 'column', omitted => 'keep', unchanged => 'skip')
  FROM unnest('{len_plain,len_trig,len_part}'::regclass[]) t;
SELECT * FROM len_all('{"id": 4, "n": null}', 8) ORDER BY ord, t;
SELECT * FROM len_all('{"id": 4, "n": 44}', 9) ORDER BY ord, t;

-- staging: columns the target lacks are unknown properties; a staging table
-- without some target columns omits them
CREATE TABLE len_stg (id int, n int, color text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON len_stg REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('len_plain');
INSERT INTO len_stg VALUES (4, 400, 'red', 10), (5, 5, NULL, 10);
SELECT * FROM len_rows() WHERE id IN (4, 5) AND t = 'plain';
CREATE TABLE len_stg_row (id int, a text, shoe int, _sdc_sequence bigint);
CREATE TRIGGER apply BEFORE INSERT ON len_stg_row
  FOR EACH ROW EXECUTE FUNCTION sequenced_apply_staging('len_trig');
INSERT INTO len_stg_row VALUES (4, 'row level', 42, 11);
SELECT * FROM len_rows() WHERE id = 4 AND t = 'trig';
SELECT sequenced_register('len_plain', unknown_properties => 'ignore', omitted => 'keep');
INSERT INTO len_stg VALUES (5, 55, 'blue', 12);
SELECT * FROM len_rows() WHERE id = 5 AND t = 'plain';
SELECT sequenced_register('len_plain');
INSERT INTO len_stg VALUES (5, 56, 'green', 13);
\echo :LAST_ERROR_SQLSTATE

-- bad option values
SELECT sequenced_register('len_plain', unknown_properties => 'drop');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_register('len_plain', omitted => 'patch');
\echo :LAST_ERROR_SQLSTATE

SELECT sequenced_unregister(t) FROM unnest('{len_plain,len_trig,len_part}'::regclass[]) t;
DROP TABLE len_plain, len_trig, len_part, len_stg, len_stg_row;
DROP FUNCTION len_all(jsonb, bigint), len_rows(), len_noop();
