-- bench/sql/rescan.sql: the rescan cells (issue 19).  Loaded after setup.sql.
-- psql variables: rows (keys in the table), rbatch (records per page),
-- nrescans (how many rescans, each a new snapshot at a new sequence).
--
-- The source: keys 1..rows.  Rescan k (k = 1, 2, ...) is a full snapshot
-- at sequence rs_s(k): every key not gone by then, in key order (keyset
-- pagination), in pages of rbatch records.  Each key disappears at one
-- rescan in 1..200 and changes at one rescan in 1..100 (fixed hashes of the
-- key), so each rescan finds 0.5% of the keys gone and 1% of them changed
-- (name, age and has_magic all take the key's new version).  Rescan 0 is
-- the initial load (every key, version 0), untimed.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE TABLE rs_conf AS SELECT :rows::int AS nrows, :rbatch::int AS rbatch, :nrescans::int AS nrescans;

-- the sequence of rescan k (0: the initial load)
CREATE FUNCTION rs_s(k int) RETURNS bigint LANGUAGE sql IMMUTABLE AS
  $$ SELECT 1000000::bigint * (k + 1) $$;
-- the rescan at which a key is gone (1..200), and at which it changes (1..100)
CREATE FUNCTION rs_gone_at(id int) RETURNS int LANGUAGE sql IMMUTABLE AS
  $$ SELECT (((hashint4extended(id, 19) % 200) + 200) % 200)::int + 1 $$;
CREATE FUNCTION rs_changed_at(id int) RETURNS int LANGUAGE sql IMMUTABLE AS
  $$ SELECT (((hashint4extended(id, 1919) % 100) + 100) % 100)::int + 1 $$;

-- the snapshot of rescan k: every key there, its values, and the rescan
-- that wrote its current version (0: the initial load)
CREATE FUNCTION rs_snapshot(k int)
RETURNS TABLE (id int, name text, age int, has_magic boolean, v int)
LANGUAGE sql STABLE AS $$
  SELECT g.id, 'customer ' || g.id || ' v' || x.v, (g.id + x.v) % 100, (g.id + x.v) % 3 = 0, x.v
    FROM generate_series(1, (SELECT nrows FROM rs_conf)) AS g(id),
         LATERAL (SELECT CASE WHEN k >= 1 AND rs_changed_at(g.id) <= k THEN rs_changed_at(g.id) ELSE 0 END AS v) x
   WHERE k = 0 OR rs_gone_at(g.id) > k
$$;

-- the pages: one jsonb array of records per page (stored uncompressed,
-- like the main cells' batches), all of one rescan sent at rs_s(k)
CREATE TABLE rs_batches (k int, batch_no int, n int, payload jsonb NOT NULL,
                         PRIMARY KEY (k, batch_no));
ALTER TABLE rs_batches ALTER payload SET STORAGE EXTERNAL;
INSERT INTO rs_batches
SELECT k, (rn - 1) / (SELECT rbatch FROM rs_conf) + 1, count(*),
       jsonb_agg(jsonb_build_object('id', id, 'name', name, 'age', age, 'has_magic', has_magic) ORDER BY id)
  FROM (SELECT k.k, s.*, row_number() OVER (PARTITION BY k.k ORDER BY s.id) AS rn
          FROM generate_series(0, :nrescans) AS k(k), LATERAL rs_snapshot(k.k) s) s
 GROUP BY 1, 2;

-- what each rescan does to the table (for the report)
CREATE TABLE rs_stats AS
SELECT k, (SELECT count(*) FROM rs_snapshot(k)) AS records,
       (SELECT count(*) FROM rs_snapshot(k) s WHERE s.v = k) AS changed,
       (SELECT count(*) FROM rs_snapshot(k - 1)) - (SELECT count(*) FROM rs_snapshot(k)) AS gone
  FROM generate_series(1, :nrescans) AS k;

-- The table after rescan k and its deletes: 'write' rewrites every row
-- with rs_s(k); 'skip' (and plain SQL that skips unchanged rows) keeps the
-- sequence of the rescan that wrote the row's current version.
CREATE FUNCTION rs_ref(k int, skip boolean)
RETURNS TABLE (id int, name text, age int, has_magic boolean, _sdc_sequence bigint)
LANGUAGE sql STABLE AS $$
  SELECT id, name, age, has_magic, CASE WHEN skip THEN rs_s(v) ELSE rs_s(k) END FROM rs_snapshot(k)
$$;

CREATE FUNCTION rs_table(approach text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE approach WHEN 'rescan_seq_skip' THEN 'rs_seq_skip' WHEN 'rescan_seq_write' THEN 'rs_seq_write'
                       WHEN 'rescan_plain_write' THEN 'rs_plain_write' WHEN 'rescan_plain_skip' THEN 'rs_plain_skip' END
$$;

-- (Re)create the four tables, empty.
CREATE PROCEDURE rs_reset() LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['rs_seq_skip', 'rs_seq_write'] LOOP
    IF EXISTS (SELECT 1 FROM sequenced_tables WHERE relid::text = t) THEN
      PERFORM sequenced_unregister(t::regclass);
    END IF;
  END LOOP;
  DROP TABLE IF EXISTS rs_seq_skip, rs_seq_write, rs_plain_write, rs_plain_skip, rs_keys;
  CREATE TABLE rs_seq_skip (id int PRIMARY KEY, name text, age int, has_magic boolean);
  PERFORM sequenced_register('rs_seq_skip', unchanged => 'skip');
  CREATE TABLE rs_seq_write (id int PRIMARY KEY, name text, age int, has_magic boolean);
  PERFORM sequenced_register('rs_seq_write', unchanged => 'write');
  CREATE TABLE rs_plain_write (id int PRIMARY KEY, name text, age int, has_magic boolean, _sdc_sequence bigint);
  CREATE TABLE rs_plain_skip (id int PRIMARY KEY, name text, age int, has_magic boolean, _sdc_sequence bigint);
  -- the keys a plain-SQL rescan has sent (its anti-join's other side): no
  -- index, no WAL, emptied by each rescan's delete step
  CREATE UNLOGGED TABLE rs_keys (id int);
END $$;

-- The initial load (rescan 0), untimed: the registered tables through
-- sequenced_upsert page by page, as their rows would have come; the plain
-- ones by one INSERT.
CREATE PROCEDURE rs_load() LANGUAGE plpgsql AS $$
DECLARE p jsonb; s bigint := rs_s(0); n bigint;
BEGIN
  FOR p IN SELECT payload FROM rs_batches WHERE k = 0 ORDER BY batch_no LOOP
    SELECT count(*) INTO n FROM sequenced_upsert('rs_seq_skip', p, s);
    SELECT count(*) INTO n FROM sequenced_upsert('rs_seq_write', p, s);
    COMMIT;
  END LOOP;
  INSERT INTO rs_plain_write SELECT * FROM rs_ref(0, false);
  INSERT INTO rs_plain_skip SELECT * FROM rs_ref(0, true);
  COMMIT;
END $$;

-- One timed rescan: every page of snapshot k in its own transaction, then
-- the delete step in one more; messages/s = snapshot records / (pages +
-- delete step).  Static SQL per approach.  WAL = pg_current_wal_insert_lsn()
-- before and after.  Feed positions created (pg_sequenced) are counted
-- after the clock stopped.
CREATE PROCEDURE run_rescan(approach text, k int, max_fraction float8 DEFAULT 0.01)
LANGUAGE plpgsql AS $$
DECLARE
  s bigint := rs_s(k); nb int; p jsonb; n bigint; tot bigint := 0; written bigint := 0; ndel bigint;
  t0 timestamptz; t1 timestamptz; t2 timestamptz; lsn0 pg_lsn; lsn1 pg_lsn; pos0 bigint; npos bigint;
  tbl text := rs_table(approach); unch bigint := 0;
BEGIN
  IF tbl IS NULL THEN RAISE EXCEPTION 'unknown approach %', approach; END IF;
  IF approach LIKE 'rescan_seq%' THEN
    SELECT last_position INTO pos0 FROM sequenced_feed_status(tbl::regclass);
  END IF;
  SELECT count(*) INTO nb FROM rs_batches WHERE rs_batches.k = run_rescan.k;
  lsn0 := pg_current_wal_insert_lsn();
  t0 := clock_timestamp();
  FOR b IN 1..nb LOOP
    SELECT payload INTO p FROM rs_batches WHERE rs_batches.k = run_rescan.k AND batch_no = b;
    IF approach = 'rescan_seq_skip' THEN
      SELECT count(*), count(*) FILTER (WHERE outcome = 'unchanged') INTO n, unch
        FROM sequenced_upsert('rs_seq_skip', p, s);
      written := written + n - unch;
    ELSIF approach = 'rescan_seq_write' THEN
      SELECT count(*), count(*) FILTER (WHERE outcome = 'unchanged') INTO n, unch
        FROM sequenced_upsert('rs_seq_write', p, s);
      written := written + n - unch;
    ELSIF approach = 'rescan_plain_write' THEN
      -- every row rewritten with the rescan's sequence: the delete step is
      -- then "older than the rescan"
      INSERT INTO rs_plain_write AS t (id, name, age, has_magic, _sdc_sequence)
      SELECT (e->>'id')::int, e->>'name', (e->>'age')::int, (e->>'has_magic')::boolean, s
        FROM jsonb_array_elements(p) AS e
      ON CONFLICT (id) DO UPDATE
         SET name = EXCLUDED.name, age = EXCLUDED.age, has_magic = EXCLUDED.has_magic,
             _sdc_sequence = EXCLUDED._sdc_sequence
       WHERE t._sdc_sequence < EXCLUDED._sdc_sequence;
      GET DIAGNOSTICS n = ROW_COUNT;
      written := written + n;
    ELSIF approach = 'rescan_plain_skip' THEN
      -- unchanged rows not written (column-wise IS DISTINCT FROM: the
      -- sequence always differs, so (t.*) IS DISTINCT FROM (EXCLUDED.*)
      -- would rewrite every row); the page's keys staged for the anti-join
      WITH src AS MATERIALIZED (
             SELECT (e->>'id')::int AS id, e->>'name' AS name, (e->>'age')::int AS age,
                    (e->>'has_magic')::boolean AS has_magic
               FROM jsonb_array_elements(p) AS e),
           seen AS (INSERT INTO rs_keys SELECT id FROM src)
      INSERT INTO rs_plain_skip AS t (id, name, age, has_magic, _sdc_sequence)
      SELECT id, name, age, has_magic, s FROM src
      ON CONFLICT (id) DO UPDATE
         SET name = EXCLUDED.name, age = EXCLUDED.age, has_magic = EXCLUDED.has_magic,
             _sdc_sequence = EXCLUDED._sdc_sequence
       WHERE t._sdc_sequence < EXCLUDED._sdc_sequence
         AND (t.name, t.age, t.has_magic) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.age, EXCLUDED.has_magic);
      GET DIAGNOSTICS n = ROW_COUNT;
      written := written + n;
    END IF;
    tot := tot + jsonb_array_length(p);
    COMMIT;
  END LOOP;
  t1 := clock_timestamp();
  IF approach = 'rescan_seq_skip' THEN
    SELECT count(*) INTO ndel FROM sequenced_delete_missing('rs_seq_skip', s, max_fraction);
  ELSIF approach = 'rescan_seq_write' THEN
    SELECT count(*) INTO ndel FROM sequenced_delete_missing('rs_seq_write', s, max_fraction);
  ELSIF approach = 'rescan_plain_write' THEN
    DELETE FROM rs_plain_write WHERE _sdc_sequence < s;
    GET DIAGNOSTICS ndel = ROW_COUNT;
  ELSIF approach = 'rescan_plain_skip' THEN
    -- (a key a newer delta wrote during the rescan stays, as with
    -- sequenced_delete_missing)
    DELETE FROM rs_plain_skip t
     WHERE t._sdc_sequence < s AND NOT EXISTS (SELECT 1 FROM rs_keys r WHERE r.id = t.id);
    GET DIAGNOSTICS ndel = ROW_COUNT;
    TRUNCATE rs_keys;
  END IF;
  COMMIT;
  t2 := clock_timestamp();
  lsn1 := pg_current_wal_insert_lsn();
  IF pos0 IS NOT NULL THEN
    EXECUTE format('SELECT count(*) FROM sequenced_changes(%L, $1)', tbl) INTO npos USING pos0;
  END IF;
  INSERT INTO results (profile, approach, bsize, pass, rep, messages, seconds, nbatches, extra)
  VALUES ('rescan', approach, (SELECT rbatch FROM rs_conf), 1, k, tot,
          extract(epoch FROM t2 - t0), nb,
          jsonb_build_object('written', written, 'deleted', ndel,
                             'pages_seconds', extract(epoch FROM t1 - t0),
                             'delete_seconds', extract(epoch FROM t2 - t1),
                             'wal_bytes', pg_wal_lsn_diff(lsn1, lsn0),
                             'positions', npos, 'max_fraction', max_fraction));
  COMMIT;
END $$;

-- Mark the latest result row with the verdict: the table against the
-- reference of rescan k ('skip' approaches: versions keep their sequence).
CREATE PROCEDURE rs_check(approach text, k int) LANGUAGE plpgsql AS $$
DECLARE good boolean; d text; tbl text := rs_table(approach); skip boolean := approach LIKE '%skip';
BEGIN
  good := tbl_md5(tbl::regclass) = (SELECT md5(coalesce(string_agg(ROW(r.*)::text, E'\n' ORDER BY r.id), ''))
                                      FROM rs_ref(k, skip) r);
  IF NOT good THEN
    EXECUTE format($q$
      SELECT string_agg(x, '; ') FROM (
        SELECT format('id %%s: reference %%s, table %%s', coalesce(r.id, t.id),
                      CASE WHEN r.id IS NULL THEN 'no row' ELSE ROW(r.*)::text END,
                      CASE WHEN t.id IS NULL THEN 'no row' ELSE ROW(t.id, t.name, t.age, t.has_magic, t._sdc_sequence)::text END) AS x
          FROM rs_ref(%s, %L) r FULL JOIN %I t ON t.id = r.id
         WHERE r.id IS NULL OR t.id IS NULL
            OR ROW(r.*)::text IS DISTINCT FROM ROW(t.id, t.name, t.age, t.has_magic, t._sdc_sequence)::text
         ORDER BY 1 LIMIT 5) s$q$, k, skip, tbl) INTO d;
  END IF;
  UPDATE results SET ok = good, note = coalesce(note || ' ', '') || coalesce('DIFF: ' || d, '')
   WHERE id = (SELECT max(id) FROM results);
END $$;

VACUUM ANALYZE rs_batches, rs_conf, rs_stats;
