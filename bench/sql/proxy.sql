-- bench/sql/proxy.sql: the dataset and the timed loop of bench/proxy.sh, on
-- the server a client talks to: the proxy (pg_sequenced_proxy) or the
-- single server without it (pg_sequenced).  psql variable: work (dataset
-- directory, readable by the server).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- the message stream, in arrival order; every 11th message deletes its key
-- (at its own sequence), as in test/t/010_proxy.pl
CREATE TABLE msgs (pos int PRIMARY KEY, msg jsonb NOT NULL);
\set msgs_file :work '/msgs.tsv'
COPY msgs FROM :'msgs_file';
UPDATE msgs SET msg = jsonb_build_object('action', 'delete', 'sequence', msg->'sequence',
                                         'data', jsonb_build_object('id', msg->'data'->'id'))
 WHERE pos % 11 = 0;

-- Batches as text, uncompressed: each call parses its batch from text, as
-- a call from a client does, on the proxy and on the single server alike.
CREATE TABLE batches (bsize int, batch_no int, payload text NOT NULL, PRIMARY KEY (bsize, batch_no));
ALTER TABLE batches ALTER payload SET STORAGE EXTERNAL;
INSERT INTO batches
SELECT s.b, (m.pos - 1) / s.b + 1, jsonb_agg(m.msg ORDER BY m.pos)::text
  FROM (VALUES (100), (10000)) s(b) JOIN msgs m ON true
 GROUP BY 1, 2;
VACUUM ANALYZE msgs, batches;

-- The timed loop: one call (and one transaction) per batch, timed inside.
-- apply_batch(tbl text, payload jsonb) RETURNS bigint is made by
-- bench/proxy.sh: sequenced_upsert(tbl::regclass, payload) on the single
-- server, sequenced_upsert(tbl, payload) on the proxy (whose functions
-- name the table by text), each in PL/pgSQL so that its plan is cached.
CREATE PROCEDURE run(tbl text, bs int, INOUT secs float8 DEFAULT NULL, INOUT msgs bigint DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
  p text;
  nb int;
BEGIN
  SELECT count(*) INTO nb FROM batches WHERE bsize = bs;
  msgs := 0;
  t0 := clock_timestamp();
  FOR b IN 1 .. nb LOOP
    SELECT payload INTO p FROM batches WHERE bsize = bs AND batch_no = b;
    msgs := msgs + apply_batch(tbl, p::jsonb);
    COMMIT;
  END LOOP;
  secs := extract(epoch FROM clock_timestamp() - t0);
END $$;
