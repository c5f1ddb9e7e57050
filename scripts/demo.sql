-- pg_sequenced demo: run by scripts/demo.sh against a throwaway server.
\set ON_ERROR_STOP 1
\pset footer off
CREATE EXTENSION IF NOT EXISTS pg_sequenced;
DROP TABLE IF EXISTS customers;
CREATE TABLE customers (id int PRIMARY KEY, name text, has_magic boolean);
SELECT sequenced_register('customers');

\echo '--- a batch of the import API: id 2 arrives twice, the older one last'
SELECT * FROM sequenced_upsert('customers', '[
  {"action":"upsert","sequence":1574807356000,"data":{"id":1,"name":"Finn","has_magic":false}},
  {"action":"upsert","sequence":1574807445000,"data":{"id":2,"name":"Jake","has_magic":false}},
  {"action":"upsert","sequence":1574807395000,"data":{"id":2,"name":"Jake","has_magic":true}}]');
SELECT * FROM customers ORDER BY id;

\echo '--- the older record again, on its own: stale, nothing changes'
SELECT * FROM sequenced_upsert('customers', '{"id":2,"name":"Jake","has_magic":true}', 1574807395000);

\echo '--- a delete, then a late update of the deleted record: it stays deleted'
SELECT * FROM sequenced_delete('customers', '{"id":1}', 1574807500000);
SELECT * FROM sequenced_upsert('customers', '{"id":1,"name":"Finn (late)"}', 1574807400000);
SELECT * FROM customers ORDER BY id;
SELECT relid, key_columns, max_sequence FROM sequenced_tables;

\echo '--- the changes feed from position 0'
SELECT seq, key, deleted, record FROM sequenced_changes('customers') ORDER BY pos;

\echo '--- a staging table: INSERT or COPY into the inbox applies the rows'
DROP TABLE IF EXISTS customers_inbox;
CREATE TABLE customers_inbox (id int, name text, has_magic boolean, _sdc_sequence bigint, _sdc_deleted boolean);
CREATE TRIGGER apply AFTER INSERT ON customers_inbox REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers');
INSERT INTO customers_inbox VALUES (3, 'BMO', true, 1574807600000, false),
                                   (2, 'Jake the Dog', true, 1574807600000, false);
SELECT * FROM customers ORDER BY id;

\echo '--- the import API batch body: the table is created from its JSON schema'
SELECT * FROM sequenced_import('{"table_name": "heroes", "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": ["null", "string"]},
                            "seen_at": {"type": ["null", "string"], "format": "date-time"}}},
  "messages": [{"action": "upsert", "sequence": 1, "data": {"id": 1, "name": "Finn", "seen_at": "2019-11-26T22:29:16Z"}},
               {"action": "upsert", "sequence": 2, "data": {"id": 1, "name": "Finn the Human"}}]}');
SELECT id, name, seen_at, _sdc_sequence FROM heroes;
