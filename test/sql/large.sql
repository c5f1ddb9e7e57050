--
-- large calls: from SEQ_LAZY_MESSAGES (20,000) records on, a call keeps only
-- the keys of its records and converts the winners again before writing.
-- The result must not depend on it: the same 30,000 messages applied in one
-- call and in 300 calls of 100 give the same rows, outcomes and feed.
--
CREATE TABLE big_one (id int PRIMARY KEY, v text, n numeric DEFAULT 7,
                      tags text[], doc jsonb, d date, note text DEFAULT 'none');
CREATE TABLE big_many (LIKE big_one INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE big_many ADD PRIMARY KEY (id);
SELECT sequenced_register('big_one'), sequenced_register('big_many');

-- 30,000 messages over 15,000 keys (more than one write chunk of 10,000):
-- upserts with and without optional columns, deletes, late (stale) and
-- superseded messages, ties
CREATE TEMP TABLE big_msgs AS
SELECT i AS ord,
       jsonb_build_object(
         'action', CASE WHEN i % 11 = 0 THEN 'delete' ELSE 'upsert' END,
         'sequence', (i * 7919) % 40000,
         'data', CASE WHEN i % 11 = 0 THEN jsonb_build_object('id', i % 15000)
                      WHEN i % 3 = 0 THEN jsonb_build_object('id', i % 15000, 'v', 'v' || i)
                      ELSE jsonb_build_object('id', (i % 15000)::text, 'v', repeat('x', i % 50),
                                              'n', i / 7.0, 'tags', jsonb_build_array('a' || i, 'b'),
                                              'doc', jsonb_build_object('i', i, 'nested', jsonb_build_array(1, 2, i)),
                                              'd', '2026-01-01'::date + (i % 300), 'note', NULL)
                 END) AS msg
  FROM generate_series(1, 30000) i;

CREATE TEMP TABLE out_one AS
SELECT * FROM sequenced_upsert('big_one', (SELECT jsonb_agg(msg ORDER BY ord) FROM big_msgs));

DO $$
BEGIN
    FOR b IN 0..299 LOOP
        PERFORM FROM sequenced_upsert('big_many',
                 (SELECT jsonb_agg(msg ORDER BY ord) FROM big_msgs WHERE ord > b * 100 AND ord <= (b + 1) * 100));
    END LOOP;
END
$$;

SELECT outcome, count(*) FROM out_one GROUP BY outcome ORDER BY outcome;
-- the same final rows and max sequence
SELECT (SELECT count(*) FROM big_one) AS rows_one,
       (SELECT count(*) FROM big_one o FULL JOIN big_many m USING (id)
         WHERE o IS DISTINCT FROM m) AS differing_rows,
       sequenced_max_sequence('big_one') = sequenced_max_sequence('big_many') AS same_max;
-- defaults and nulls of the winners: records without n/note took the defaults
SELECT count(*) FILTER (WHERE n = 7 AND note = 'none' AND tags IS NULL) AS defaulted,
       count(*) FILTER (WHERE note IS NULL AND doc->'nested'->>2 = doc->>'i') AS full_records
  FROM big_one;
-- every key's final state is its newest message (first in input order on ties)
SELECT count(*) AS keys_not_newest
  FROM (SELECT DISTINCT ON (k) k, (msg->>'sequence')::bigint AS seq, msg->>'action' AS action
          FROM (SELECT ord, msg, (msg->'data'->>'id')::int AS k FROM big_msgs) s
         ORDER BY k, (msg->>'sequence')::bigint DESC, ord) w
  LEFT JOIN big_one t ON t.id = w.k
 WHERE (w.action = 'upsert') IS DISTINCT FROM (t.id IS NOT NULL AND t._sdc_sequence = w.seq);
-- the feed of both tables: the same keys, states and records
SELECT count(*) AS feed_rows,
       count(*) FILTER (WHERE a.deleted IS DISTINCT FROM b.deleted
                           OR a.record - '_sdc_sequence' IS DISTINCT FROM b.record - '_sdc_sequence'
                           OR a.seq IS DISTINCT FROM b.seq) AS feed_differences
  FROM sequenced_changes('big_one') a FULL JOIN sequenced_changes('big_many') b USING (key);

-- a bad value in the last record of a large call: nothing applied, the
-- error names the record
SELECT count(*) AS before FROM big_one \gset
SELECT * FROM sequenced_upsert('big_one',
         (SELECT jsonb_agg(msg ORDER BY ord) FROM big_msgs)
         || jsonb_build_array(jsonb_build_object('sequence', 99999, 'data', jsonb_build_object('id', 1, 'd', 'not a date'))));
SELECT count(*) = :before AS unchanged, count(*) FILTER (WHERE _sdc_sequence >= 99999) AS applied FROM big_one;
