--
-- timestamps: a sequence column of type timestamptz (issue 23, item 4).
-- Sequences are then the timestamp's own int64 -- microseconds since
-- 2000-01-01 00:00 UTC -- in every output; messages carry RFC 3339 strings,
-- and a number there is refused naming the units.
--
SET timezone = 'UTC';
CREATE TABLE ts_t (id int PRIMARY KEY, v text, updated_at timestamptz);
SELECT sequenced_register('ts_t', sequence_column => 'updated_at');
SELECT sequence_column FROM sequenced_tables WHERE relid = 'ts_t'::regclass;

-- the seq argument: sequenced_seq(timestamptz) gives the number
SELECT sequenced_seq('2026-12-07 10:00:00+00'), sequenced_seq('2000-01-01 00:00:00.000001+00'),
       sequenced_seq_time(sequenced_seq('2026-12-07 10:00:00.123456+00'));
SELECT * FROM sequenced_upsert('ts_t', '{"id": 1, "v": "ten"}', sequenced_seq('2026-12-07 10:00:00+00'));
-- messages: RFC 3339, any offset; ordering as the type orders (to the microsecond)
SELECT ord, key, sequenced_seq_time(seq) AS at, outcome FROM sequenced_upsert('ts_t', '[
  {"sequence": "2026-12-07T09:59:59.999999Z", "data": {"id": 1, "v": "older by a microsecond"}},
  {"sequence": "2026-12-07T11:00:00.000001+01:00", "data": {"id": 1, "v": "newer by a microsecond"}},
  {"sequence": "2026-12-07T10:00:00Z", "data": {"id": 2, "v": "two"}}]');
SELECT id, v, updated_at FROM ts_t ORDER BY id;
-- the sequence column holds the winning message's timestamp
SELECT updated_at = '2026-12-07 10:00:00.000001+00' AS exact FROM ts_t WHERE id = 1;

-- a number as the sequence of a message: refused, naming the units
SELECT * FROM sequenced_upsert('ts_t', '[{"sequence": 1765101600000, "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('ts_t', '[{"sequence": "yesterday-ish", "data": {"id": 1}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('ts_t', '{"id": 1}', NULL);
\echo :LAST_ERROR_SQLSTATE

-- deletes, the feed, max_sequence: the same numbers
SELECT ord, key, sequenced_seq_time(seq) AS at, outcome
  FROM sequenced_delete('ts_t', '{"id": 2}', sequenced_seq('2026-12-07 12:00:00+00'));
SELECT key, sequenced_seq_time(seq) AS at, deleted FROM sequenced_changes('ts_t') ORDER BY pos;
SELECT sequenced_seq_time(sequenced_max_sequence('ts_t'));
SELECT outcome FROM sequenced_upsert('ts_t', '{"id": 2, "v": "late"}', sequenced_seq('2026-12-07 11:00:00+00'));

-- staging: a timestamptz column, or text holding timestamps; a number is refused
CREATE TABLE ts_stg (id int, v text, updated_at timestamptz);
CREATE TRIGGER apply AFTER INSERT ON ts_stg REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('ts_t');
INSERT INTO ts_stg VALUES (3, 'staged', '2026-12-07 13:00:00+00'), (1, 'staged late', '2026-12-01 00:00:00+00');
CREATE TABLE ts_stg_text (id int, v text, updated_at text);
CREATE TRIGGER apply AFTER INSERT ON ts_stg_text REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('ts_t');
INSERT INTO ts_stg_text VALUES (4, 'from text', '2026-12-07T14:00:00Z');
CREATE TABLE ts_stg_num (id int, v text, updated_at bigint);
CREATE TRIGGER apply AFTER INSERT ON ts_stg_num REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('ts_t');
INSERT INTO ts_stg_num VALUES (5, 'a number', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT id, v, updated_at FROM ts_t ORDER BY id;

-- a bigint-ordered table refuses a timestamptz staging column
CREATE TABLE ts_big (id int PRIMARY KEY, v text);
SELECT sequenced_register('ts_big');
CREATE TABLE ts_big_stg (id int, v text, _sdc_sequence timestamptz);
CREATE TRIGGER apply AFTER INSERT ON ts_big_stg REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('ts_big');
INSERT INTO ts_big_stg VALUES (1, 'x', now());
\echo :LAST_ERROR_SQLSTATE

-- registration takes bigint or timestamptz, nothing else
CREATE TABLE ts_bad (id int PRIMARY KEY, v text, seq_col date);
SELECT sequenced_register('ts_bad', sequence_column => 'seq_col');
\echo :LAST_ERROR_SQLSTATE

-- rescans at a timestamp
SELECT * FROM sequenced_delete_missing_count('ts_t', sequenced_seq('2026-12-07 13:30:00+00'));
SELECT ord, key FROM sequenced_delete_missing('ts_t', sequenced_seq('2026-12-07 13:30:00+00'), 1);
SELECT id FROM ts_t ORDER BY id;

-- a seq argument that is no timestamp (outside the type's range, not one of
-- its infinities) is refused by every call that takes one, naming the
-- column; nothing is written; the infinities are timestamps
SELECT sequenced_max_sequence('ts_t') AS before_max, count(*) AS before_rows FROM ts_t \gset
SELECT * FROM sequenced_upsert('ts_t', '{"id": 50, "v": "x"}', 9223371331200000000);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete('ts_t', '{"id": 1}', -9223372036854775807);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing('ts_t', -211813488000000001);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_delete_missing_count('ts_t', 9223372036854775806);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY verbose
SELECT * FROM sequenced_upsert('ts_t', '{"id": 50, "v": "x"}', -4611686018427387904);
\set VERBOSITY default
SELECT count(*) = :before_rows AS rows_kept, sequenced_max_sequence('ts_t') = :before_max AS max_kept FROM ts_t;
SELECT ord, key, seq, outcome FROM sequenced_upsert('ts_t', '{"id": 50, "v": "x"}', -9223372036854775808);
SELECT ord, key, seq, outcome FROM sequenced_upsert('ts_t', '{"id": 51, "v": "x"}', 9223372036854775807);
SELECT id, updated_at, sequenced_seq(updated_at) FROM ts_t WHERE id IN (50, 51) ORDER BY id;
-- sequenced_seq and sequenced_seq_time are exact at every value the type
-- holds, its ends and infinities included
SELECT t, sequenced_seq(t), sequenced_seq_time(sequenced_seq(t)) = t AS round_trip
  FROM unnest(ARRAY['-infinity', '4714-11-24 00:00:00+00 BC', '1999-12-31 23:59:59.999999+00',
                    '2000-01-01 00:00:00+00', '2026-12-07 13:30:00.000001+00',
                    '294276-12-31 23:59:59.999999+00', 'infinity']::timestamptz[]) t;
SELECT sequenced_seq_time(9223371331200000000);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_seq_time(-211813488000000001);
\echo :LAST_ERROR_SQLSTATE

SELECT sequenced_unregister('ts_t'), sequenced_unregister('ts_big');
DROP TABLE ts_t, ts_stg, ts_stg_text, ts_stg_num, ts_big, ts_big_stg, ts_bad;
RESET timezone;
