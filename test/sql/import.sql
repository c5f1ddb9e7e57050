--
-- import: sequenced_import, the body of a hosted import API's batch
-- request (SPEC section 5)
--
-- Tables are created in the first schema of search_path, imp; the last
-- section removes it.
--
CREATE SCHEMA imp;
SET search_path = imp, public;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- a table's columns, by name: type and NOT NULL
CREATE FUNCTION imp.columns(t regclass)
RETURNS TABLE (name name, type text, not_null boolean)
LANGUAGE sql AS $$
  SELECT attname, format_type(atttypid, atttypmod), attnotnull
    FROM pg_attribute WHERE attrelid = t AND attnum > 0 AND NOT attisdropped
   ORDER BY attname COLLATE "C"
$$;
-- its primary key columns (none: NULL)
CREATE FUNCTION imp.pkey(t regclass) RETURNS text
LANGUAGE sql AS $$
  SELECT string_agg(a.attname, ', ' ORDER BY k.ord)
    FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord), pg_attribute a
   WHERE i.indrelid = t AND i.indisprimary AND a.attrelid = t AND a.attnum = k.attnum
$$;

--
-- the seed example: a missing table is created from the schema and
-- registered with key_names; three messages, one superseded
--
SELECT * FROM sequenced_import('{
  "table_name": "customers",
  "key_names": ["id"],
  "schema": {"properties": {
    "id": {"type": "integer"},
    "name": {"type": "string"},
    "has_magic": {"type": "boolean"}}},
  "messages": [
    {"action": "upsert", "sequence": 1574807356000, "data": {"id": 1, "name": "Finn", "has_magic": false}},
    {"action": "upsert", "sequence": 1574807445000, "data": {"id": 2, "name": "Jake", "has_magic": false}},
    {"action": "upsert", "sequence": 1574807395000, "data": {"id": 2, "name": "Jake", "has_magic": true}}]}');
SELECT id, name, has_magic, _sdc_sequence FROM imp.customers ORDER BY id;
SELECT * FROM imp.columns('imp.customers');
SELECT imp.pkey('imp.customers');
SELECT * FROM sequenced_tables WHERE relid = 'imp.customers'::regclass;
-- the same batch again changes nothing
SELECT * FROM sequenced_import('{
  "table_name": "customers",
  "key_names": ["id"],
  "schema": {"properties": {
    "id": {"type": "integer"},
    "name": {"type": "string"},
    "has_magic": {"type": "boolean"}}},
  "messages": [
    {"action": "upsert", "sequence": 1574807356000, "data": {"id": 1, "name": "Finn", "has_magic": false}},
    {"action": "upsert", "sequence": 1574807445000, "data": {"id": 2, "name": "Jake", "has_magic": false}},
    {"action": "upsert", "sequence": 1574807395000, "data": {"id": 2, "name": "Jake", "has_magic": true}}]}');
SELECT id, name, has_magic, _sdc_sequence FROM imp.customers ORDER BY id;
-- a delete message, and the tombstone it leaves
SELECT * FROM sequenced_import('{
  "table_name": "customers", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [
    {"action": "delete", "sequence": 1574807500000, "data": {"id": 1}},
    {"action": "upsert", "sequence": 1574807400000, "data": {"id": 1}}]}');
SELECT * FROM sequenced_import('{
  "table_name": "customers", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
  "messages": [{"sequence": 1574807450000, "data": {"id": 1, "name": "Finn late"}}]}');
SELECT id, name, has_magic, _sdc_sequence FROM imp.customers ORDER BY id;
SELECT sequenced_max_sequence('imp.customers');

--
-- every schema type becomes its column type
--
SELECT * FROM sequenced_import('{
  "table_name": "all_types",
  "key_names": ["id"],
  "schema": {"properties": {
    "id":        {"type": "integer"},
    "n_int":     {"type": "integer"},
    "n_num":     {"type": "number"},
    "s":         {"type": "string"},
    "ts":        {"type": "string", "format": "date-time"},
    "b":         {"type": "boolean"},
    "o":         {"type": "object"},
    "a":         {"type": "array"},
    "null_int":  {"type": ["null", "integer"]},
    "null_num":  {"type": ["number", "null"]},
    "null_s":    {"type": ["null", "string"]},
    "null_ts":   {"type": ["null", "string"], "format": "date-time"},
    "null_b":    {"type": ["null", "boolean"]},
    "null_o":    {"type": ["null", "object"]},
    "null_a":    {"type": ["null", "array"]}}},
  "messages": [
    {"sequence": 1, "data": {"id": 1, "n_int": 9007199254740993, "n_num": 12345678901234567890.125,
      "s": "text", "ts": "2019-11-26T22:29:16Z", "b": true, "o": {"k": [1, {"x": null}]},
      "a": [1, "two", {"three": 3}],
      "null_int": -9223372036854775808, "null_num": -0.5, "null_s": "", "null_ts": "2019-11-26T23:29:16.250+01:00",
      "null_b": false, "null_o": {}, "null_a": []}},
    {"sequence": 1, "data": {"id": 2, "n_int": 0, "n_num": 1e3, "s": "", "ts": "2019-11-26 22:29:16-05:30",
      "b": false, "o": {}, "a": [],
      "null_int": null, "null_num": null, "null_s": null, "null_ts": null,
      "null_b": null, "null_o": null, "null_a": null}},
    {"sequence": 1, "data": {"id": 3, "n_int": 3}}]}');
-- only key columns are NOT NULL
SELECT * FROM imp.columns('imp.all_types');
SELECT imp.pkey('imp.all_types');
\x on
SELECT id, n_int, n_num, s, ts, b, o, a, null_int, null_num, null_s, null_ts, null_b, null_o, null_a,
       _sdc_sequence
  FROM imp.all_types ORDER BY id;
\x off
SELECT id, jsonb_typeof(o) AS o, jsonb_typeof(a) AS a, jsonb_typeof(null_o) AS null_o,
       jsonb_typeof(null_a) AS null_a
  FROM imp.all_types ORDER BY id;

-- a composite key: its columns NOT NULL, the primary key in key_names order
SELECT * FROM sequenced_import('{
  "table_name": "regional",
  "key_names": ["region", "id"],
  "schema": {"properties": {"id": {"type": "integer"}, "region": {"type": "string"},
                            "v": {"type": ["null", "string"]}}},
  "messages": [
    {"sequence": 5, "data": {"region": "eu", "id": 1, "v": "a"}},
    {"sequence": 5, "data": {"region": "us", "id": 1, "v": "b"}},
    {"sequence": 4, "data": {"region": "eu", "id": 1, "v": "older"}}]}');
SELECT * FROM imp.columns('imp.regional');
SELECT imp.pkey('imp.regional');
SELECT region, id, v, _sdc_sequence FROM imp.regional ORDER BY region, id;
SELECT key_columns FROM sequenced_tables WHERE relid = 'imp.regional'::regclass;

--
-- names are taken literally: "schema.table" is a table in that schema;
-- other names are quoted as they are
--
CREATE SCHEMA imp_sales;
SELECT * FROM sequenced_import('{
  "table_name": "imp_sales.customers",
  "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "region": {"type": "string"}}},
  "messages": [{"sequence": 7, "data": {"id": 1, "region": "north"}}]}');
SELECT id, region, _sdc_sequence FROM imp_sales.customers;
SELECT * FROM imp.columns('imp_sales.customers');
-- imp.customers is untouched
SELECT * FROM imp.columns('imp.customers');
SELECT relid FROM sequenced_tables WHERE relid::text LIKE '%customers' ORDER BY relid::text;
-- a schema that does not exist
SELECT * FROM sequenced_import('{
  "table_name": "imp_nowhere.customers",
  "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 7, "data": {"id": 1}}]}');
\echo :LAST_ERROR_SQLSTATE
-- mixed case and spaces
SELECT * FROM sequenced_import('{
  "table_name": "Order Lines",
  "key_names": ["Line No"],
  "schema": {"properties": {"Line No": {"type": "integer"}, "Item": {"type": "string"},
                            "x); DROP TABLE imp.customers; --": {"type": ["null", "string"]}}},
  "messages": [{"sequence": 1, "data": {"Line No": 1, "Item": "pen",
                                        "x); DROP TABLE imp.customers; --": "harmless"}}]}');
SELECT "Line No", "Item", "x); DROP TABLE imp.customers; --", _sdc_sequence FROM imp."Order Lines";
SELECT imp.pkey('imp."Order Lines"');
SELECT count(*) FROM imp.customers;

--
-- append-only: key_names omitted or []
--
SELECT * FROM sequenced_import('{
  "table_name": "events",
  "schema": {"properties": {"kind": {"type": "string"}, "at": {"type": "string", "format": "date-time"}}},
  "messages": [
    {"sequence": 2, "data": {"kind": "click", "at": "2020-01-01T00:00:00Z"}},
    {"sequence": 1, "data": {"kind": "click", "at": "2020-01-01T00:00:00Z"}}]}');
SELECT * FROM sequenced_import('{
  "table_name": "events",
  "key_names": [],
  "schema": {"properties": {"kind": {"type": "string"}}},
  "messages": [{"sequence": 1, "data": {"kind": "view"}}]}');
SELECT kind, at, _sdc_sequence FROM imp.events ORDER BY _sdc_sequence, kind;
SELECT * FROM imp.columns('imp.events');
SELECT imp.pkey('imp.events') IS NULL AS no_primary_key;
SELECT key_columns FROM sequenced_tables WHERE relid = 'imp.events'::regclass;
SELECT * FROM sequenced_import('{
  "table_name": "events2",
  "key_names": [],
  "schema": {"properties": {"kind": {"type": "string"}}},
  "messages": [{"sequence": 1, "data": {"kind": "view"}}]}');
SELECT key_columns FROM sequenced_tables WHERE relid = 'imp.events2'::regclass;
-- a delete sent to an append-only table: 22023
SELECT * FROM sequenced_import('{
  "table_name": "events",
  "schema": {"properties": {"kind": {"type": "string"}}},
  "messages": [{"action": "delete", "sequence": 3, "data": {"kind": "click"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM imp.events;

--
-- new columns over several batches
--
SELECT * FROM sequenced_import('{
  "table_name": "people", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "name": "Ann"}},
               {"sequence": 1, "data": {"id": 2, "name": "Bob"}}]}');
-- batch 2 adds email; rows it does not touch keep NULL there
SELECT * FROM sequenced_import('{
  "table_name": "people", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                            "email": {"type": ["null", "string"]}}},
  "messages": [{"sequence": 2, "data": {"id": 1, "name": "Ann", "email": "ann@example.com"}},
               {"sequence": 2, "data": {"id": 3, "name": "Cid", "email": null}}]}');
SELECT id, name, email, score, seen, _sdc_sequence FROM imp.people ORDER BY id;
SELECT * FROM imp.columns('imp.people');
-- batch 3 adds two more, and leaves email out of its schema: a message is
-- the whole record, so an updated row's email goes back to NULL
SELECT * FROM sequenced_import('{
  "table_name": "people", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                            "score": {"type": "number"},
                            "seen": {"type": ["null", "string"], "format": "date-time"}}},
  "messages": [{"sequence": 3, "data": {"id": 1, "name": "Ann", "score": 9.5, "seen": "2021-06-01T12:00:00Z"}},
               {"sequence": 3, "data": {"id": 2, "name": "Bob", "score": 7}}]}');
SELECT id, name, email, score, seen, _sdc_sequence FROM imp.people ORDER BY id;
SELECT * FROM imp.columns('imp.people');
-- nothing new: no column is added
SELECT * FROM sequenced_import('{
  "table_name": "people", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 4, "data": {"id": 4}}]}');
SELECT count(*) FROM imp.columns('imp.people');

--
-- existing tables
--
-- a type conflict with an existing column: 42804, naming table, column,
-- both types; nothing applied, no column added
SELECT * FROM sequenced_import('{
  "table_name": "people", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": "integer"},
                            "nickname": {"type": "string"}}},
  "messages": [{"sequence": 5, "data": {"id": 1, "name": 5, "nickname": "A"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{
  "table_name": "people", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "score": {"type": "string"}}},
  "messages": [{"sequence": 5, "data": {"id": 1, "score": "high"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{
  "table_name": "people", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "seen": {"type": "boolean"}}},
  "messages": [{"sequence": 5, "data": {"id": 1, "seen": true}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT id, name, email, score, seen, _sdc_sequence FROM imp.people ORDER BY id;
SELECT count(*) FROM imp.columns('imp.people');
-- key_names that differ from a registered table's key: 22023
SELECT * FROM sequenced_import('{
  "table_name": "people", "key_names": ["name"],
  "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
  "messages": [{"sequence": 5, "data": {"id": 1, "name": "Ann"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{
  "table_name": "people", "key_names": ["id", "name"],
  "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
  "messages": [{"sequence": 5, "data": {"id": 1, "name": "Ann"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{
  "table_name": "people",
  "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
  "messages": [{"sequence": 5, "data": {"id": 1, "name": "Ann"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{
  "table_name": "events", "key_names": ["kind"],
  "schema": {"properties": {"kind": {"type": "string"}}},
  "messages": [{"sequence": 5, "data": {"kind": "x"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT key_columns FROM sequenced_tables WHERE relid = 'imp.people'::regclass;

-- an existing table that is not registered is registered with key_names;
-- columns of compatible types are used as they are
CREATE TABLE imp.handmade (code text PRIMARY KEY, qty int, price numeric(10,2), at timestamptz, info json);
INSERT INTO imp.handmade VALUES ('old', 1, 1.5, '2020-01-01 00:00:00', '{"a": 1}');
SELECT * FROM sequenced_import('{
  "table_name": "handmade", "key_names": ["code"],
  "schema": {"properties": {"code": {"type": "string"}, "qty": {"type": "integer"},
                            "price": {"type": "number"}, "at": {"type": "string", "format": "date-time"},
                            "info": {"type": "object"}, "added": {"type": ["null", "boolean"]}}},
  "messages": [{"sequence": 1, "data": {"code": "new", "qty": 2, "price": 2.5,
                                        "at": "2020-01-02T00:00:00Z", "info": {"b": 2}, "added": true}},
               {"sequence": 1, "data": {"code": "old", "qty": 10, "price": 1.5,
                                        "at": "2020-01-01T00:00:00Z", "info": {"a": 10}}}]}');
SELECT code, qty, price, at, info, added, _sdc_sequence FROM imp.handmade ORDER BY code;
SELECT * FROM imp.columns('imp.handmade');
SELECT key_columns FROM sequenced_tables WHERE relid = 'imp.handmade'::regclass;
-- one without a unique index on key_names cannot be registered
CREATE TABLE imp.handmade_nokey (id bigint, name text);
SELECT * FROM sequenced_import('{
  "table_name": "handmade_nokey", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "name": "x"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM sequenced_tables WHERE relid = 'imp.handmade_nokey'::regclass;
SELECT count(*) FROM imp.handmade_nokey;

--
-- validation: each failure with its SQLSTATE, nothing created or applied
--
-- not an object
SELECT * FROM sequenced_import('[]');
\echo :LAST_ERROR_SQLSTATE
-- no table_name, an empty one, one that is no string
SELECT * FROM sequenced_import('{"key_names": ["id"], "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": {"id": 1}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "", "key_names": ["id"], "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": {"id": 1}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": 5, "key_names": ["id"], "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": {"id": 1}}]}');
\echo :LAST_ERROR_SQLSTATE
-- no schema, an unsupported type
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "messages": [{"sequence": 1, "data": {"id": 1}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "x": {"type": "date"}}},
  "messages": [{"sequence": 1, "data": {"id": 1}}]}');
\echo :LAST_ERROR_SQLSTATE
-- messages that are no array, missing, empty
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": {"sequence": 1, "data": {"id": 1}}}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}}}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}}, "messages": []}');
\echo :LAST_ERROR_SQLSTATE
-- 20,001 messages
SELECT * FROM sequenced_import(jsonb_build_object(
  'table_name', 'bad', 'key_names', '["id"]'::jsonb,
  'schema', '{"properties": {"id": {"type": "integer"}}}'::jsonb,
  'messages', (SELECT jsonb_agg(jsonb_build_object('sequence', i, 'data', jsonb_build_object('id', i)))
                 FROM generate_series(1, 20001) i)));
\echo :LAST_ERROR_SQLSTATE
-- a key that is no property of the schema
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["uid"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": {"id": 1}}]}');
\echo :LAST_ERROR_SQLSTATE
-- key_names that is no array of strings
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": "id",
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": {"id": 1}}]}');
\echo :LAST_ERROR_SQLSTATE
-- a key null or missing in a record: 23502
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "v": {"type": ["null", "string"]}}},
  "messages": [{"sequence": 1, "data": {"id": 1}}, {"sequence": 1, "data": {"id": null, "v": "x"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "v": {"type": ["null", "string"]}}},
  "messages": [{"sequence": 1, "data": {"id": 1}}, {"sequence": 1, "data": {"v": "x"}}]}');
\echo :LAST_ERROR_SQLSTATE
-- a value of the wrong JSON type
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "s": {"type": ["null", "string"]}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "s": "ok"}}, {"sequence": 1, "data": {"id": 2, "s": 5}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": {"id": "1"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": {"id": 1.5}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "n": {"type": "number"}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "n": "1.5"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "b": {"type": "boolean"}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "b": "true"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "o": {"type": "object"}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "o": [1]}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "a": {"type": "array"}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "a": {"x": 1}}}]}');
\echo :LAST_ERROR_SQLSTATE
-- null where the schema does not allow it
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "s": {"type": "string"}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "s": null}}]}');
\echo :LAST_ERROR_SQLSTATE
-- a bad date-time string
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "ts": {"type": "string", "format": "date-time"}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "ts": "2019-11-26T22:29:16Z"}},
               {"sequence": 1, "data": {"id": 2, "ts": "yesterday"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "ts": {"type": "string", "format": "date-time"}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "ts": "2019-11-26"}}]}');
\echo :LAST_ERROR_SQLSTATE
-- date-times the check passes are ones timestamptz takes: an offset beyond
-- 15:59 (timestamptz's limit) and year 0 are refused here, with the
-- validation's SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "ts": {"type": "string", "format": "date-time"}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "ts": "2024-01-01T00:00:00+25:00"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "ts": {"type": "string", "format": "date-time"}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "ts": "2024-01-01T00:00:00+05:60"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "ts": {"type": "string", "format": "date-time"}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "ts": "2024-01-01T00:00:00+16:00"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "ts": {"type": "string", "format": "date-time"}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "ts": "0000-01-01T00:00:00Z"}}]}');
\echo :LAST_ERROR_SQLSTATE
-- an integer property written with a fraction (2.0) is refused here too:
-- its bigint column would refuse it after the check
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "n": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": {"id": 1, "n": 2.0}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": {"id": 2.0}}]}');
\echo :LAST_ERROR_SQLSTATE
-- ... while 1e2 is the integer 100, and a sequence of 3.0 is 3, as for sequenced_upsert
SELECT * FROM sequenced_import('{"table_name": "imp_exp", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "n": {"type": "integer"}}},
  "messages": [{"sequence": 3.0, "data": {"id": 1e2, "n": 1E1}}]}');
SELECT id, n, _sdc_sequence FROM imp_exp;
DROP TABLE imp_exp;
-- sequence: not an integer, a string, missing, out of bigint range
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": {"id": 1}}, {"sequence": 1.5, "data": {"id": 2}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": "1", "data": {"id": 1}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"data": {"id": 1}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 9223372036854775808, "data": {"id": 1}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": -9223372036854775809, "data": {"id": 1}}]}');
\echo :LAST_ERROR_SQLSTATE
-- an integer property out of bigint range
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": {"id": 9223372036854775808}}]}');
\echo :LAST_ERROR_SQLSTATE
-- a property that is not in the schema
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": {"id": 1}}, {"sequence": 1, "data": {"id": 2, "color": "red"}}]}');
\echo :LAST_ERROR_SQLSTATE
-- a message that is no object, data that is no object
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": {"id": 1}}, 5]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": [1]}]}');
\echo :LAST_ERROR_SQLSTATE
-- none of these left a table behind
SELECT to_regclass('imp.bad') IS NULL AS no_table;
-- the bounds that are fine: the largest and smallest bigint
SELECT * FROM sequenced_import('{"table_name": "bounds", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 9223372036854775807, "data": {"id": 9223372036854775807}},
               {"sequence": -9223372036854775808, "data": {"id": -9223372036854775808}}]}');

--
-- a batch that fails after its table was created leaves no table behind;
-- one that fails after adding a column leaves no column behind
--
SELECT * FROM sequenced_import('{"table_name": "fails_late",
  "schema": {"properties": {"kind": {"type": "string"}}},
  "messages": [{"action": "delete", "sequence": 1, "data": {"kind": "x"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('imp.fails_late') IS NULL AS no_table;
SELECT count(*) FROM sequenced_tables WHERE relid::text LIKE '%fails_late';
SELECT * FROM sequenced_import('{"table_name": "fails_late", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"action": "erase", "sequence": 1, "data": {"id": 1}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('imp.fails_late') IS NULL AS no_table;
SELECT * FROM sequenced_import('{"table_name": "people", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "late_column": {"type": "string"}}},
  "messages": [{"action": "erase", "sequence": 9, "data": {"id": 1, "late_column": "x"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM imp.columns('imp.people') WHERE name = 'late_column';
SELECT id, name, email, score, seen, _sdc_sequence FROM imp.people ORDER BY id;

--
-- the largest batch: 20,000 messages (last: the biggest call of this file)
--
SELECT outcome, count(*) FROM sequenced_import(jsonb_build_object(
  'table_name', 'big', 'key_names', '["id"]'::jsonb,
  'schema', '{"properties": {"id": {"type": "integer"}, "v": {"type": "string"}}}'::jsonb,
  'messages', (SELECT jsonb_agg(jsonb_build_object('sequence', i, 'data',
                                  jsonb_build_object('id', i % 5000, 'v', 'v' || i)) ORDER BY i)
                 FROM generate_series(1, 20000) i)))
  GROUP BY outcome ORDER BY outcome;
SELECT count(*), min(_sdc_sequence), max(_sdc_sequence) FROM imp.big;
SELECT id, v, _sdc_sequence FROM imp.big WHERE id IN (0, 1, 4999) ORDER BY id;

-- clean up
RESET search_path;
SELECT sequenced_unregister(relid) FROM sequenced_tables
 WHERE relid::text LIKE 'imp.%' OR relid::text LIKE 'imp_sales.%' ORDER BY relid::text;
SET client_min_messages = warning;
DROP SCHEMA imp, imp_sales CASCADE;
RESET client_min_messages;
