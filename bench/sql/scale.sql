-- bench/sql/scale.sql: data for the concurrency test (2 sessions on disjoint
-- keys vs 1) and the 1-call memory test.  psql variables: ids, sbatch.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- client 0 gets the ids 1..ids/2, client 1 the rest; each its own batches
-- of :sbatch messages in stream order
CREATE TABLE scale_batches (client int, batch_no int, payload jsonb NOT NULL,
                            n int, PRIMARY KEY (client, batch_no));
ALTER TABLE scale_batches ALTER payload SET STORAGE EXTERNAL;
INSERT INTO scale_batches
SELECT c, (rn - 1) / :sbatch + 1, jsonb_agg(msg ORDER BY pos), count(*)
  FROM (SELECT pos, msg, c, row_number() OVER (PARTITION BY c ORDER BY pos) AS rn
          FROM (SELECT pos, msg, CASE WHEN (msg->'data'->>'id')::int <= :ids / 2 THEN 0 ELSE 1 END AS c
                  FROM msgs) s0) s
 GROUP BY 1, 2;

-- one payload holding every message
CREATE TABLE big (payload jsonb NOT NULL);
ALTER TABLE big ALTER payload SET STORAGE EXTERNAL;
INSERT INTO big SELECT jsonb_agg(msg ORDER BY pos) FROM msgs;
VACUUM ANALYZE scale_batches, big;

CREATE PROCEDURE reset_scale() LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tgt_scale', 'tgt_mem'] LOOP
    IF EXISTS (SELECT 1 FROM sequenced_tables WHERE relid::text = t) THEN
      PERFORM sequenced_unregister(t::regclass);
    END IF;
  END LOOP;
  DROP TABLE IF EXISTS tgt_scale, tgt_scale_oc, tgt_mem, tgt_mem_oc;
  FOREACH t IN ARRAY ARRAY['tgt_scale', 'tgt_mem'] LOOP
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, name text, age int, has_magic boolean)', t);
    PERFORM sequenced_register(t::regclass);
  END LOOP;
  FOREACH t IN ARRAY ARRAY['tgt_scale_oc', 'tgt_mem_oc'] LOOP
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, name text, age int, has_magic boolean, _sdc_sequence bigint)', t);
  END LOOP;
END $$;
