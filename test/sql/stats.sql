--
-- stats: the view sequenced_stats, sequenced_stats_reset and
-- sequenced_last_call (src/stats.c)
--
-- The regression suite runs without shared_preload_libraries: the counts
-- are this session's (scope 'session'); test/t/011_stats.pl runs them
-- preloaded, shared across sessions.  Everything lives in schema sts; the
-- last section removes it.
--
CREATE SCHEMA sts;
SET search_path = sts, public;

CREATE TABLE sts.t (id int PRIMARY KEY, v text);
SELECT sequenced_register('sts.t');
CREATE TABLE sts.u (id int PRIMARY KEY, v text);
SELECT sequenced_register('sts.u', unchanged => 'skip');

-- the counts of sts.* only, in a stable order
CREATE VIEW sts.counts AS
SELECT relid, scope, calls, messages, inserted, updated, unchanged, deleted, stale, superseded,
       last_call IS NOT NULL AS called
  FROM sequenced_stats
 WHERE relid::oid IN (SELECT oid FROM pg_class WHERE relnamespace = 'sts'::regnamespace)
 ORDER BY relid::text;

-- before any call: every registered table, zeros, and the scope says the
-- counts are this session's; no last call
SELECT * FROM sts.counts;
SELECT * FROM sequenced_last_call();

--
-- sequenced_upsert (both forms) and sequenced_delete
--
SELECT outcome, count(*) FROM sequenced_upsert('sts.t', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}]', 10)
 GROUP BY outcome ORDER BY outcome;
SELECT ord, outcome FROM sequenced_upsert('sts.t', '[
  {"action": "upsert", "sequence": 20, "data": {"id": 1, "v": "a2"}},
  {"action": "upsert", "sequence": 5, "data": {"id": 2, "v": "old"}},
  {"action": "upsert", "sequence": 30, "data": {"id": 3, "v": "c3"}},
  {"action": "upsert", "sequence": 25, "data": {"id": 3, "v": "c25"}},
  {"action": "delete", "sequence": 40, "data": {"id": 2}}]') ORDER BY ord;
SELECT clock_timestamp() AS before \gset
SELECT ord, outcome FROM sequenced_delete('sts.t', '[{"id": 1}, {"id": 3}]', 25) ORDER BY ord;
SELECT * FROM sts.counts;
SELECT relid, messages, inserted, updated, unchanged, deleted, stale, superseded,
       called_at BETWEEN :'before' AND now() AS "when"
  FROM sequenced_last_call();
SELECT last_call BETWEEN :'before' AND now() AS "when" FROM sequenced_stats WHERE relid = 'sts.t'::regclass;

-- unchanged => 'skip': the stored values again
SELECT outcome FROM sequenced_upsert('sts.u', '{"id": 1, "v": "x"}', 1);
SELECT outcome FROM sequenced_upsert('sts.u', '{"id": 1, "v": "x"}', 2);
SELECT * FROM sts.counts WHERE relid = 'sts.u'::regclass;
SELECT relid, messages, inserted, updated, unchanged FROM sequenced_last_call();

-- a call without messages is a call
SELECT count(*) FROM sequenced_upsert('sts.u', '[]');
SELECT calls, messages FROM sts.counts WHERE relid = 'sts.u'::regclass;
SELECT relid, messages, inserted FROM sequenced_last_call();

-- a call that fails counts nothing, and is not the last call
SELECT * FROM sequenced_upsert('sts.t', '{"id": "nope"}', 50);
SELECT calls, messages FROM sts.counts WHERE relid = 'sts.t'::regclass;
SELECT relid, messages FROM sequenced_last_call();

-- a call whose transaction rolls back was made: it counts (the counts are
-- not transactional, as pg_stat_statements' are not)
BEGIN;
SELECT outcome FROM sequenced_upsert('sts.t', '{"id": 9, "v": "z"}', 50);
ROLLBACK;
SELECT calls, messages, inserted FROM sts.counts WHERE relid = 'sts.t'::regclass;

--
-- staging: one INSERT or COPY is one call (statement trigger), one row is
-- one call (row trigger); sequenced_last_call tells what it did
--
CREATE TABLE sts.inbox (id int, v text, _sdc_sequence bigint, _sdc_deleted boolean);
CREATE TRIGGER apply AFTER INSERT ON sts.inbox REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('sts.t');
SELECT sequenced_stats_reset('sts.t');
INSERT INTO sts.inbox VALUES (1, 'a60', 60, false), (1, 'a55', 55, false), (4, 'd', 60, false),
                             (2, 'b1', 1, false), (3, NULL, 60, true);
SELECT relid, messages, inserted, updated, unchanged, deleted, stale, superseded FROM sequenced_last_call();
COPY sts.inbox FROM stdin;
5	e	70	f
6	f	70	f
1	a70	70	f
4	d	1	f
\.
SELECT relid, messages, inserted, updated, unchanged, deleted, stale, superseded FROM sequenced_last_call();
-- an INSERT of no rows is a call of no messages
INSERT INTO sts.inbox SELECT * FROM sts.inbox WHERE false;
SELECT relid, messages, inserted FROM sequenced_last_call();
SELECT * FROM sts.counts WHERE relid = 'sts.t'::regclass;

CREATE TABLE sts.inbox_u (id int, v text, _sdc_sequence bigint);
CREATE TRIGGER apply BEFORE INSERT ON sts.inbox_u
  FOR EACH ROW EXECUTE FUNCTION sequenced_apply_staging('sts.u');
COPY sts.inbox_u FROM stdin;
1	x	3
2	y	3
3	z	3
\.
SELECT relid, messages, inserted, updated, unchanged FROM sequenced_last_call();
SELECT * FROM sts.counts WHERE relid = 'sts.u'::regclass;

--
-- sequenced_import, and sequenced_delete_missing (its own rows)
--
SELECT ord, outcome FROM sequenced_import('{
  "table_name": "sts_imported",
  "key_names": ["id"],
  "schema": {"properties": {"id": {"type": "integer"}, "v": {"type": "string"}}},
  "messages": [
    {"action": "upsert", "sequence": 1, "data": {"id": 1, "v": "a"}},
    {"action": "upsert", "sequence": 2, "data": {"id": 1, "v": "b"}},
    {"action": "upsert", "sequence": 1, "data": {"id": 2, "v": "c"}}]}') ORDER BY ord;
SELECT relid, messages, inserted, superseded FROM sequenced_last_call();
SELECT * FROM sts.counts WHERE relid = 'sts.sts_imported'::regclass;

SELECT sequenced_stats_reset('sts.t');
SELECT ord, key, outcome FROM sequenced_delete_missing('sts.t', 70, NULL) ORDER BY ord;
SELECT relid, messages, deleted FROM sequenced_last_call();
SELECT * FROM sts.counts WHERE relid = 'sts.t'::regclass;

--
-- pg_sequenced.track_stats = off: nothing is counted
--
SET pg_sequenced.track_stats = off;
SELECT outcome FROM sequenced_upsert('sts.t', '{"id": 7, "v": "g"}', 80);
SELECT calls, messages FROM sts.counts WHERE relid = 'sts.t'::regclass;
SELECT relid, messages, deleted FROM sequenced_last_call();
RESET pg_sequenced.track_stats;

--
-- rights: the view shows the tables the caller may read (SELECT on the
-- table or a column); resetting one table needs its ownership, every
-- table the extension owner's privileges
--
CREATE ROLE sts_reader;
CREATE ROLE sts_owner;
CREATE ROLE sts_nobody;
GRANT USAGE ON SCHEMA sts TO sts_reader, sts_owner, sts_nobody;
GRANT SELECT (v) ON sts.u TO sts_reader;
GRANT SELECT ON sts.counts TO sts_reader, sts_owner, sts_nobody;
ALTER TABLE sts.u OWNER TO sts_owner;
SET ROLE sts_nobody;
SELECT relid, scope, calls FROM sts.counts;
RESET ROLE;
SET ROLE sts_reader;
SELECT relid, scope, calls FROM sts.counts;
SELECT sequenced_stats_reset('sts.u');
SELECT sequenced_stats_reset();
RESET ROLE;
SET ROLE sts_owner;
SELECT relid, scope, calls FROM sts.counts;
SELECT sequenced_stats_reset('sts.u');
SELECT relid, calls FROM sts.counts;
SELECT sequenced_stats_reset();
RESET ROLE;
-- sequenced_stats_of: the tables named, but those the caller may not read
SET ROLE sts_reader;
SELECT relid, scope, calls FROM sequenced_stats_of(ARRAY['sts.t', 'sts.u', 'sts.inbox']::regclass[]);
RESET ROLE;
SELECT relid, scope, calls FROM sequenced_stats_of(ARRAY['sts.t', 'sts.u', 'sts.inbox']::regclass[]);

--
-- a table unregistered or dropped is not shown; reset() forgets every
-- table of this database
--
SELECT relid, calls FROM sts.counts;
SELECT sequenced_unregister('sts.u');
SELECT relid, calls FROM sts.counts;
DROP TABLE sts.sts_imported;
SELECT relid, calls FROM sts.counts;
SELECT sequenced_stats_reset(12345::regclass);
SELECT sequenced_stats_reset();
SELECT relid, calls, messages, called FROM sts.counts;
-- the last call stays the last call
SELECT relid, messages, deleted FROM sequenced_last_call();
SELECT sequenced_stats_reset(NULL);

DROP SCHEMA sts CASCADE;
-- the table of the last call dropped since: no row, no error
SELECT count(*) FROM sequenced_last_call();
DROP ROLE sts_reader;
DROP ROLE sts_owner;
DROP ROLE sts_nobody;
