--
-- types: how JSON values become column values (SPEC section 2, "Records to
-- columns")
--
SET TimeZone = 'America/New_York';
SET DateStyle = 'ISO, YMD';
SET extra_float_digits = 0;
CREATE DOMAIN typ_posint AS int CHECK (VALUE > 0);
CREATE TYPE typ_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE typ_t (
    id   int PRIMARY KEY,
    ts   timestamptz,
    num  numeric,
    big  bigint,
    jb   jsonb,
    js   json,
    tx   text,
    ta   text[],
    ia   int[],
    b    boolean,
    vc   varchar(3),
    d    typ_posint,
    m    typ_mood,
    u    uuid,
    dt   date,
    f8   float8
);
SELECT sequenced_register('typ_t');

-- timestamptz: parsed with the offset it carries, shown in the session's zone;
-- without an offset, it is the session's zone
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 1, "ts": "2024-01-02T03:04:05.123456+02:00"}, {"id": 2, "ts": "2024-07-01 12:00:00Z"}, {"id": 3, "ts": "2024-07-01 12:00:00"}]', 1);
SELECT id, ts, ts AT TIME ZONE 'UTC' AS utc FROM typ_t WHERE id <= 3 ORDER BY id;

-- numeric: exact, whether sent as a JSON number or a string, any precision
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 4, "num": 12345678901234567890.123456789012345678901234567890}, {"id": 5, "num": "98765432109876543210.000000000000000000000000000001"}, {"id": 6, "num": 0.1}, {"id": 7, "num": 1e-20}, {"id": 8, "num": "NaN"}, {"id": 9, "num": -0.50}]', 1);
SELECT id, num FROM typ_t WHERE id BETWEEN 4 AND 9 ORDER BY id;
SELECT num = 12345678901234567890.123456789012345678901234567890 AS exact FROM typ_t WHERE id = 4;

-- bigint beyond 2^53 (not rounded through a double), and the bigint limits
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 10, "big": 9007199254740993}, {"id": 11, "big": "9007199254740995"}, {"id": 12, "big": 9223372036854775807}, {"id": 13, "big": -9223372036854775808}]', 1);
SELECT id, big FROM typ_t WHERE id BETWEEN 10 AND 13 ORDER BY id;
SELECT big = 9007199254740993 AS exact FROM typ_t WHERE id = 10;
-- float8 from a JSON number
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 14, "f8": 1.5}, {"id": 15, "f8": -2.5e10}, {"id": 16, "f8": "Infinity"}]', 1);
SELECT id, f8 FROM typ_t WHERE id BETWEEN 14 AND 16 ORDER BY id;

-- jsonb and json columns take any JSON value as that JSON value:
-- object, array, string, number, boolean; JSON null is SQL NULL
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 20, "jb": {"a": [1, {"b": null}]}, "js": {"a": [1, {"b": null}]}}, {"id": 21, "jb": [1, "x", null], "js": [1, "x", null]}, {"id": 22, "jb": "str", "js": "str"}, {"id": 23, "jb": 42.50, "js": 42.50}, {"id": 24, "jb": true, "js": false}, {"id": 25, "jb": null, "js": null}, {"id": 26, "jb": "{\"a\": 1}", "js": "[1]"}]', 1);
SELECT id, jb, jsonb_typeof(jb) AS jb_type, jb IS NULL AS jb_sql_null,
       js::text AS js, json_typeof(js) AS js_type, js IS NULL AS js_sql_null
  FROM typ_t WHERE id BETWEEN 20 AND 26 ORDER BY id;

-- text: a string as is; a number or boolean as its JSON text; an object or
-- an array becomes its JSON text; null is SQL NULL
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 30, "tx": "plain \"quoted\" é"}, {"id": 31, "tx": 42.50}, {"id": 32, "tx": true}, {"id": 33, "tx": {"a": 1, "b": [1, 2]}}, {"id": 34, "tx": [1, "two", null]}, {"id": 35, "tx": null}, {"id": 36, "tx": ""}]', 1);
SELECT id, tx, tx IS NULL AS sql_null FROM typ_t WHERE id BETWEEN 30 AND 36 ORDER BY id;
SELECT tx::jsonb = '{"a": 1, "b": [1, 2]}'::jsonb AS object_text_is_json FROM typ_t WHERE id = 33;

-- arrays: a JSON array element by element, with null elements; strings with
-- commas, quotes, braces or the word NULL stay one element each, as they are
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 40, "ta": ["a", null, "c d", "e,f", "{g}", "h\"i", "NULL", ""], "ia": [1, null, 3]}, {"id": 41, "ta": [], "ia": []}, {"id": 42, "ta": null, "ia": null}, {"id": 43, "ia": ["7", 8]}]', 1);
SELECT id, ta, cardinality(ta) AS ta_len, ta[2] IS NULL AS ta2_null, ta[7] AS ta7, ta[7] IS NULL AS ta7_null,
       ia, cardinality(ia) AS ia_len, ia[2] IS NULL AS ia2_null
  FROM typ_t WHERE id BETWEEN 40 AND 43 ORDER BY id;
-- an array element the element type rejects: that type's error
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 44}, {"id": 45}, {"id": 46, "ia": [1, "x"]}]', 1);
\echo :LAST_ERROR_SQLSTATE

-- boolean from JSON true/false (and the type's own text forms)
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 50, "b": true}, {"id": 51, "b": false}, {"id": 52, "b": null}, {"id": 53, "b": "yes"}]', 1);
SELECT id, b, b IS NULL AS sql_null FROM typ_t WHERE id BETWEEN 50 AND 53 ORDER BY id;
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 54}, {"id": 55}, {"id": 56, "b": "maybe"}]', 1);
\echo :LAST_ERROR_SQLSTATE

-- varchar(n): fits, and too long is the type's error (22001)
SELECT * FROM sequenced_upsert('typ_t', '{"id": 60, "vc": "abc"}', 1);
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 61}, {"id": 62}, {"id": 63, "vc": "abcd"}]', 1);
\echo :LAST_ERROR_SQLSTATE
-- a domain with a CHECK: the domain's error (23514)
SELECT * FROM sequenced_upsert('typ_t', '{"id": 64, "d": 5}', 1);
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 61}, {"id": 62}, {"id": 63, "d": 0}]', 1);
\echo :LAST_ERROR_SQLSTATE
-- enum
SELECT * FROM sequenced_upsert('typ_t', '{"id": 65, "m": "happy"}', 1);
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 61}, {"id": 62}, {"id": 63, "m": "angry"}]', 1);
\echo :LAST_ERROR_SQLSTATE
-- uuid
SELECT * FROM sequenced_upsert('typ_t', '{"id": 66, "u": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"}', 1);
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 61}, {"id": 62}, {"id": 63, "u": "not-a-uuid"}]', 1);
\echo :LAST_ERROR_SQLSTATE
-- date
SELECT * FROM sequenced_upsert('typ_t', '{"id": 67, "dt": "2024-02-29"}', 1);
SELECT * FROM sequenced_upsert('typ_t', '[{"id": 61}, {"id": 62}, {"id": 63, "dt": "2023-02-29"}]', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT id, vc, d, m, u, dt FROM typ_t WHERE id BETWEEN 60 AND 67 ORDER BY id;
-- none of the failing calls left anything behind
SELECT count(*) FILTER (WHERE id IN (44, 45, 46, 54, 55, 56, 61, 62, 63)) AS leftovers,
       count(*) AS total, sequenced_max_sequence('typ_t') AS max_sequence
  FROM typ_t;

-- JSON null is SQL NULL for every type
SELECT * FROM sequenced_upsert('typ_t', '{"id": 70, "ts": null, "num": null, "big": null, "jb": null, "js": null, "tx": null, "ta": null, "ia": null, "b": null, "vc": null, "d": null, "m": null, "u": null, "dt": null, "f8": null}', 1);
SELECT num_nulls(ts, num, big, jb, js, tx, ta, ia, b, vc, d, m, u, dt, f8) AS nulls FROM typ_t WHERE id = 70;

--
-- columns a message omits take their DEFAULT, on insert and on update;
-- identity columns get their value on insert and keep it
--
CREATE SEQUENCE typ_seq START 1000;
CREATE TABLE typ_def (
    id      int PRIMARY KEY,
    v       text,
    dflt    text DEFAULT 'dflt',
    nn      text NOT NULL DEFAULT 'nn-dflt',
    nextval bigint DEFAULT nextval('typ_seq'),
    stamp   timestamptz DEFAULT clock_timestamp(),
    plain   text,
    idn     int GENERATED BY DEFAULT AS IDENTITY (START WITH 100),
    ida     int GENERATED ALWAYS AS IDENTITY (START WITH 500),
    gen     text GENERATED ALWAYS AS (v || '!') STORED
);
SELECT sequenced_register('typ_def');
SELECT * FROM sequenced_upsert('typ_def', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b", "dflt": "given", "nn": "given", "plain": "given"}]', 1);
SELECT id, v, dflt, nn, nextval >= 1000 AS nextval_set, stamp IS NOT NULL AS stamp_set, plain,
       idn IN (100, 101) AS idn_set, ida IN (500, 501) AS ida_set, gen
  FROM typ_def ORDER BY id;
CREATE TEMP TABLE typ_before AS SELECT id, nextval, stamp, idn, ida FROM typ_def;
-- an update with columns omitted: they go back to their DEFAULT (volatile
-- defaults are evaluated again), identity columns keep their values
SELECT * FROM sequenced_upsert('typ_def', '[{"id": 1, "v": "a2"}, {"id": 2, "v": "b2"}]', 2);
SELECT id, v, dflt, nn, nextval >= 1000 AS nextval_set, stamp IS NOT NULL AS stamp_set, plain, gen FROM typ_def ORDER BY id;
SELECT d.id, d.nextval > b.nextval AS nextval_evaluated_again, d.stamp > b.stamp AS stamp_evaluated_again,
       d.idn = b.idn AS idn_kept, d.ida = b.ida AS ida_kept
  FROM typ_def d JOIN typ_before b USING (id) ORDER BY d.id;
-- a JSON null is NULL, not the default
SELECT * FROM sequenced_upsert('typ_def', '{"id": 1, "v": "a3", "dflt": null}', 3);
SELECT d.id, d.v, d.dflt, d.dflt IS NULL AS sql_null, d.idn = b.idn AS idn_kept, d.ida = b.ida AS ida_kept
  FROM typ_def d JOIN typ_before b USING (id) WHERE id = 1;
-- ... and null into a NOT NULL column is 23502, even with a default
SELECT * FROM sequenced_upsert('typ_def', '[{"id": 1, "v": "a4"}, {"id": 3}, {"id": 4, "nn": null}]', 4);
\echo :LAST_ERROR_SQLSTATE
-- a new key gets the next identity values
SELECT * FROM sequenced_upsert('typ_def', '{"id": 3, "v": "c"}', 4);
SELECT id, v, dflt, nn, plain, gen, idn > 101 AS idn_next, ida > 501 AS ida_next FROM typ_def WHERE id = 3;

-- a key column that is a BY DEFAULT identity is set from data
CREATE TABLE typ_idkey (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v text);
SELECT sequenced_register('typ_idkey');
SELECT * FROM sequenced_upsert('typ_idkey', '[{"id": 42, "v": "a"}, {"id": "43", "v": "b"}]', 1);
SELECT * FROM sequenced_upsert('typ_idkey', '{"id": 42, "v": "a2"}', 2);
SELECT id, v FROM typ_idkey ORDER BY id;

-- a NOT NULL column without a default, omitted: 23502, names the column
CREATE TABLE typ_req (id int PRIMARY KEY, req text NOT NULL, opt text);
SELECT sequenced_register('typ_req');
SELECT * FROM sequenced_upsert('typ_req', '[{"id": 1, "req": "a"}, {"id": 2, "req": "b"}, {"id": 3, "opt": "no req"}]', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_req', '[{"id": 1, "req": "a"}, {"id": 2, "req": "b"}]', 1);
-- also on update: the message is the whole record
SELECT * FROM sequenced_upsert('typ_req', '[{"id": 1, "req": "a2"}, {"id": 3, "req": "c"}, {"id": 2, "opt": "no req"}]', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT id, req, opt, _sdc_sequence, sequenced_max_sequence('typ_req') FROM typ_req ORDER BY id;

--
-- the key in the output is the key as stored, converted to the column types
--
CREATE TABLE typ_key (id int, code text, day date, amount numeric, v text, PRIMARY KEY (id, code, day, amount));
SELECT sequenced_register('typ_key');
SELECT * FROM sequenced_upsert('typ_key', '[{"id": "2", "code": 7, "day": "2024-03-01", "amount": "1.50"}, {"id": 2, "code": "7", "day": "2024-03-01", "amount": 1.50}]', 1);
SELECT * FROM sequenced_delete('typ_key', '{"id": " 2", "code": "7", "day": "2024-03-01", "amount": "1.50"}', 2);
CREATE TABLE typ_key1 (id int PRIMARY KEY, v text);
SELECT sequenced_register('typ_key1');
SELECT * FROM sequenced_upsert('typ_key1', '{"id": "2", "v": "x"}', 1);
SELECT * FROM sequenced_upsert('typ_key1', '[{"id": 2, "v": "y"}, {"id": "002", "v": "z"}]', 2);
SELECT * FROM sequenced_upsert('typ_key1', '[{"sequence": 3, "data": {"id": "2"}}, {"action": "delete", "sequence": 4, "data": {"id": "2"}}]');
SELECT * FROM sequenced_delete('typ_key1', '{"id": "2"}', 5);
SELECT count(*) FROM typ_key1;

--
-- property names are column names, matched exactly (case-sensitive)
--
CREATE TABLE typ_case (id int PRIMARY KEY, name text, "Name" text, "UPPER" text);
SELECT sequenced_register('typ_case');
SELECT * FROM sequenced_upsert('typ_case', '{"id": 1, "name": "lower", "Name": "mixed", "UPPER": "upper"}', 1);
SELECT id, name, "Name", "UPPER" FROM typ_case;
CREATE TABLE typ_case2 (id int PRIMARY KEY, name text);
SELECT sequenced_register('typ_case2');
SELECT * FROM sequenced_upsert('typ_case2', '[{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "Name": "c"}]', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_case2', '{"id": 1, "NAME": "a"}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_case2', '{"id": 1, "name ": "trailing blank"}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_case2', '{"ID": 1}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM typ_case2;


-- nested JSON arrays fill multidimensional array columns; ragged ones are
-- the array type's own error (22P02), naming the record and column
CREATE TABLE typ_md (id int PRIMARY KEY, a int[], t text[]);
SELECT sequenced_register('typ_md');
SELECT * FROM sequenced_upsert('typ_md', '{"id": 1, "a": [[1, 2], [3, null]], "t": [["a b", "q\"x"], ["c", "d"]]}', 1);
SELECT id, a, t, array_dims(a) FROM typ_md;
SELECT * FROM sequenced_upsert('typ_md', '{"id": 2, "a": [[1, 2], [3]]}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_unregister('typ_md');
DROP TABLE typ_md;

-- integer columns and sequences: JSON numbers are read without printing
-- them, but must give exactly what the type's input function gives for
-- their text: 1e3 is 1000, 1.0 is refused by integer columns (accepted as
-- a sequence), and range errors are the types' own
CREATE TABLE typ_ints (id bigint PRIMARY KEY, i2 smallint, i4 int, i8 bigint, d typ_posint);
SELECT sequenced_register('typ_ints');
SELECT * FROM sequenced_upsert('typ_ints', '[
  {"sequence": 1e2, "data": {"id": 1, "i2": -32768, "i4": -2147483648, "i8": -9223372036854775808, "d": 1e1}},
  {"sequence": 5.000, "data": {"id": 2, "i2": 32767, "i4": 2147483647, "i8": 9223372036854775807, "d": 7}},
  {"sequence": 3000000000, "data": {"id": 9223372036854775807, "i2": -0, "i4": 1E3, "i8": 3000000000}},
  {"sequence": -3000000000, "data": {"id": -9223372036854775808, "i4": "42", "i8": "-7"}}]');
SELECT * FROM typ_ints ORDER BY id;
SELECT * FROM sequenced_upsert('typ_ints', '{"id": 3, "i4": 1.0}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_ints', '{"id": 3, "i4": 2147483648}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_ints', '{"id": 3, "i2": 32768}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_ints', '{"id": 3, "i2": 1.5}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_ints', '{"id": 3, "i8": 9223372036854775808}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_ints', '{"id": 3, "i8": -9223372036854775809}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_ints', '{"id": 3, "i8": 2.50}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_ints', '{"id": 3, "d": 0}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_ints', '{"id": 9223372036854775808}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_ints', '[{"sequence": 1.5, "data": {"id": 3}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_ints', '[{"sequence": -9223372036854775809, "data": {"id": 3}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('typ_ints', '[{"sequence": 1e30, "data": {"id": 3}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM typ_ints;
DROP TABLE typ_ints;

DROP TABLE typ_t, typ_def, typ_idkey, typ_req, typ_key, typ_key1, typ_case, typ_case2;
DROP SEQUENCE typ_seq;
DROP DOMAIN typ_posint;
DROP TYPE typ_mood;

-- The output key of a one-column key is built in jsonb's binary form
-- directly: it must be the very jsonb PostgreSQL builds (same value, same
-- size, same text), for every scalar kind and every padding before a number
-- (key names of 1 to 4 bytes, and multibyte ones).
CREATE TABLE typ_k1 (i int PRIMARY KEY);
CREATE TABLE typ_k2 (ab bigint PRIMARY KEY);
CREATE TABLE typ_k3 (abc numeric PRIMARY KEY);
CREATE TABLE typ_k4 (abcd smallint PRIMARY KEY);
CREATE TABLE typ_k5 ("ключ" text PRIMARY KEY);
CREATE TABLE typ_k6 (flag boolean PRIMARY KEY);
CREATE TABLE typ_k7 (vc varchar(30) PRIMARY KEY);
SELECT sequenced_register(t) FROM unnest('{typ_k1,typ_k2,typ_k3,typ_k4,typ_k5,typ_k6,typ_k7}'::regclass[]) t;
CREATE TABLE typ_kout AS
SELECT 'typ_k1' AS t, ord, key FROM sequenced_upsert('typ_k1', '[{"i": 1}, {"i": -2147483648}, {"i": 2147483647}, {"i": 0}, {"i": "123456"}]', 1)
UNION ALL SELECT 'typ_k2', ord, key FROM sequenced_upsert('typ_k2', '[{"ab": 9223372036854775807}, {"ab": -9223372036854775808}, {"ab": 10000}]', 1)
UNION ALL SELECT 'typ_k3', ord, key FROM sequenced_upsert('typ_k3', '[{"abc": 1.50}, {"abc": -0.000001}, {"abc": 1e30}, {"abc": "12.3400"}]', 1)
UNION ALL SELECT 'typ_k4', ord, key FROM sequenced_upsert('typ_k4', '[{"abcd": -32768}, {"abcd": 7}]', 1)
UNION ALL SELECT 'typ_k5', ord, key FROM sequenced_upsert('typ_k5', '[{"ключ": "значение"}, {"ключ": ""}, {"ключ": "a \"q\" \\ b"}]', 1)
UNION ALL SELECT 'typ_k6', ord, key FROM sequenced_upsert('typ_k6', '[{"flag": true}, {"flag": false}]', 1)
UNION ALL SELECT 'typ_k7', ord, key FROM sequenced_upsert('typ_k7', '[{"vc": "xyz"}]', 1);
WITH ref AS (
    SELECT 'typ_k1' AS t, jsonb_build_object('i', i) AS j FROM typ_k1
    UNION ALL SELECT 'typ_k2', jsonb_build_object('ab', ab) FROM typ_k2
    UNION ALL SELECT 'typ_k3', jsonb_build_object('abc', abc) FROM typ_k3
    UNION ALL SELECT 'typ_k4', jsonb_build_object('abcd', abcd) FROM typ_k4
    UNION ALL SELECT 'typ_k5', jsonb_build_object('ключ', "ключ") FROM typ_k5
    UNION ALL SELECT 'typ_k6', jsonb_build_object('flag', flag) FROM typ_k6
    UNION ALL SELECT 'typ_k7', jsonb_build_object('vc', vc) FROM typ_k7)
SELECT o.t, o.ord, o.key, r.j IS NOT NULL AS found,
       pg_column_size(o.key) = pg_column_size(r.j) AS same_size,
       o.key::text = r.j::text AS same_text,
       jsonb_typeof(o.key -> (SELECT k FROM jsonb_object_keys(o.key) k)) AS value_type,
       o.key || '{"z": 1}' AS concatenated
  FROM typ_kout o LEFT JOIN ref r ON r.t = o.t AND r.j = o.key
 ORDER BY o.t, o.ord;
DROP TABLE typ_kout, typ_k1, typ_k2, typ_k3, typ_k4, typ_k5, typ_k6, typ_k7;

-- jsonb[] and json[] columns: each element is a JSON value, strings
-- included (not the text of a JSON document to parse), in one dimension
-- and in two (a nested JSON array is a dimension, as for any array column)
CREATE TABLE typ_jarr (id int PRIMARY KEY, ja jsonb[], js json[]);
SELECT sequenced_register('typ_jarr');
SELECT * FROM sequenced_upsert('typ_jarr', '[
  {"id": 1, "ja": ["123", "true", "null", "s", 5, true, null, {"a": "b"}], "js": ["x", 1]},
  {"id": 2, "ja": [["a", 1], ["b", 2]], "js": [["x"], ["y"]]}]', 1);
SELECT id, ja, js FROM typ_jarr ORDER BY id;
SELECT id, array_agg(jsonb_typeof(e) ORDER BY o) AS types
  FROM typ_jarr, unnest(ja) WITH ORDINALITY AS u(e, o) GROUP BY id ORDER BY id;
SELECT ja = ARRAY['"123"', '"true"', '"null"', '"s"', '5', 'true', NULL, '{"a": "b"}']::jsonb[]
       AS same_as_postgres FROM typ_jarr WHERE id = 1;
DROP TABLE typ_jarr;
