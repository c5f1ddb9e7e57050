--
-- import_bodies: import bodies as their sources write them (issue 23,
-- item 6): sequenced_import_json, whose created columns follow the order
-- the text wrote, and the push body (a JSON array of records, as the
-- hosted import API's push endpoint takes it) in both functions
--
-- Tables are created in the first schema of search_path, impb; the last
-- section removes it.
--
CREATE SCHEMA impb;
SET search_path = impb, public;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- a table's columns in their order: name, type, NOT NULL
CREATE FUNCTION impb.cols(t regclass) RETURNS text
LANGUAGE sql AS $$
  SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod)
                    || CASE WHEN attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY attnum)
    FROM pg_attribute WHERE attrelid = t AND attnum > 0 AND NOT attisdropped
$$;
-- its primary key columns, in key order
CREATE FUNCTION impb.pkey(t regclass) RETURNS text
LANGUAGE sql AS $$
  SELECT string_agg(a.attname, ', ' ORDER BY k.ord)
    FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord), pg_attribute a
   WHERE i.indrelid = t AND i.indisprimary AND a.attrelid = t AND a.attnum = k.attnum
$$;

--
-- 1. column order: the same batch body as json and as jsonb
--
-- json: the schema's properties in the order written, the key where the
-- schema puts it
SELECT * FROM sequenced_import_json('{
  "table_name": "order_json",
  "key_names": ["id"],
  "schema": {"properties": {
    "zeta": {"type": "string"},
    "id": {"type": "integer"},
    "created_at": {"type": "string", "format": "date-time"},
    "alpha": {"type": ["null", "boolean"]},
    "mid": {"type": "number"}}},
  "messages": [
    {"action": "upsert", "sequence": 1, "data": {"id": 1, "zeta": "z", "created_at": "2020-01-01T00:00:00Z", "alpha": true, "mid": 1.5}}]}');
SELECT impb.cols('impb.order_json');
SELECT impb.pkey('impb.order_json');
-- jsonb: keys sorted (shorter first), key columns first, as before
SELECT * FROM sequenced_import('{
  "table_name": "order_jsonb",
  "key_names": ["id"],
  "schema": {"properties": {
    "zeta": {"type": "string"},
    "id": {"type": "integer"},
    "created_at": {"type": "string", "format": "date-time"},
    "alpha": {"type": ["null", "boolean"]},
    "mid": {"type": "number"}}},
  "messages": [
    {"action": "upsert", "sequence": 1, "data": {"id": 1, "zeta": "z", "created_at": "2020-01-01T00:00:00Z", "alpha": true, "mid": 1.5}}]}');
SELECT impb.cols('impb.order_jsonb');
-- the same rows either way
SELECT id, zeta, created_at, alpha, mid, _sdc_sequence FROM impb.order_json
UNION ALL
SELECT id, zeta, created_at, alpha, mid, _sdc_sequence FROM impb.order_jsonb;
-- columns added to an existing table come in the schema's order too
SELECT * FROM sequenced_import_json('{
  "table_name": "order_json",
  "key_names": ["id"],
  "schema": {"properties": {
    "id": {"type": "integer"},
    "zz_new": {"type": ["null", "string"]},
    "aa_new": {"type": ["null", "integer"]}}},
  "messages": [{"sequence": 2, "data": {"id": 1, "zz_new": "z", "aa_new": 7}}]}');
SELECT impb.cols('impb.order_json');
-- a composite key in the schema's order; the primary key in key_names order
SELECT * FROM sequenced_import_json('{
  "table_name": "order_composite",
  "key_names": ["region", "id"],
  "schema": {"properties": {"note": {"type": ["null", "string"]}, "id": {"type": "integer"},
                            "region": {"type": "string"}}},
  "messages": [{"sequence": 1, "data": {"region": "eu", "id": 1, "note": "n"}}]}');
SELECT impb.cols('impb.order_composite');
SELECT impb.pkey('impb.order_composite');
-- escaped names are read as names; a property written twice counts where
-- it first appears (its last value, as jsonb keeps it); of two "schema"s
-- the last counts, as in jsonb
SELECT * FROM sequenced_import_json('{
  "table_name": "order_names",
  "key_names": ["k"],
  "schema": {"properties": {"ignored": {"type": "string"}}},
  "schema": {"properties": {
    "\u00e9t\u00e9": {"type": ["null", "string"]},
    "b": {"type": "integer"},
    "we\"ird": {"type": ["null", "string"]},
    "k": {"type": "integer"},
    "b": {"type": ["null", "boolean"]}}},
  "messages": [{"sequence": 1, "data": {"k": 1, "b": true, "\u00e9t\u00e9": "summer", "we\"ird": "q"}}]}');
SELECT impb.cols('impb.order_names');
SELECT * FROM impb.order_names;
-- the json form's errors are the jsonb form's
SELECT * FROM sequenced_import_json('5');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import_json('{"table_name": "bad", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}}},
  "messages": [{"sequence": 1, "data": {"id": "1"}}]}');
\echo :LAST_ERROR_SQLSTATE
-- a NULL batch: 22023 in both functions, and an untyped literal or NULL is
-- never ambiguous (the json form has a name of its own)
SELECT * FROM sequenced_import(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import_json(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pg_proc WHERE proname = 'sequenced_import';

--
-- 2. the push body: records of several tables, upserts and deletes; one
-- output row per record, in array order, ord its position in the array
--
SELECT * FROM sequenced_import('[
  {"client_id": 7723, "table_name": "customers", "sequence": 100, "action": "upsert",
   "key_names": ["id"], "data": {"id": 1, "name": "Finn", "age": 15, "has_magic": false}},
  {"client_id": 7723, "table_name": "orders", "sequence": 100, "action": "upsert",
   "key_names": ["order_id"], "data": {"order_id": 561, "customer_id": 1, "total": 9.5,
                                       "placed_at": "2019-08-13T21:25:03+0000", "lines": [1, 2],
                                       "meta": {"gift": true}, "coupon": null}},
  {"client_id": 7723, "table_name": "customers", "sequence": 100, "action": "upsert",
   "key_names": ["id"], "data": {"id": 2, "name": "Jake", "age": 28, "has_magic": true}},
  {"client_id": 7723, "table_name": "customers", "sequence": 99, "action": "upsert",
   "key_names": ["id"], "data": {"id": 1, "name": "Finn (older)", "age": 14, "has_magic": false}},
  {"client_id": 7723, "table_name": "orders", "sequence": 101, "action": "upsert",
   "key_names": ["order_id"], "data": {"order_id": 562, "customer_id": 2, "total": 12,
                                       "placed_at": "2019-08-14T08:00:00+0000", "lines": [],
                                       "meta": {}, "coupon": null}},
  {"client_id": 7723, "table_name": "customers", "sequence": 101, "action": "delete",
   "key_names": ["id"], "data": {"id": 2}},
  {"client_id": 7723, "table_name": "customers", "sequence": 102, "action": "upsert",
   "key_names": ["id"], "data": {"id": 3, "name": "Marceline", "age": 1003, "has_magic": true}}]');
-- tables made from the values' JSON types: integer bigint, other numbers
-- numeric (an integer in one record, a fraction in another: numeric), a
-- date-time string text (the push endpoint types no strings), object and
-- array jsonb; key columns NOT NULL and first (jsonb); a property that is
-- only ever null (coupon) gets no column
SELECT impb.cols('impb.customers');
SELECT impb.pkey('impb.customers');
SELECT impb.cols('impb.orders');
SELECT impb.pkey('impb.orders');
SELECT * FROM impb.customers ORDER BY id;
SELECT * FROM impb.orders ORDER BY order_id;
SELECT relid, key_columns FROM sequenced_tables
 WHERE relid::oid IN (SELECT oid FROM pg_class WHERE relnamespace = 'impb'::regnamespace)
 ORDER BY relid::text;
-- the same body again: every record stale, nothing changes
SELECT * FROM sequenced_import('[
  {"client_id": 7723, "table_name": "customers", "sequence": 100, "action": "upsert",
   "key_names": ["id"], "data": {"id": 1, "name": "Finn", "age": 15, "has_magic": false}},
  {"client_id": 7723, "table_name": "orders", "sequence": 100, "action": "upsert",
   "key_names": ["order_id"], "data": {"order_id": 561, "customer_id": 1, "total": 9.5,
                                       "placed_at": "2019-08-13T21:25:03+0000", "lines": [1, 2],
                                       "meta": {"gift": true}, "coupon": null}},
  {"client_id": 7723, "table_name": "customers", "sequence": 100, "action": "upsert",
   "key_names": ["id"], "data": {"id": 2, "name": "Jake", "age": 28, "has_magic": true}},
  {"client_id": 7723, "table_name": "customers", "sequence": 99, "action": "upsert",
   "key_names": ["id"], "data": {"id": 1, "name": "Finn (older)", "age": 14, "has_magic": false}},
  {"client_id": 7723, "table_name": "orders", "sequence": 101, "action": "upsert",
   "key_names": ["order_id"], "data": {"order_id": 562, "customer_id": 2, "total": 12,
                                       "placed_at": "2019-08-14T08:00:00+0000", "lines": [],
                                       "meta": {}, "coupon": null}},
  {"client_id": 7723, "table_name": "customers", "sequence": 101, "action": "delete",
   "key_names": ["id"], "data": {"id": 2}},
  {"client_id": 7723, "table_name": "customers", "sequence": 102, "action": "upsert",
   "key_names": ["id"], "data": {"id": 3, "name": "Marceline", "age": 1003, "has_magic": true}}]');
SELECT * FROM impb.customers ORDER BY id;
SELECT * FROM impb.orders ORDER BY order_id;
-- newer records: an update, a late older one (stale), the deleted key back,
-- a property seen for the first time (a new column; rows it does not touch
-- keep NULL), coupon now with a value (its column now), and a table named
-- twice, "impb.customers" and "customers", which is one table
SELECT * FROM sequenced_import('[
  {"client_id": 7723, "table_name": "impb.customers", "sequence": 200, "action": "upsert",
   "key_names": ["id"], "data": {"id": 1, "name": "Finn", "age": 16, "has_magic": false, "email": "finn@ooo.example"}},
  {"client_id": 7723, "table_name": "customers", "sequence": 50, "action": "upsert",
   "key_names": ["id"], "data": {"id": 3, "name": "stale Marceline", "age": 1, "has_magic": false}},
  {"client_id": 7723, "table_name": "orders", "sequence": 200, "action": "upsert",
   "key_names": ["order_id"], "data": {"order_id": 561, "customer_id": 1, "total": 9.5,
                                       "placed_at": "2019-08-13T21:25:03+0000", "lines": [1, 2],
                                       "meta": {"gift": true}, "coupon": "SPRING"}},
  {"client_id": 7723, "table_name": "customers", "sequence": 200, "action": "upsert",
   "key_names": ["id"], "data": {"id": 2, "name": "Jake", "age": 29, "has_magic": true}}]');
SELECT impb.cols('impb.customers');
SELECT impb.cols('impb.orders');
SELECT * FROM impb.customers ORDER BY id;
SELECT order_id, coupon, _sdc_sequence FROM impb.orders ORDER BY order_id;
-- a key of several columns; the primary key in key_names order; one
-- record's key_names may list them in another order
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "regional", "sequence": 5, "action": "upsert",
   "key_names": ["region", "id"], "data": {"id": 1, "region": "eu", "v": "a"}},
  {"client_id": 1, "table_name": "regional", "sequence": 5, "action": "upsert",
   "key_names": ["id", "region"], "data": {"id": 1, "region": "us", "v": "b"}}]');
SELECT impb.cols('impb.regional');
SELECT impb.pkey('impb.regional');

--
-- 3. the push body as json: a created table's columns in the order the
-- records first wrote them (key not moved first)
--
SELECT * FROM sequenced_import_json('[
  {"client_id": 1, "table_name": "events_json", "sequence": 1, "action": "upsert",
   "key_names": ["event_id"], "data": {"kind": "click", "event_id": 10, "at": "2020-01-01T00:00:00Z"}},
  {"client_id": 1, "table_name": "people_json", "sequence": 1, "action": "upsert",
   "key_names": ["id"], "data": {"surname": "Mertens", "id": 1}},
  {"client_id": 1, "table_name": "events_json", "sequence": 2, "action": "upsert",
   "key_names": ["event_id"], "data": {"kind": "view", "event_id": 11, "referrer": "home", "at": "2020-01-02T00:00:00Z"}},
  {"client_id": 1, "table_name": "events_json", "sequence": 3, "action": "delete",
   "key_names": ["event_id"], "data": {"event_id": 10}}]');
SELECT impb.cols('impb.events_json');
SELECT impb.cols('impb.people_json');
SELECT * FROM impb.events_json ORDER BY event_id;
-- of "data" written twice the last counts, and of a property written twice
-- its first place (with its last value), as jsonb keeps them
SELECT * FROM sequenced_import_json('[
  {"client_id": 1, "table_name": "twice_json", "sequence": 1, "action": "upsert", "key_names": ["id"],
   "data": {"ignored": 1, "id": 0},
   "data": {"zz": "first place", "id": 1, "aa": 2, "zz": "last value"}}]');
SELECT impb.cols('impb.twice_json');
SELECT * FROM impb.twice_json;
-- the same records as jsonb: keys first, then each record's keys as jsonb
-- sorts them
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "events_jsonb", "sequence": 1, "action": "upsert",
   "key_names": ["event_id"], "data": {"kind": "click", "event_id": 10, "at": "2020-01-01T00:00:00Z"}},
  {"client_id": 1, "table_name": "events_jsonb", "sequence": 2, "action": "upsert",
   "key_names": ["event_id"], "data": {"kind": "view", "event_id": 11, "referrer": "home", "at": "2020-01-02T00:00:00Z"}}]');
SELECT impb.cols('impb.events_jsonb');

--
-- 4. existing tables: their columns are used as they are (the value
-- converted by the column type's input function, as for sequenced_upsert);
-- a table not yet registered is registered with key_names
--
CREATE TABLE impb.handmade (code text PRIMARY KEY, qty int, seen timestamptz, info json);
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "handmade", "sequence": 1, "action": "upsert",
   "key_names": ["code"], "data": {"code": "a", "qty": "7", "seen": "2021-06-01T12:00:00Z", "info": {"x": 1}}},
  {"client_id": 1, "table_name": "handmade", "sequence": 1, "action": "upsert",
   "key_names": ["code"], "data": {"code": "b", "qty": 8, "seen": null, "info": "text", "extra": 1.25}}]');
SELECT impb.cols('impb.handmade');
SELECT * FROM impb.handmade ORDER BY code;
SELECT key_columns FROM sequenced_tables WHERE relid = 'impb.handmade'::regclass;
-- a value the column's type refuses: the type's own SQLSTATE, naming the
-- record's position in the body
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "orders", "sequence": 300, "action": "upsert",
   "key_names": ["order_id"], "data": {"order_id": 563, "customer_id": 1}},
  {"client_id": 1, "table_name": "handmade", "sequence": 2, "action": "upsert",
   "key_names": ["code"], "data": {"code": "a", "qty": "seven"}}]');
\echo :LAST_ERROR_SQLSTATE
-- a property that may not be set from data: 42703, naming the position
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "orders", "sequence": 300, "action": "upsert",
   "key_names": ["order_id"], "data": {"order_id": 563, "customer_id": 1}},
  {"client_id": 1, "table_name": "orders", "sequence": 300, "action": "upsert",
   "key_names": ["order_id"], "data": {"order_id": 564, "_sdc_sequence": 5}}]');
\echo :LAST_ERROR_SQLSTATE
-- a table ordered by a timestamptz column takes no integer sequences
CREATE TABLE impb.stamped (id int PRIMARY KEY, v text, updated_at timestamptz);
SELECT sequenced_register('impb.stamped', sequence_column => 'updated_at');
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "stamped", "sequence": 1, "action": "upsert",
   "key_names": ["id"], "data": {"id": 1, "v": "x"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM impb.orders WHERE order_id >= 563;
SELECT * FROM impb.handmade ORDER BY code;

--
-- 5. errors: each with its SQLSTATE and the record's position; nothing of
-- the body applied, no table or column left behind
--
-- key_names that differ between records of one table: 22023
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert",
   "key_names": ["id"], "data": {"id": 1, "v": "a"}},
  {"client_id": 1, "table_name": "other_bad", "sequence": 1, "action": "upsert",
   "key_names": ["v"], "data": {"id": 1, "v": "a"}},
  {"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert",
   "key_names": ["id", "v"], "data": {"id": 2, "v": "b"}}]');
\echo :LAST_ERROR_SQLSTATE
-- key_names that differ from a registered table's key: 22023
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "orders", "sequence": 400, "action": "upsert",
   "key_names": ["order_id"], "data": {"order_id": 570}},
  {"client_id": 1, "table_name": "customers", "sequence": 400, "action": "upsert",
   "key_names": ["name"], "data": {"id": 1, "name": "Finn"}}]');
\echo :LAST_ERROR_SQLSTATE
-- an element that is no object
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert",
   "key_names": ["id"], "data": {"id": 1}},
  "not a record"]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import_json('[[1]]');
\echo :LAST_ERROR_SQLSTATE
-- fields missing, null, or of the wrong type
SELECT * FROM sequenced_import('[{"table_name": "bad", "sequence": 1, "action": "upsert",
  "key_names": ["id"], "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[{"client_id": "7723", "table_name": "bad", "sequence": 1, "action": "upsert",
  "key_names": ["id"], "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert", "key_names": ["id"], "data": {"id": 1}},
  {"client_id": 2, "table_name": "bad", "sequence": 1, "action": "upsert", "key_names": ["id"], "data": {"id": 2}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[{"client_id": 1, "sequence": 1, "action": "upsert",
  "key_names": ["id"], "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[{"client_id": 1, "table_name": "", "sequence": 1, "action": "upsert",
  "key_names": ["id"], "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[{"client_id": 1, "table_name": "bad", "action": "upsert",
  "key_names": ["id"], "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[{"client_id": 1, "table_name": "bad", "sequence": 1.5, "action": "upsert",
  "key_names": ["id"], "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[{"client_id": 1, "table_name": "bad", "sequence": 9223372036854775808,
  "action": "upsert", "key_names": ["id"], "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[{"client_id": 1, "table_name": "bad", "sequence": 1,
  "key_names": ["id"], "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[{"client_id": 1, "table_name": "bad", "sequence": 1, "action": "erase",
  "key_names": ["id"], "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[{"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert",
  "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[{"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert",
  "key_names": [], "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[{"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert",
  "key_names": "id", "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[{"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert",
  "key_names": ["id", "id"], "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[{"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert",
  "key_names": ["id"]}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[{"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert",
  "key_names": ["id"], "data": [1]}]');
\echo :LAST_ERROR_SQLSTATE
-- a key property missing or null: 23502
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert", "key_names": ["id"], "data": {"id": 1}},
  {"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert", "key_names": ["id"], "data": {"v": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "bad", "sequence": 1, "action": "delete", "key_names": ["id"], "data": {"id": null}}]');
\echo :LAST_ERROR_SQLSTATE
-- a new column whose values have two types no one column takes: 42804
-- (the hosted API would split it in two; an import never splits a column)
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert", "key_names": ["id"], "data": {"id": 1, "cost": 3.14}},
  {"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert", "key_names": ["id"], "data": {"id": 2, "cost": 10}},
  {"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert", "key_names": ["id"], "data": {"id": 3, "cost": "1.00"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "customers", "sequence": 500, "action": "upsert", "key_names": ["id"],
   "data": {"id": 1, "name": "Finn", "nickname": "the human"}},
  {"client_id": 1, "table_name": "customers", "sequence": 500, "action": "upsert", "key_names": ["id"],
   "data": {"id": 2, "name": "Jake", "nickname": false}}]');
\echo :LAST_ERROR_SQLSTATE
-- ... while an existing column takes what its type's input takes
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "customers", "sequence": 500, "action": "upsert", "key_names": ["id"],
   "data": {"id": 4, "name": 4, "age": 4, "has_magic": "yes"}}]');
SELECT id, name, age, has_magic FROM impb.customers WHERE id = 4;
-- a property name no column can have
SELECT * FROM sequenced_import('[{"client_id": 1, "table_name": "bad", "sequence": 1, "action": "upsert",
  "key_names": ["id"], "data": {"id": 1, "": 2}}]');
\echo :LAST_ERROR_SQLSTATE
-- an empty array is no body (a push body has 1 to 20,000 records)
SELECT * FROM sequenced_import('[]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_import_json('[]');
\echo :LAST_ERROR_SQLSTATE
-- 20,001 records
SELECT * FROM sequenced_import((SELECT jsonb_agg(jsonb_build_object('client_id', 1,
    'table_name', 'bad', 'sequence', i, 'action', 'upsert', 'key_names', '["id"]'::jsonb,
    'data', jsonb_build_object('id', i)))
  FROM generate_series(1, 20001) i));
\echo :LAST_ERROR_SQLSTATE
-- a body whose first table was created before a later record failed
-- leaves neither table behind
SELECT * FROM sequenced_import('[
  {"client_id": 1, "table_name": "fails_late", "sequence": 1, "action": "upsert", "key_names": ["id"], "data": {"id": 1}},
  {"client_id": 1, "table_name": "fails_late2", "sequence": 1, "action": "upsert", "key_names": ["id"], "data": {"id": 1, "n": 1}},
  {"client_id": 1, "table_name": "fails_late2", "sequence": 1, "action": "upsert", "key_names": ["id"], "data": {"id": 2, "n": "x"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('impb.bad') IS NULL AS no_bad, to_regclass('impb.other_bad') IS NULL AS no_other_bad,
       to_regclass('impb.fails_late') IS NULL AS no_fails_late,
       to_regclass('impb.fails_late2') IS NULL AS no_fails_late2;
SELECT relid FROM sequenced_tables
 WHERE relid::oid IN (SELECT oid FROM pg_class WHERE relnamespace = 'impb'::regnamespace)
 ORDER BY relid::text;
SELECT * FROM impb.customers ORDER BY id;
SELECT impb.cols('impb.customers');

--
-- 6. the largest push body: 20,000 records over two tables, in order
--
SELECT outcome, count(*), min(ord), max(ord) FROM sequenced_import((
  SELECT jsonb_agg(jsonb_build_object('client_id', 1,
           'table_name', CASE WHEN i % 2 = 0 THEN 'big_even' ELSE 'big_odd' END,
           'sequence', i, 'action', 'upsert', 'key_names', '["id"]'::jsonb,
           'data', jsonb_build_object('id', i % 1000, 'v', 'v' || i)) ORDER BY i)
    FROM generate_series(1, 20000) i))
  GROUP BY outcome ORDER BY outcome;
SELECT count(*), min(_sdc_sequence), max(_sdc_sequence) FROM impb.big_even;
SELECT count(*), min(_sdc_sequence), max(_sdc_sequence) FROM impb.big_odd;
SELECT bool_and(ord = n) AS in_array_order FROM (
  SELECT ord, row_number() OVER () AS n FROM sequenced_import((
    SELECT jsonb_agg(jsonb_build_object('client_id', 1,
             'table_name', CASE WHEN i % 3 = 0 THEN 'big_even' ELSE 'big_odd' END,
             'sequence', 30000 + i, 'action', 'upsert', 'key_names', '["id"]'::jsonb,
             'data', jsonb_build_object('id', i)) ORDER BY i)
      FROM generate_series(1, 300) i))) o;

-- clean up
RESET search_path;
SELECT sequenced_unregister(relid) FROM sequenced_tables
 WHERE relid::text LIKE 'impb.%' ORDER BY relid::text;
SET client_min_messages = warning;
DROP SCHEMA impb CASCADE;
RESET client_min_messages;
