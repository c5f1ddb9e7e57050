--
-- direct: upserts are written straight into the target's heap and indexes
-- when nothing else would run (no trigger, rule, row security, generated or
-- non-key identity column, deferrable index, partitioning, serializable
-- transaction; table-level privileges).  Either way the rows, outcomes and
-- errors must be those of the INSERT/UPDATE statements used otherwise: the
-- same table is loaded twice below, once each way, and compared.
--
CREATE TABLE dir_a (id int PRIMARY KEY, gone int, v text DEFAULT 'dflt',
                    n numeric CHECK (n IS NULL OR n >= 0), big text, u int UNIQUE);
ALTER TABLE dir_a DROP COLUMN gone;				-- a dropped column in the middle
CREATE TABLE dir_b (LIKE dir_a INCLUDING ALL);
-- a statement trigger that does nothing: dir_b takes the statements
CREATE FUNCTION dir_noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER dir_noop AFTER INSERT OR UPDATE ON dir_b FOR EACH STATEMENT EXECUTE FUNCTION dir_noop();
SELECT sequenced_register('dir_a'), sequenced_register('dir_b');

CREATE FUNCTION dir_both(data jsonb, s bigint) RETURNS TABLE (t text, ord int, key jsonb, outcome text)
LANGUAGE sql AS $$
  SELECT 'a', ord, key, outcome FROM sequenced_upsert('dir_a', data, s)
  UNION ALL
  SELECT 'b', ord, key, outcome FROM sequenced_upsert('dir_b', data, s)
$$;
CREATE FUNCTION dir_same() RETURNS boolean LANGUAGE sql AS $$
  SELECT (SELECT array_agg(a ORDER BY id)::text FROM dir_a a) = (SELECT array_agg(b ORDER BY id)::text FROM dir_b b)
$$;

-- new keys, omitted columns take their DEFAULT; a TOASTed value
SELECT t, ord, key, outcome FROM dir_both(jsonb_build_array(
  jsonb_build_object('id', 1, 'n', 1.5),
  jsonb_build_object('id', 2, 'v', 'two', 'big', repeat('x', 100000), 'u', 2),
  jsonb_build_object('id', 3, 'v', null)), 10) ORDER BY ord, t;
-- updates, stale, a new key; an update that omits v sets it back to its DEFAULT
SELECT t, ord, key, outcome FROM dir_both(jsonb_build_array(
  jsonb_build_object('id', 1, 'v', 'one'),
  jsonb_build_object('id', 2, 'big', repeat('y', 200000), 'u', 22),
  jsonb_build_object('id', 4, 'u', 4)), 20) ORDER BY ord, t;
SELECT t, ord, key, outcome FROM dir_both(jsonb_build_array(
  jsonb_build_object('id', 1, 'v', 'older'), jsonb_build_object('id', 3, 'v', 'three')), 15) ORDER BY ord, t;
SELECT dir_same() AS same, (SELECT count(*) FROM dir_a) AS rows;
SELECT id, v, n, length(big), u, _sdc_sequence FROM dir_a ORDER BY id;

-- a row written around the functions with a newer sequence stays (stale);
-- one with an older sequence is replaced; a row inserted around them for a
-- key the functions never saw is found, not inserted twice
UPDATE dir_a SET v = 'outside', _sdc_sequence = 99 WHERE id = 1;
UPDATE dir_b SET v = 'outside', _sdc_sequence = 99 WHERE id = 1;
UPDATE dir_a SET v = 'outside', _sdc_sequence = 11 WHERE id = 3;
UPDATE dir_b SET v = 'outside', _sdc_sequence = 11 WHERE id = 3;
INSERT INTO dir_a (id, v, _sdc_sequence) VALUES (5, 'outside', 50), (6, 'outside', 5);
INSERT INTO dir_b (id, v, _sdc_sequence) VALUES (5, 'outside', 50), (6, 'outside', 5);
SELECT t, ord, key, outcome FROM dir_both(jsonb_build_array(
  jsonb_build_object('id', 1, 'v', 'fn'), jsonb_build_object('id', 3, 'v', 'fn'),
  jsonb_build_object('id', 5, 'v', 'fn'), jsonb_build_object('id', 6, 'v', 'fn')), 30) ORDER BY ord, t;
SELECT dir_same() AS same;
SELECT id, v, _sdc_sequence FROM dir_a ORDER BY id;

-- errors name the record, and nothing of the call stays: a CHECK, a unique
-- index other than the key (against a stored row, and within the call)
SELECT t, ord, key, outcome FROM dir_both(jsonb_build_array(
  jsonb_build_object('id', 7), jsonb_build_object('id', 2, 'n', -1)), 40) ORDER BY ord, t;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('dir_a', '[{"id": 8, "u": 4}]', 40);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('dir_a', '[{"id": 9}, {"id": 4, "u": 22}]', 40);
\echo :LAST_ERROR_SQLSTATE
SELECT dir_same() AS same, (SELECT count(*) FROM dir_a WHERE id >= 7) AS none_of_it;

-- the key is kept as stored: equal is not identical (numeric scale)
CREATE TABLE dir_num (id numeric PRIMARY KEY, v text);
SELECT sequenced_register('dir_num');
SELECT * FROM sequenced_upsert('dir_num', '{"id": 1.50, "v": "a"}', 1);
SELECT * FROM sequenced_upsert('dir_num', '{"id": 1.5, "v": "b"}', 2);
SELECT id::text, v FROM dir_num;

-- a published table without replica identity refuses updates, as UPDATE does
CREATE TABLE dir_pub (id int NOT NULL, v text);
CREATE UNIQUE INDEX ON dir_pub (id);
ALTER TABLE dir_pub REPLICA IDENTITY NOTHING;
SELECT sequenced_register('dir_pub', key_columns => '{id}');
SET client_min_messages = error;
CREATE PUBLICATION dir_pub_p FOR TABLE dir_pub;
RESET client_min_messages;
SELECT * FROM sequenced_upsert('dir_pub', '{"id": 1, "v": "a"}', 1);
SELECT * FROM sequenced_upsert('dir_pub', '{"id": 1, "v": "b"}', 2);
\echo :LAST_ERROR_SQLSTATE
DROP PUBLICATION dir_pub_p;

-- a BEFORE UPDATE row trigger runs (the statements are used)
CREATE TABLE dir_trg (id int PRIMARY KEY, v text);
CREATE FUNCTION dir_upper() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.v := upper(NEW.v); RETURN NEW; END$$;
CREATE TRIGGER dir_upper BEFORE INSERT OR UPDATE ON dir_trg FOR EACH ROW EXECUTE FUNCTION dir_upper();
SELECT sequenced_register('dir_trg');
SELECT outcome FROM sequenced_upsert('dir_trg', '{"id": 1, "v": "a"}', 1);
SELECT outcome FROM sequenced_upsert('dir_trg', '{"id": 1, "v": "b"}', 2);
SELECT * FROM dir_trg;

-- a deferrable unique index is checked at commit (the statements are used):
-- values may swap inside one call; a real duplicate fails at COMMIT
CREATE TABLE dir_def (id int PRIMARY KEY, u int UNIQUE DEFERRABLE INITIALLY DEFERRED);
SELECT sequenced_register('dir_def');
SELECT outcome FROM sequenced_upsert('dir_def', '[{"id": 1, "u": 1}, {"id": 2, "u": 2}]', 1);
SELECT outcome FROM sequenced_upsert('dir_def', '[{"id": 1, "u": 2}, {"id": 2, "u": 1}]', 2);
SELECT * FROM dir_def ORDER BY id;
BEGIN;
SELECT outcome FROM sequenced_upsert('dir_def', '[{"id": 3, "u": 1}]', 3);
COMMIT;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dir_def ORDER BY id;

-- values are converted under the caller's search_path, on a cold cache (the
-- first call after registration reads it with a statement) as on a warm one
CREATE SCHEMA dir_s;
CREATE TABLE dir_s.thing (x int);
CREATE TABLE dir_reg (id int PRIMARY KEY, r regclass);
SELECT sequenced_register('dir_reg');
SET search_path = dir_s, public;
SELECT outcome FROM sequenced_upsert('dir_reg', '{"id": 1, "r": "thing"}', 1);
SELECT outcome FROM sequenced_upsert('dir_reg', '{"id": 2, "r": "thing"}', 1);
RESET search_path;
SELECT id, r FROM dir_reg ORDER BY id;

-- the changes feed sees direct writes like any others.  Rows whose sequence
-- was changed around the functions (keys 1 and 5) are not in it: the feed
-- holds what pg_sequenced applied, and shows an entry only while the row
-- still holds the sequence it wrote.  The next change applied to such a key
-- puts it back.
SELECT key, seq, deleted FROM sequenced_changes('dir_a') ORDER BY pos;
SELECT outcome FROM sequenced_upsert('dir_a', '[{"id": 1, "v": "back"}, {"id": 5, "v": "back"}]', 100);
SELECT key, seq, deleted FROM sequenced_changes('dir_a') ORDER BY pos;

SELECT sequenced_unregister(t)
  FROM unnest(ARRAY['dir_a', 'dir_b', 'dir_num', 'dir_pub', 'dir_trg', 'dir_def', 'dir_reg']::regclass[]) t;
DROP TABLE dir_a, dir_b, dir_num, dir_pub, dir_trg, dir_def, dir_reg;
DROP SCHEMA dir_s CASCADE;
DROP FUNCTION dir_both(jsonb, bigint), dir_same(), dir_noop(), dir_upper();
