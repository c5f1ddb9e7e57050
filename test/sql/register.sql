--
-- register: sequenced_register / sequenced_unregister, the sequenced_tables
-- catalog and sequenced_max_sequence (SPEC section 1)
--

-- the columns of a table, to show what registration added
CREATE FUNCTION reg_columns(t regclass)
RETURNS TABLE (attname name, type text)
LANGUAGE sql AS $$
  SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped
   ORDER BY a.attnum
$$;

--
-- defaults: the key is the primary key, the sequence column _sdc_sequence is
-- added as bigint, on_equal keep, deletes hard, ordering per_key
--
CREATE TABLE reg_default (id int PRIMARY KEY, name text);
INSERT INTO reg_default VALUES (1, 'pre-existing');
SELECT sequenced_register('reg_default');
SELECT * FROM reg_columns('reg_default');
SELECT * FROM sequenced_tables WHERE relid = 'reg_default'::regclass;
-- a row that was there before has a NULL sequence: older than any message
SELECT * FROM reg_default ORDER BY id;
-- no message yet: max_sequence is NULL
SELECT sequenced_max_sequence('reg_default');
SELECT * FROM sequenced_upsert('reg_default', '{"id": 1, "name": "one"}', 10);
SELECT * FROM reg_default ORDER BY id;
SELECT sequenced_max_sequence('reg_default');

-- registering again with the same options is a no-op
SELECT sequenced_register('reg_default');
SELECT sequenced_register('reg_default', key_columns => '{id}', sequence_column => '_sdc_sequence',
                          on_equal => 'keep', deletes => 'hard', ordering => 'per_key');
SELECT * FROM sequenced_tables WHERE relid = 'reg_default'::regclass;
SELECT * FROM reg_columns('reg_default');
SELECT * FROM reg_default ORDER BY id;
-- the stored sequence still counts after the no-op
SELECT * FROM sequenced_upsert('reg_default', '{"id": 1, "name": "older"}', 9);
SELECT * FROM reg_default ORDER BY id;

-- registering again with other options changes them
SELECT sequenced_register('reg_default', on_equal => 'replace', ordering => 'per_table');
SELECT * FROM sequenced_tables WHERE relid = 'reg_default'::regclass;
SELECT sequenced_register('reg_default', on_equal => 'error', deletes => 'soft');
SELECT * FROM sequenced_tables WHERE relid = 'reg_default'::regclass;
-- deletes => 'soft' added _sdc_deleted_at
SELECT * FROM reg_columns('reg_default');
-- and the defaults again put the defaults back (the column stays)
SELECT sequenced_register('reg_default');
SELECT * FROM sequenced_tables WHERE relid = 'reg_default'::regclass;
SELECT * FROM reg_columns('reg_default');
-- the rows and max_sequence are untouched by all this
SELECT id, name, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM reg_default ORDER BY id;
SELECT sequenced_max_sequence('reg_default');

--
-- key_columns naming a unique index other than the primary key
--
CREATE TABLE reg_named (id int PRIMARY KEY, code text NOT NULL UNIQUE, name text);
SELECT sequenced_register('reg_named', key_columns => '{code}');
SELECT * FROM sequenced_tables WHERE relid = 'reg_named'::regclass;
SELECT * FROM sequenced_upsert('reg_named', '[{"id": 1, "code": "a", "name": "first"},
                                              {"id": 2, "code": "b", "name": "second"}]', 5);
SELECT * FROM sequenced_upsert('reg_named', '{"id": 1, "code": "a", "name": "first v2"}', 6);
SELECT * FROM reg_named ORDER BY code;

--
-- keys without a matching unique, non-partial, plain-column index are refused
--
CREATE TABLE reg_badkey (id int PRIMARY KEY, a int, b int, c text, d text);
CREATE UNIQUE INDEX reg_badkey_ab ON reg_badkey (a, b);
CREATE UNIQUE INDEX reg_badkey_c ON reg_badkey (c) WHERE c IS NOT NULL;
CREATE UNIQUE INDEX reg_badkey_d ON reg_badkey (lower(d));
-- no unique index over (c, d) at all
SELECT sequenced_register('reg_badkey', key_columns => '{c,d}');
\echo :LAST_ERROR_SQLSTATE
-- only a part of a unique index
SELECT sequenced_register('reg_badkey', key_columns => '{a}');
\echo :LAST_ERROR_SQLSTATE
-- a partial unique index
SELECT sequenced_register('reg_badkey', key_columns => '{c}');
\echo :LAST_ERROR_SQLSTATE
-- an expression unique index
SELECT sequenced_register('reg_badkey', key_columns => '{d}');
\echo :LAST_ERROR_SQLSTATE
-- a column that does not exist
SELECT sequenced_register('reg_badkey', key_columns => '{nosuch}');
\echo :LAST_ERROR_SQLSTATE
-- nothing was registered or added by the failed calls
SELECT count(*) FROM sequenced_tables WHERE relid = 'reg_badkey'::regclass;
SELECT * FROM reg_columns('reg_badkey');
-- a table without a primary key and no key_columns
CREATE TABLE reg_nopk (a int, b text);
SELECT sequenced_register('reg_nopk');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM sequenced_tables WHERE relid = 'reg_nopk'::regclass;
-- the full unique index (a, b) is accepted
SELECT sequenced_register('reg_badkey', key_columns => '{a,b}');
SELECT relid, key_columns FROM sequenced_tables WHERE relid = 'reg_badkey'::regclass;

--
-- the sequence column: an existing one must be bigint; a custom name
--
CREATE TABLE reg_intseq (id int PRIMARY KEY, _sdc_sequence int);
SELECT sequenced_register('reg_intseq');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM sequenced_tables WHERE relid = 'reg_intseq'::regclass;
SELECT * FROM reg_columns('reg_intseq');

-- a custom sequence column that exists as bigint is used as it is
CREATE TABLE reg_customseq (id int PRIMARY KEY, version bigint, name text);
SELECT sequenced_register('reg_customseq', sequence_column => 'version');
SELECT * FROM reg_columns('reg_customseq');
SELECT relid, sequence_column FROM sequenced_tables WHERE relid = 'reg_customseq'::regclass;
SELECT * FROM sequenced_upsert('reg_customseq', '{"id": 1, "name": "x"}', 42);
SELECT * FROM reg_customseq ORDER BY id;
-- the sequence column cannot be set from data
SELECT * FROM sequenced_upsert('reg_customseq', '{"id": 1, "name": "y", "version": 99}', 43);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM reg_customseq ORDER BY id;

-- a custom sequence column that is missing is added as bigint
CREATE TABLE reg_customseq2 (id int PRIMARY KEY, name text);
SELECT sequenced_register('reg_customseq2', sequence_column => 'Source Seq');
SELECT * FROM reg_columns('reg_customseq2');
SELECT * FROM sequenced_upsert('reg_customseq2', '{"id": 1, "name": "x"}', 7);
SELECT * FROM reg_customseq2 ORDER BY id;

-- a custom non-bigint sequence column is refused
CREATE TABLE reg_customseq3 (id int PRIMARY KEY, version numeric);
SELECT sequenced_register('reg_customseq3', sequence_column => 'version');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM sequenced_tables WHERE relid = 'reg_customseq3'::regclass;

--
-- deletes => 'soft' adds _sdc_deleted_at timestamptz
--
CREATE TABLE reg_soft (id int PRIMARY KEY, name text);
SELECT sequenced_register('reg_soft', deletes => 'soft');
SELECT * FROM reg_columns('reg_soft');
SELECT relid, deletes FROM sequenced_tables WHERE relid = 'reg_soft'::regclass;

--
-- invalid option values
--
CREATE TABLE reg_opts (id int PRIMARY KEY);
SELECT sequenced_register('reg_opts', on_equal => 'newest');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_register('reg_opts', on_equal => 'KEEP');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_register('reg_opts', deletes => 'none');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_register('reg_opts', ordering => 'global');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_register('reg_opts', on_equal => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_register('reg_opts', sequence_column => '');
\echo :LAST_ERROR_SQLSTATE
-- a key column named twice
SELECT sequenced_register('reg_opts', key_columns => '{id,id}');
\echo :LAST_ERROR_SQLSTATE
-- nothing was registered or added
SELECT count(*) FROM sequenced_tables WHERE relid = 'reg_opts'::regclass;
SELECT * FROM reg_columns('reg_opts');

--
-- changing key_columns is refused while the table has tombstones (55000),
-- allowed once they are purged
--
CREATE TABLE reg_rekey (id int PRIMARY KEY, code text NOT NULL UNIQUE, name text);
SELECT sequenced_register('reg_rekey');
SELECT * FROM sequenced_upsert('reg_rekey', '[{"id": 1, "code": "a", "name": "one"},
                                              {"id": 2, "code": "b", "name": "two"}]', 10);
SELECT * FROM sequenced_delete('reg_rekey', '{"id": 2}', 11);
SELECT * FROM reg_rekey ORDER BY id;
SELECT sequenced_register('reg_rekey', key_columns => '{code}');
\echo :LAST_ERROR_SQLSTATE
SELECT relid, key_columns FROM sequenced_tables WHERE relid = 'reg_rekey'::regclass;
-- other options can still change
SELECT sequenced_register('reg_rekey', on_equal => 'replace');
SELECT relid, key_columns, on_equal FROM sequenced_tables WHERE relid = 'reg_rekey'::regclass;
-- purge the tombstone, then the key can change
SELECT sequenced_purge_tombstones('reg_rekey', 12);
SELECT sequenced_register('reg_rekey', key_columns => '{code}');
SELECT relid, key_columns, on_equal FROM sequenced_tables WHERE relid = 'reg_rekey'::regclass;
SELECT * FROM sequenced_upsert('reg_rekey', '{"id": 1, "code": "a", "name": "one v2"}', 20);
SELECT * FROM reg_rekey ORDER BY id;

--
-- generated and identity key columns
--
CREATE TABLE reg_always (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text);
SELECT sequenced_register('reg_always');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE reg_generated (a int NOT NULL, b int GENERATED ALWAYS AS (a * 2) STORED UNIQUE, name text);
SELECT sequenced_register('reg_generated', key_columns => '{b}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM sequenced_tables
 WHERE relid IN ('reg_always'::regclass, 'reg_generated'::regclass);
-- a BY DEFAULT identity key is allowed; the data sets it
CREATE TABLE reg_bydefault (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text);
SELECT sequenced_register('reg_bydefault');
SELECT relid, key_columns FROM sequenced_tables WHERE relid = 'reg_bydefault'::regclass;
SELECT * FROM sequenced_upsert('reg_bydefault', '[{"id": 100, "name": "hundred"}, {"id": 5, "name": "five"}]', 1);
SELECT * FROM sequenced_upsert('reg_bydefault', '{"id": 100, "name": "hundred v2"}', 2);
SELECT * FROM reg_bydefault ORDER BY id;

--
-- append-only: key_columns => '{}'
--
CREATE TABLE reg_append (event text, payload jsonb);
SELECT sequenced_register('reg_append', key_columns => '{}');
SELECT * FROM sequenced_tables WHERE relid = 'reg_append'::regclass;
SELECT * FROM reg_columns('reg_append');
SELECT * FROM sequenced_upsert('reg_append', '[{"event": "click", "payload": {"x": 1}},
                                               {"event": "click", "payload": {"x": 1}}]', 5);
-- an older message is not stale on an append-only table
SELECT * FROM sequenced_upsert('reg_append', '{"event": "view"}', 3);
SELECT * FROM reg_append ORDER BY _sdc_sequence, event, payload::text;
SELECT sequenced_max_sequence('reg_append');

--
-- a declaratively partitioned table
--
CREATE TABLE reg_parted (region text, id int, name text, PRIMARY KEY (region, id))
  PARTITION BY LIST (region);
CREATE TABLE reg_parted_eu PARTITION OF reg_parted FOR VALUES IN ('eu');
CREATE TABLE reg_parted_us PARTITION OF reg_parted FOR VALUES IN ('us');
SELECT sequenced_register('reg_parted');
SELECT * FROM sequenced_tables WHERE relid = 'reg_parted'::regclass;
SELECT * FROM reg_columns('reg_parted');
SELECT * FROM reg_columns('reg_parted_us');
SELECT * FROM sequenced_upsert('reg_parted', '[{"region": "eu", "id": 1, "name": "a"},
                                               {"region": "us", "id": 1, "name": "b"},
                                               {"region": "eu", "id": 2, "name": "c"}]', 100);
SELECT * FROM sequenced_upsert('reg_parted', '[{"region": "eu", "id": 1, "name": "a v2"},
                                               {"region": "us", "id": 1, "name": "b old"}]', 101);
SELECT * FROM sequenced_upsert('reg_parted', '{"region": "us", "id": 1, "name": "b older"}', 50);
SELECT * FROM sequenced_delete('reg_parted', '{"region": "eu", "id": 2}', 102);
SELECT tableoid::regclass AS part, * FROM reg_parted ORDER BY region, id;
SELECT sequenced_max_sequence('reg_parted');

--
-- the catalog: every registered table of this file
--
SELECT * FROM sequenced_tables WHERE relid::text LIKE 'reg\_%' ORDER BY relid::text;

--
-- the catalog is readable by every role and writable by none but the owner
--
CREATE ROLE regress_seq_reg_user NOLOGIN;
SET ROLE regress_seq_reg_user;
SELECT relid, key_columns FROM sequenced_tables WHERE relid = 'reg_default'::regclass;
-- (sequenced_max_sequence, like the table's rows, needs SELECT on it)
SELECT sequenced_max_sequence('reg_default');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SELECT ON reg_default TO regress_seq_reg_user;
SET ROLE regress_seq_reg_user;
SELECT sequenced_max_sequence('reg_default');
INSERT INTO sequenced_tables (relid, key_columns, sequence_column, on_equal, deletes, ordering)
  VALUES ('reg_opts', '{id}', '_sdc_sequence', 'keep', 'hard', 'per_key');
\echo :LAST_ERROR_SQLSTATE
UPDATE sequenced_tables SET on_equal = 'replace' WHERE relid = 'reg_default'::regclass;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM sequenced_tables WHERE relid = 'reg_default'::regclass;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT * FROM sequenced_tables WHERE relid IN ('reg_default'::regclass, 'reg_opts'::regclass);
REVOKE ALL ON reg_default FROM regress_seq_reg_user;
DROP ROLE regress_seq_reg_user;

--
-- unregister
--
SELECT sequenced_unregister('reg_named');
SELECT count(*) FROM sequenced_tables WHERE relid = 'reg_named'::regclass;
-- the table and its columns stay
SELECT * FROM reg_columns('reg_named');
SELECT * FROM reg_named ORDER BY code;
-- it takes no more messages
SELECT * FROM sequenced_upsert('reg_named', '{"id": 3, "code": "c"}', 7);
\echo :LAST_ERROR_SQLSTATE
-- unregistering a table that is not registered: 55000
SELECT sequenced_unregister('reg_named');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_unregister('reg_opts');
\echo :LAST_ERROR_SQLSTATE
-- a table can be registered again after unregistering
SELECT sequenced_register('reg_named', key_columns => '{code}');
SELECT * FROM sequenced_upsert('reg_named', '{"id": 3, "code": "c", "name": "third"}', 7);
SELECT * FROM reg_named ORDER BY code;

-- clean up
SELECT sequenced_unregister(relid) FROM sequenced_tables
 WHERE relid::text LIKE 'reg\_%' ORDER BY relid::text;
SELECT count(*) FROM sequenced_tables WHERE relid::text LIKE 'reg\_%';
DROP TABLE reg_default, reg_named, reg_badkey, reg_nopk, reg_intseq, reg_customseq,
  reg_customseq2, reg_customseq3, reg_soft, reg_opts, reg_rekey, reg_always,
  reg_generated, reg_bydefault, reg_append, reg_parted;
DROP FUNCTION reg_columns(regclass);

-- a key column whose type changes after registration is caught, not used
CREATE TABLE reg_retype (id int PRIMARY KEY, v text);
SELECT sequenced_register('reg_retype');
SELECT * FROM sequenced_upsert('reg_retype', '{"id": 1, "v": "a"}', 1);
ALTER TABLE reg_retype ALTER COLUMN id TYPE bigint;
SELECT * FROM sequenced_upsert('reg_retype', '{"id": 1, "v": "b"}', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_unregister('reg_retype');
SELECT sequenced_register('reg_retype');
SELECT * FROM sequenced_upsert('reg_retype', '{"id": 1, "v": "b"}', 2);
SELECT * FROM reg_retype;
DROP TABLE reg_retype;
SELECT count(*) FROM sequenced_tables WHERE relid::text = 'reg_retype';

-- a temporary table is refused: it goes away without the event that would
-- remove its registration
CREATE TEMP TABLE reg_temp (id int PRIMARY KEY);
SELECT sequenced_register('reg_temp');
\echo :LAST_ERROR_SQLSTATE
DROP TABLE reg_temp;

-- a deferrable key index cannot decide conflicts: refused, whether the key
-- is the primary key or named
CREATE TABLE reg_deferrable (id int PRIMARY KEY DEFERRABLE, v text);
SELECT sequenced_register('reg_deferrable');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_register('reg_deferrable', '{id}');
\echo :LAST_ERROR_SQLSTATE
-- ... even beside a NOT DEFERRABLE one (INSERT ... ON CONFLICT (id) would
-- refuse the table); without the deferrable one it serves
CREATE UNIQUE INDEX reg_deferrable_id ON reg_deferrable (id);
SELECT sequenced_register('reg_deferrable', '{id}');
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE reg_deferrable DROP CONSTRAINT reg_deferrable_pkey;
SELECT sequenced_register('reg_deferrable', '{id}');
SELECT * FROM sequenced_upsert('reg_deferrable', '{"id": 1, "v": "a"}', 1);
SELECT * FROM sequenced_delete('reg_deferrable', '{"id": 1}', 2);
SELECT sequenced_unregister('reg_deferrable');
DROP TABLE reg_deferrable;

-- soft deletes: a soft-deleted row is a row, not a tombstone, so it does not
-- stop a change of key columns; a delete of a key without a row is one
CREATE TABLE reg_softkey (id int PRIMARY KEY, u int UNIQUE NOT NULL);
SELECT sequenced_register('reg_softkey', deletes => 'soft');
SELECT * FROM sequenced_upsert('reg_softkey', '[{"id": 1, "u": 10}, {"id": 2, "u": 20}]', 2);
SELECT * FROM sequenced_delete('reg_softkey', '{"id": 2}', 3);
SELECT sequenced_purge_tombstones('reg_softkey', 1000);
SELECT sequenced_register('reg_softkey', '{u}', deletes => 'soft');
SELECT key_columns FROM sequenced_tables WHERE relid = 'reg_softkey'::regclass;
-- under the new key the soft-deleted row is still deleted: an older upsert is stale
SELECT * FROM sequenced_upsert('reg_softkey', '{"id": 2, "u": 20}', 3);
SELECT * FROM sequenced_upsert('reg_softkey', '{"id": 2, "u": 20}', 4);
SELECT id, u, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM reg_softkey ORDER BY id;
-- a tombstone (a deleted key with no row) does stop it
SELECT * FROM sequenced_delete('reg_softkey', '{"u": 30}', 5);
SELECT sequenced_register('reg_softkey', '{id}', deletes => 'soft');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_purge_tombstones('reg_softkey', 1000);
SELECT sequenced_register('reg_softkey', '{id}', deletes => 'soft');
SELECT key_columns FROM sequenced_tables WHERE relid = 'reg_softkey'::regclass;
SELECT sequenced_unregister('reg_softkey');
DROP TABLE reg_softkey;

-- an invalid unique index enforces nothing: a partitioned table's primary
-- key made with ALTER TABLE ONLY (invalid until every partition has one)
CREATE TABLE reg_only (id int NOT NULL, v text) PARTITION BY RANGE (id);
CREATE TABLE reg_only_1 PARTITION OF reg_only FOR VALUES FROM (0) TO (100);
ALTER TABLE ONLY reg_only ADD PRIMARY KEY (id);
SELECT sequenced_register('reg_only');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_register('reg_only', '{id}');
\echo :LAST_ERROR_SQLSTATE
DROP TABLE reg_only;
