--
-- staging: sequenced_apply_staging, the trigger that applies the rows
-- inserted into a staging table (SPEC section 3)
--
-- Everything lives in schema stg; the last section removes it.
--
CREATE SCHEMA stg;
SET search_path = stg, public;

CREATE TABLE stg.customers (id int PRIMARY KEY, name text, qty int DEFAULT 7, note text);
SELECT sequenced_register('stg.customers');

--
-- statement-level AFTER INSERT with a transition table (the default:
-- applied rows are removed from the staging table)
--
CREATE TABLE stg.inbox (id int, name text, qty int, note text,
                        _sdc_sequence bigint, _sdc_deleted boolean);
CREATE TRIGGER apply AFTER INSERT ON stg.inbox
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers');

INSERT INTO stg.inbox (id, name, qty, _sdc_sequence)
VALUES (1, 'Finn', 1, 100), (2, 'Jake', 2, 100), (3, 'Bubblegum', 3, 100);
SELECT * FROM stg.customers ORDER BY id;
-- consumed: nothing is left in the staging table
SELECT count(*) FROM stg.inbox;
SELECT sequenced_max_sequence('stg.customers');

-- one INSERT is one call: the highest sequence per key wins, whatever the
-- row order (superseded rows change nothing); an older row is stale
INSERT INTO stg.inbox (id, name, qty, _sdc_sequence) VALUES
  (1, 'Finn 300', 1, 300),
  (1, 'Finn 200', 1, 200),
  (2, 'Jake 150', 2, 150),
  (1, 'Finn 250', 1, 250),
  (2, 'Jake 400', 2, 400),
  (3, 'Bubblegum 50', 3, 50);
SELECT * FROM stg.customers ORDER BY id;
SELECT count(*) FROM stg.inbox;
-- equal sequences within one INSERT: on_equal keep, the first one wins
INSERT INTO stg.inbox (id, name, qty, _sdc_sequence) VALUES
  (4, 'Marceline first', 4, 500),
  (4, 'Marceline second', 4, 500);
SELECT * FROM stg.customers WHERE id = 4;
-- replaying the same rows changes nothing (stale against the stored rows)
INSERT INTO stg.inbox (id, name, qty, _sdc_sequence) VALUES
  (1, 'Finn 300 again', 1, 300),
  (4, 'Marceline again', 4, 500);
SELECT * FROM stg.customers ORDER BY id;
SELECT sequenced_max_sequence('stg.customers');

-- missing target columns take their DEFAULT, NULL staging values are NULL;
-- a message is the whole record, on update too (qty goes back to 7)
CREATE TABLE stg.inbox_subset (id int, name text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON stg.inbox_subset
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers');
UPDATE stg.customers SET note = 'set by hand' WHERE id = 2;
INSERT INTO stg.inbox_subset VALUES (5, 'Lumpy', 600), (2, NULL, 600);
SELECT * FROM stg.customers ORDER BY id;
SELECT count(*) FROM stg.inbox_subset;

-- the sequence column is the only required one: a staging table of just
-- the key and the sequence sets every other column to its default
CREATE TABLE stg.inbox_keys (_sdc_sequence int, id text);
CREATE TRIGGER apply AFTER INSERT ON stg.inbox_keys
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers');
-- (staging types differ from the target's: converted by type input)
INSERT INTO stg.inbox_keys VALUES (700, '5');
SELECT * FROM stg.customers WHERE id = 5;

--
-- deletes through _sdc_deleted
--
-- true: a delete; false or NULL: an upsert
INSERT INTO stg.inbox (id, _sdc_sequence, _sdc_deleted) VALUES (3, 800, true);
INSERT INTO stg.inbox (id, name, _sdc_sequence, _sdc_deleted) VALUES
  (6, 'Ice King', 800, false),
  (7, 'Gunter', 800, NULL);
SELECT * FROM stg.customers ORDER BY id;
-- the tombstone keeps a late, older row of key 3 out; a delete of a key
-- that has no row leaves a tombstone too
INSERT INTO stg.inbox (id, name, _sdc_sequence, _sdc_deleted) VALUES
  (3, 'Bubblegum late', 799, false),
  (8, NULL, 900, true);
INSERT INTO stg.inbox (id, name, _sdc_sequence) VALUES (8, 'BMO late', 899);
SELECT * FROM stg.customers ORDER BY id;
-- a delete and a newer upsert of one key in one INSERT: the upsert wins
INSERT INTO stg.inbox (id, name, _sdc_sequence, _sdc_deleted) VALUES
  (3, NULL, 1000, true),
  (3, 'Bubblegum returns', 1001, false);
-- and the other way round: the delete wins
INSERT INTO stg.inbox (id, name, _sdc_sequence, _sdc_deleted) VALUES
  (7, 'Gunter newer', 1001, false),
  (7, NULL, 1002, true);
SELECT * FROM stg.customers ORDER BY id;
SELECT count(*) FROM stg.inbox;
SELECT sequenced_max_sequence('stg.customers');

--
-- COPY through the trigger: the rows of one COPY are one call
--
COPY stg.inbox (id, name, qty, _sdc_sequence, _sdc_deleted) FROM STDIN;
10	Cinnamon Bun	1	1100	\N
10	Cinnamon Bun v3	3	1300	\N
10	Cinnamon Bun v2	2	1200	\N
11	Tree Trunks	\N	1100	f
6	\N	\N	1100	t
\.
SELECT * FROM stg.customers ORDER BY id;
SELECT count(*) FROM stg.inbox;
-- CSV, into the subset staging table
COPY stg.inbox_subset (id, name, _sdc_sequence) FROM STDIN WITH (FORMAT csv);
11,Tree Trunks v2,1200
12,Peppermint Butler,1200
\.
SELECT * FROM stg.customers WHERE id >= 10 ORDER BY id;
SELECT count(*) FROM stg.inbox_subset;

-- an INSERT of no rows fires the trigger on an empty transition table
INSERT INTO stg.inbox SELECT * FROM stg.inbox;
SELECT count(*) FROM stg.customers;

--
-- 'keep': the staging rows stay (an audit log)
--
CREATE TABLE stg.audit (id int, name text, _sdc_sequence bigint, _sdc_deleted boolean);
CREATE TRIGGER apply AFTER INSERT ON stg.audit
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers', 'keep');
INSERT INTO stg.audit (id, name, _sdc_sequence, _sdc_deleted) VALUES
  (13, 'Flame Princess', 1400, NULL),
  (13, 'Flame Princess old', 1300, NULL),
  (12, NULL, 1400, true);
SELECT * FROM stg.customers WHERE id >= 10 ORDER BY id;
SELECT id, name, _sdc_sequence, _sdc_deleted FROM stg.audit ORDER BY _sdc_sequence, id;
-- a stale row is kept too: the audit log has every row sent
INSERT INTO stg.audit (id, name, _sdc_sequence) VALUES (13, 'Flame Princess older', 1200);
SELECT id, name, _sdc_sequence, _sdc_deleted FROM stg.audit ORDER BY _sdc_sequence, id;
SELECT * FROM stg.customers WHERE id = 13;

-- consume mode removes only what it applied: rows inserted earlier in the
-- same transaction while the trigger did not fire stay, and are not applied
BEGIN;
ALTER TABLE stg.inbox_subset DISABLE TRIGGER apply;
INSERT INTO stg.inbox_subset VALUES (14, 'not applied', 1500);
ALTER TABLE stg.inbox_subset ENABLE TRIGGER apply;
INSERT INTO stg.inbox_subset VALUES (15, 'applied', 1500);
COMMIT;
SELECT * FROM stg.inbox_subset;
SELECT * FROM stg.customers WHERE id >= 14 ORDER BY id;
DELETE FROM stg.inbox_subset;

-- subtransactions: a rolled back INSERT applied nothing; the others are
-- applied and consumed
BEGIN;
SAVEPOINT a;
INSERT INTO stg.inbox_subset VALUES (16, 'rolled back', 1600);
ROLLBACK TO SAVEPOINT a;
INSERT INTO stg.inbox_subset VALUES (17, 'top level', 1600);
SAVEPOINT b;
INSERT INTO stg.inbox_subset VALUES (18, 'in a savepoint', 1600);
RELEASE SAVEPOINT b;
COMMIT;
SELECT * FROM stg.customers WHERE id >= 16 ORDER BY id;
SELECT count(*) FROM stg.inbox_subset;

--
-- row-level BEFORE INSERT: applies the row and returns NULL (not stored)
--
CREATE TABLE stg.inbox_row (id int, name text, _sdc_sequence bigint, _sdc_deleted boolean);
CREATE TRIGGER apply BEFORE INSERT ON stg.inbox_row
  FOR EACH ROW EXECUTE FUNCTION sequenced_apply_staging('customers');
INSERT INTO stg.inbox_row VALUES (20, 'row one', 2000, NULL);
-- each row on its own, in order: the later row 21 is stale against 2100
INSERT INTO stg.inbox_row VALUES (21, 'row 2100', 2100, NULL), (21, 'row 2050', 2050, NULL);
INSERT INTO stg.inbox_row VALUES (20, NULL, 2001, true);
SELECT * FROM stg.customers WHERE id >= 20 ORDER BY id;
SELECT count(*) FROM stg.inbox_row;
-- COPY through the row trigger
COPY stg.inbox_row FROM STDIN;
22	copied	2200	\N
21	row 2150	2150	\N
\.
SELECT * FROM stg.customers WHERE id >= 20 ORDER BY id;
SELECT count(*) FROM stg.inbox_row;
-- row level with 'keep': applied, and the row is stored
CREATE TABLE stg.inbox_row_keep (id int, name text, _sdc_sequence bigint);
CREATE TRIGGER apply BEFORE INSERT ON stg.inbox_row_keep
  FOR EACH ROW EXECUTE FUNCTION sequenced_apply_staging('customers', 'keep');
INSERT INTO stg.inbox_row_keep VALUES (23, 'kept', 2300), (23, 'kept, older', 2299);
SELECT * FROM stg.customers WHERE id = 23;
SELECT * FROM stg.inbox_row_keep ORDER BY _sdc_sequence;

--
-- bad rows fail the whole statement: the error names the row position,
-- nothing of the statement is applied, nothing stays in the staging table
--
-- a NULL key
INSERT INTO stg.inbox (id, name, _sdc_sequence) VALUES
  (30, 'first', 3000), (NULL, 'no key', 3000), (31, 'third', 3000);
\echo :LAST_ERROR_SQLSTATE
-- a NULL sequence
INSERT INTO stg.inbox (id, name, _sdc_sequence) VALUES
  (30, 'first', 3000), (31, 'second', 3000), (32, 'no sequence', NULL);
\echo :LAST_ERROR_SQLSTATE
-- a value the column type rejects (staging text into an int column)
CREATE TABLE stg.inbox_text (id text, qty text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON stg.inbox_text
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers');
INSERT INTO stg.inbox_text VALUES ('30', '1', 3000), ('31', 'many', 3000);
\echo :LAST_ERROR_SQLSTATE
-- the same through COPY
COPY stg.inbox (id, name, _sdc_sequence) FROM STDIN;
30	first	3000
\N	no key	3000
\.
-- and through the row-level trigger
INSERT INTO stg.inbox_row VALUES (30, 'first', 3000, NULL), (31, 'no sequence', NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM stg.customers WHERE id >= 30;
SELECT count(*) FROM stg.inbox;
SELECT count(*) FROM stg.inbox_text;
SELECT count(*) FROM stg.inbox_row;
SELECT sequenced_max_sequence('stg.customers');

--
-- staging tables that do not fit the target: errors when the trigger fires
--
-- a column the target lacks
CREATE TABLE stg.inbox_extra (id int, nickname text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON stg.inbox_extra
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers');
INSERT INTO stg.inbox_extra VALUES (40, 'Finny', 4000);
\echo :LAST_ERROR_SQLSTATE
-- no sequence column
CREATE TABLE stg.inbox_noseq (id int, name text);
CREATE TRIGGER apply AFTER INSERT ON stg.inbox_noseq
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers');
INSERT INTO stg.inbox_noseq VALUES (40, 'no sequence column');
\echo :LAST_ERROR_SQLSTATE
-- the row-level form checks the same
DROP TRIGGER apply ON stg.inbox_extra;
CREATE TRIGGER apply_row BEFORE INSERT ON stg.inbox_extra
  FOR EACH ROW EXECUTE FUNCTION sequenced_apply_staging('customers');
INSERT INTO stg.inbox_extra VALUES (40, 'Finny', 4000);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM stg.customers WHERE id >= 40;
SELECT count(*) FROM stg.inbox_extra;
SELECT count(*) FROM stg.inbox_noseq;

--
-- trigger protocol guards: SQLSTATE 39P01
--
CREATE TABLE stg.inbox_guard (id int, _sdc_sequence bigint);
-- statement level without a transition table
CREATE TRIGGER g AFTER INSERT ON stg.inbox_guard
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers');
INSERT INTO stg.inbox_guard VALUES (50, 5000);
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER g ON stg.inbox_guard;
-- statement level BEFORE
CREATE TRIGGER g BEFORE INSERT ON stg.inbox_guard
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers');
INSERT INTO stg.inbox_guard VALUES (50, 5000);
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER g ON stg.inbox_guard;
-- row level AFTER (with or without a transition table)
CREATE TRIGGER g AFTER INSERT ON stg.inbox_guard
  FOR EACH ROW EXECUTE FUNCTION sequenced_apply_staging('customers');
INSERT INTO stg.inbox_guard VALUES (50, 5000);
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER g ON stg.inbox_guard;
CREATE TRIGGER g AFTER INSERT ON stg.inbox_guard
  REFERENCING NEW TABLE AS new_rows
  FOR EACH ROW EXECUTE FUNCTION sequenced_apply_staging('customers');
INSERT INTO stg.inbox_guard VALUES (50, 5000);
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER g ON stg.inbox_guard;
-- fired by UPDATE, by DELETE
CREATE TRIGGER g BEFORE UPDATE OR DELETE ON stg.inbox_guard
  FOR EACH ROW EXECUTE FUNCTION sequenced_apply_staging('customers');
INSERT INTO stg.inbox_guard VALUES (50, 5000);
UPDATE stg.inbox_guard SET _sdc_sequence = 5001;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM stg.inbox_guard;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER g ON stg.inbox_guard;
CREATE TRIGGER g AFTER UPDATE ON stg.inbox_guard
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers');
UPDATE stg.inbox_guard SET _sdc_sequence = 5001;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER g ON stg.inbox_guard;
-- no argument
CREATE TRIGGER g BEFORE INSERT ON stg.inbox_guard
  FOR EACH ROW EXECUTE FUNCTION sequenced_apply_staging();
INSERT INTO stg.inbox_guard VALUES (50, 5000);
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER g ON stg.inbox_guard;
-- three arguments
CREATE TRIGGER g AFTER INSERT ON stg.inbox_guard
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers', 'keep', 'more');
INSERT INTO stg.inbox_guard VALUES (50, 5000);
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER g ON stg.inbox_guard;
-- a second argument that is not 'keep'
CREATE TRIGGER g AFTER INSERT ON stg.inbox_guard
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers', 'KEEP');
INSERT INTO stg.inbox_guard VALUES (50, 5000);
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER g ON stg.inbox_guard;
-- not called as a trigger
SELECT sequenced_apply_staging();
\echo :LAST_ERROR_SQLSTATE
-- nothing was applied by any of these
SELECT count(*) FROM stg.customers WHERE id >= 50;
SELECT * FROM stg.inbox_guard;

-- the target: unregistered (55000), missing (42P01)
CREATE TABLE stg.plain (id int PRIMARY KEY, _sdc_sequence bigint);
CREATE TRIGGER g AFTER INSERT ON stg.inbox_guard
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('plain');
INSERT INTO stg.inbox_guard VALUES (50, 5000);
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER g ON stg.inbox_guard;
CREATE TRIGGER g BEFORE INSERT ON stg.inbox_guard
  FOR EACH ROW EXECUTE FUNCTION sequenced_apply_staging('no_such_table');
INSERT INTO stg.inbox_guard VALUES (50, 5000);
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER g ON stg.inbox_guard;
SELECT count(*) FROM stg.plain;
SELECT * FROM stg.inbox_guard;

--
-- which table an unqualified target name means: the staging table's schema
-- first, then search_path
--
CREATE SCHEMA stg_other;
CREATE TABLE stg_other.customers (id int PRIMARY KEY, name text);
SELECT sequenced_register('stg_other.customers');
CREATE TABLE stg_other.only_other (id int PRIMARY KEY, name text);
SELECT sequenced_register('stg_other.only_other');
-- stg.inbox_where names 'customers': stg.customers, even with stg_other first
CREATE TABLE stg.inbox_where (id int, name text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON stg.inbox_where
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('customers');
SET search_path = stg_other, stg, public;
INSERT INTO stg.inbox_where VALUES (60, 'to stg', 6000);
-- a name missing from the staging table's schema is looked up in search_path
CREATE TABLE stg.inbox_path (id int, name text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON stg.inbox_path
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('only_other');
INSERT INTO stg.inbox_path VALUES (61, 'to stg_other', 6100);
-- a qualified name is that table
CREATE TABLE stg.inbox_qual (id int, name text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON stg.inbox_qual
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('stg_other.customers');
INSERT INTO stg.inbox_qual VALUES (62, 'to stg_other', 6200);
SET search_path = stg, public;
SELECT id, name FROM stg.customers WHERE id >= 60 ORDER BY id;
SELECT id, name FROM stg_other.customers ORDER BY id;
SELECT id, name FROM stg_other.only_other ORDER BY id;

--
-- privileges: the inserting role needs the target's rights, and DELETE on
-- the staging table unless 'keep'
--
CREATE ROLE regress_stg_writer NOLOGIN;
GRANT USAGE ON SCHEMA stg TO regress_stg_writer;
GRANT INSERT ON stg.inbox, stg.audit TO regress_stg_writer;
SET ROLE regress_stg_writer;
INSERT INTO stg.inbox (id, name, _sdc_sequence) VALUES (70, 'no rights', 7000);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SELECT, INSERT, UPDATE, DELETE ON stg.customers TO regress_stg_writer;
-- rights on the target, but no DELETE on the staging table
SET ROLE regress_stg_writer;
INSERT INTO stg.inbox (id, name, _sdc_sequence) VALUES (70, 'no delete', 7000);
\echo :LAST_ERROR_SQLSTATE
-- 'keep' does not need it
INSERT INTO stg.audit (id, name, _sdc_sequence) VALUES (71, 'kept', 7100);
RESET ROLE;
-- DELETE is what it needs (not SELECT)
GRANT DELETE ON stg.inbox TO regress_stg_writer;
SET ROLE regress_stg_writer;
INSERT INTO stg.inbox (id, name, _sdc_sequence) VALUES (70, 'consumed', 7000);
RESET ROLE;
SELECT id, name FROM stg.customers WHERE id >= 70 ORDER BY id;
SELECT count(*) FROM stg.inbox;

--
-- the final state
--
SELECT id, name, qty, note, _sdc_sequence FROM stg.customers ORDER BY id;
SELECT sequenced_max_sequence('stg.customers');

-- clean up
RESET search_path;
SELECT sequenced_unregister(relid) FROM sequenced_tables
 WHERE relid::text LIKE 'stg%' ORDER BY relid::text;
SET client_min_messages = warning;
DROP SCHEMA stg, stg_other CASCADE;
RESET client_min_messages;
DROP ROLE regress_stg_writer;

-- a temporary staging table (its target cannot be temporary: register.sql)
CREATE TABLE stg_perm (id int PRIMARY KEY, v text);
SELECT sequenced_register('stg_perm');
CREATE TEMP TABLE stg_tmp_inbox (id int, v text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON stg_tmp_inbox REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('stg_perm');
INSERT INTO stg_tmp_inbox VALUES (1, 'a', 5), (1, 'b', 4), (2, 'x', 1);
SELECT * FROM stg_perm ORDER BY id;
SELECT count(*) AS staged FROM stg_tmp_inbox;
DROP TABLE stg_tmp_inbox, stg_perm;
