-- bench/sql/setup.sql: schema, dataset load and the timed loops.
-- psql variables: work (dataset directory, readable by the server),
-- b1_limit (messages of the B=1 cell), sizes (batch sizes, e.g. '1,100,10000')
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION pg_sequenced;

-- the message stream, in arrival order
CREATE TABLE msgs (pos int PRIMARY KEY, msg jsonb NOT NULL);
\set msgs_file :work '/msgs.tsv'
COPY msgs FROM :'msgs_file';

-- batches stored uncompressed (STORAGE EXTERNAL): reading one costs a copy of
-- its bytes, the same for every approach
CREATE TABLE batches (bsize int, batch_no int, payload jsonb NOT NULL,
                      PRIMARY KEY (bsize, batch_no));
ALTER TABLE batches ALTER payload SET STORAGE EXTERNAL;
INSERT INTO batches
SELECT s.b, (m.pos - 1) / s.b + 1, jsonb_agg(m.msg ORDER BY m.pos)
  FROM unnest(string_to_array(:'sizes', ',')::int[]) AS s(b)
  JOIN msgs m ON m.pos <= CASE WHEN s.b = 1 THEN :b1_limit ELSE 2147483647 END
 GROUP BY 1, 2;

-- results: one row per timed run
CREATE TABLE results (
    id serial PRIMARY KEY,
    profile text, approach text, bsize int, pass int, rep int,
    messages bigint, seconds float8, ok boolean, note text,
    nbatches int,     -- batches applied (fewer than all when the time cap hit)
    lim int,          -- the stream prefix they cover: what the check compares with
    extra jsonb       -- what else a cell measured (rescan, history: WAL, rows, ...)
);

-- the reference: newest per id, ties to the first in the stream
CREATE FUNCTION ref_rows(lim int)
RETURNS TABLE (id int, name text, age int, has_magic boolean, _sdc_sequence bigint)
LANGUAGE sql STABLE AS $$
  SELECT DISTINCT ON (id) id, name, age, has_magic, seq
    FROM (SELECT m.pos, (m.msg->'data'->>'id')::int AS id, m.msg->'data'->>'name' AS name,
                 (m.msg->'data'->>'age')::int AS age, (m.msg->'data'->>'has_magic')::boolean AS has_magic,
                 (m.msg->>'sequence')::bigint AS seq
            FROM msgs m WHERE m.pos <= lim) s
   ORDER BY id, seq DESC, pos
$$;

CREATE TABLE refs (lim int PRIMARY KEY, md5 text, nrows bigint);

CREATE FUNCTION tbl_md5(tbl regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  EXECUTE format($q$SELECT md5(coalesce(string_agg(ROW(id, name, age, has_magic, _sdc_sequence)::text,
                                              E'\n' ORDER BY id), ''))
                      FROM %s$q$, tbl) INTO r;
  RETURN r;
END $$;

CREATE FUNCTION ref_md5(lim_ int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  SELECT md5 INTO r FROM refs WHERE lim = lim_;
  IF NOT FOUND THEN
    EXECUTE format('DROP TABLE IF EXISTS ref_%s', lim_);
    EXECUTE format('CREATE TABLE ref_%s AS SELECT * FROM ref_rows(%s)', lim_, lim_);
    EXECUTE format('ALTER TABLE ref_%s ADD PRIMARY KEY (id)', lim_);
    r := tbl_md5(format('ref_%s', lim_)::regclass);
    INSERT INTO refs VALUES (lim_, r, (SELECT count(*) FROM ref_rows(lim_)));
  END IF;
  RETURN r;
END $$;

-- rows where a table differs from the reference (for the report)
CREATE FUNCTION diff_sample(tbl regclass, lim int, n int DEFAULT 5) RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ref_md5(lim);
  RETURN QUERY EXECUTE format($q$
    SELECT format('id %%s: reference %%s, table %%s', coalesce(r.id, t.id),
                  CASE WHEN r.id IS NULL THEN 'no row' ELSE ROW(r.*)::text END,
                  CASE WHEN t.id IS NULL THEN 'no row' ELSE ROW(t.id, t.name, t.age, t.has_magic, t._sdc_sequence)::text END)
      FROM ref_%s r FULL JOIN %s t ON t.id = r.id
     WHERE r.id IS NULL OR t.id IS NULL
        OR ROW(r.*)::text IS DISTINCT FROM ROW(t.id, t.name, t.age, t.has_magic, t._sdc_sequence)::text
     ORDER BY 1 LIMIT %s$q$, lim, tbl, n);
END $$;

-- (Re)create every target and staging table, empty.
CREATE PROCEDURE reset_targets() LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tgt_seq', 'tgt_stg_seq', 'tgt_stg_seqdel'] LOOP
    IF EXISTS (SELECT 1 FROM sequenced_tables WHERE relid::text = t) THEN
      PERFORM sequenced_unregister(t::regclass);
    END IF;
  END LOOP;
  DROP TABLE IF EXISTS tgt_seq, tgt_oc, tgt_merge, tgt_row, tgt_copy,
                       tgt_stg_seq, tgt_stg_seqdel, tgt_stg_plain,
                       stg_seq, stg_seqdel, stg_plain, stg_raw;
  FOREACH t IN ARRAY ARRAY['tgt_seq', 'tgt_stg_seq', 'tgt_stg_seqdel'] LOOP
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, name text, age int, has_magic boolean)', t);
    PERFORM sequenced_register(t::regclass);
  END LOOP;
  FOREACH t IN ARRAY ARRAY['tgt_oc', 'tgt_merge', 'tgt_row', 'tgt_copy', 'tgt_stg_plain'] LOOP
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, name text, age int, has_magic boolean, _sdc_sequence bigint)', t);
  END LOOP;
  FOREACH t IN ARRAY ARRAY['stg_seq', 'stg_seqdel', 'stg_plain', 'stg_raw'] LOOP
    EXECUTE format('CREATE TABLE %I (id int, name text, age int, has_magic boolean, _sdc_sequence bigint)', t);
  END LOOP;
  CREATE TRIGGER apply AFTER INSERT ON stg_seq REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('tgt_stg_seq', 'keep');
  CREATE TRIGGER apply AFTER INSERT ON stg_seqdel REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('tgt_stg_seqdel');
  CREATE TRIGGER apply AFTER INSERT ON stg_plain REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stg_plain_apply();
END $$;

-- (7) the plain-SQL staging trigger: statement (2) over the transition table
CREATE FUNCTION stg_plain_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tgt_stg_plain AS t (id, name, age, has_magic, _sdc_sequence)
  SELECT DISTINCT ON (id) id, name, age, has_magic, _sdc_sequence
    FROM (SELECT n.*, row_number() OVER () AS o FROM new_rows n) s
   ORDER BY id, _sdc_sequence DESC, o
  ON CONFLICT (id) DO UPDATE
     SET name = EXCLUDED.name, age = EXCLUDED.age, has_magic = EXCLUDED.has_magic,
         _sdc_sequence = EXCLUDED._sdc_sequence
   WHERE t._sdc_sequence < EXCLUDED._sdc_sequence;
  RETURN NULL;
END $$;

-- (4) PL/pgSQL, one message at a time
CREATE FUNCTION apply_rowwise(p jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE m jsonb;
BEGIN
  FOR m IN SELECT e FROM jsonb_array_elements(p) AS e LOOP
    INSERT INTO tgt_row AS t (id, name, age, has_magic, _sdc_sequence)
    VALUES ((m->'data'->>'id')::int, m->'data'->>'name', (m->'data'->>'age')::int,
            (m->'data'->>'has_magic')::boolean, (m->>'sequence')::bigint)
    ON CONFLICT (id) DO UPDATE
       SET name = EXCLUDED.name, age = EXCLUDED.age, has_magic = EXCLUDED.has_magic,
           _sdc_sequence = EXCLUDED._sdc_sequence
     WHERE t._sdc_sequence < EXCLUDED._sdc_sequence;
  END LOOP;
END $$;

-- The timed server-side loop: one transaction per batch.  Static SQL in each
-- branch, so each statement is planned once per session and cached.
-- max_batches/max_secs: stop early (a partial cell, checked against the
-- reference of the prefix it covers) so that one run stays bounded.
--
-- MERGE in pass 1 plans every batch afresh (plan_cache_mode =
-- force_custom_plan): its generic plan, made after five batches while the
-- target is nearly empty, joins by scanning the whole target for every
-- batch and ran B=100 at 12k msg/s instead of 75k.  Pass 2 keeps the
-- default: after VACUUM ANALYZE the generic plan is the faster one (178k
-- against 126k msg/s at B=100).  ON CONFLICT has no join and no such trap.
CREATE PROCEDURE run_loop(approach text, bs int, prof text, pass_ int, rep_ int,
                          max_batches int DEFAULT NULL, max_secs float8 DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  nb int; nall int; p jsonb; k bigint; tot bigint := 0; t0 timestamptz; secs float8; done int := 0;
BEGIN
  IF approach = 'merge' AND pass_ = 1 THEN
    PERFORM set_config('plan_cache_mode', 'force_custom_plan', false);
  END IF;
  SELECT count(*) INTO nall FROM batches WHERE bsize = bs;
  nb := least(nall, max_batches);
  t0 := clock_timestamp();
  FOR b IN 1..nb LOOP
    IF max_secs IS NOT NULL AND extract(epoch FROM clock_timestamp() - t0) > max_secs THEN
      EXIT;
    END IF;
    SELECT payload INTO p FROM batches WHERE bsize = bs AND batch_no = b;
    IF approach = 'sequenced_upsert' THEN
      SELECT count(*) INTO k FROM sequenced_upsert('tgt_seq', p);
      tot := tot + k;
    ELSIF approach = 'on_conflict' THEN
      INSERT INTO tgt_oc AS t (id, name, age, has_magic, _sdc_sequence)
      SELECT DISTINCT ON (id) id, name, age, has_magic, seq
        FROM (SELECT (e->'data'->>'id')::int AS id, e->'data'->>'name' AS name,
                     (e->'data'->>'age')::int AS age, (e->'data'->>'has_magic')::boolean AS has_magic,
                     (e->>'sequence')::bigint AS seq, o
                FROM jsonb_array_elements(p) WITH ORDINALITY AS x(e, o)) s
       ORDER BY id, seq DESC, o
      ON CONFLICT (id) DO UPDATE
         SET name = EXCLUDED.name, age = EXCLUDED.age, has_magic = EXCLUDED.has_magic,
             _sdc_sequence = EXCLUDED._sdc_sequence
       WHERE t._sdc_sequence < EXCLUDED._sdc_sequence;
      tot := tot + jsonb_array_length(p);
    ELSIF approach = 'merge' THEN
      MERGE INTO tgt_merge t
      USING (SELECT DISTINCT ON (id) id, name, age, has_magic, seq
               FROM (SELECT (e->'data'->>'id')::int AS id, e->'data'->>'name' AS name,
                            (e->'data'->>'age')::int AS age, (e->'data'->>'has_magic')::boolean AS has_magic,
                            (e->>'sequence')::bigint AS seq, o
                       FROM jsonb_array_elements(p) WITH ORDINALITY AS x(e, o)) s0
              ORDER BY id, seq DESC, o) s
         ON t.id = s.id
      WHEN MATCHED AND t._sdc_sequence < s.seq THEN
        UPDATE SET name = s.name, age = s.age, has_magic = s.has_magic, _sdc_sequence = s.seq
      WHEN NOT MATCHED THEN
        INSERT (id, name, age, has_magic, _sdc_sequence) VALUES (s.id, s.name, s.age, s.has_magic, s.seq);
      tot := tot + jsonb_array_length(p);
    ELSIF approach = 'plpgsql_row' THEN
      PERFORM apply_rowwise(p);
      tot := tot + jsonb_array_length(p);
    ELSE
      RAISE EXCEPTION 'unknown approach %', approach;
    END IF;
    COMMIT;
    done := b;
  END LOOP;
  secs := extract(epoch FROM clock_timestamp() - t0);
  INSERT INTO results (profile, approach, bsize, pass, rep, messages, seconds, nbatches, lim, note)
  VALUES (prof, approach, bs, pass_, rep_, tot, secs, done,
          CASE WHEN done < nall THEN
            (SELECT sum(jsonb_array_length(payload)) FROM batches WHERE bsize = bs AND batch_no <= done) END,
          CASE WHEN done < nall THEN format('partial: %s batches (time cap)', done) END);
  COMMIT;
END $$;

-- The staging loop: one COPY (one transaction) per batch file.
CREATE PROCEDURE run_stg(approach text, bs int, dir text, prof text, pass_ int, rep_ int,
                         max_batches int DEFAULT NULL, max_secs float8 DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  nb int; nall int; stg text; t0 timestamptz; secs float8; n bigint; tot bigint := 0; done int := 0;
BEGIN
  stg := CASE approach WHEN 'staging_sequenced' THEN 'stg_seq'
                       WHEN 'staging_sequenced_delete' THEN 'stg_seqdel'
                       WHEN 'staging_plain' THEN 'stg_plain'
                       WHEN 'copy_unindexed' THEN 'stg_raw' END;
  IF stg IS NULL THEN RAISE EXCEPTION 'unknown approach %', approach; END IF;
  SELECT count(*) INTO nall FROM pg_ls_dir(dir) AS f WHERE f LIKE '%.tsv';
  nb := least(nall, max_batches);
  t0 := clock_timestamp();
  FOR b IN 1..nb LOOP
    IF max_secs IS NOT NULL AND extract(epoch FROM clock_timestamp() - t0) > max_secs THEN
      EXIT;
    END IF;
    EXECUTE format('COPY %I FROM %L', stg, dir || '/' || b || '.tsv');
    GET DIAGNOSTICS n = ROW_COUNT;
    tot := tot + n;
    COMMIT;
    done := b;
  END LOOP;
  secs := extract(epoch FROM clock_timestamp() - t0);
  -- batch files hold bs rows each (the last may hold fewer)
  INSERT INTO results (profile, approach, bsize, pass, rep, messages, seconds, nbatches, lim, note)
  VALUES (prof, approach, bs, pass_, rep_, tot, secs, done,
          CASE WHEN done = nall THEN NULL ELSE done * bs END,
          CASE WHEN done < nall THEN format('partial: %s batches (time cap)', done) END);
  COMMIT;
END $$;

-- (5) COPY of the final rows into an empty table with the primary key
CREATE PROCEDURE run_copy_final(lim int, file text, prof text, rep_ int)
LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; secs float8; n bigint;
BEGIN
  TRUNCATE tgt_copy;
  COMMIT;
  t0 := clock_timestamp();
  EXECUTE format('COPY tgt_copy FROM %L', file);
  GET DIAGNOSTICS n = ROW_COUNT;
  COMMIT;
  secs := extract(epoch FROM clock_timestamp() - t0);
  INSERT INTO results (profile, approach, bsize, pass, rep, messages, seconds, note)
  VALUES (prof, 'copy_final_rows', 0, 1, rep_, n, secs, 'rows');
  COMMIT;
END $$;

-- Mark the latest result row of a table with the verdict against the reference.
CREATE PROCEDURE check_result(tbl regclass, full_lim int) LANGUAGE plpgsql AS $$
DECLARE good boolean; d text; lim int;
BEGIN
  -- a partial cell is compared with the reference of the prefix it covers
  SELECT coalesce(r.lim, full_lim) INTO lim FROM results r WHERE id = (SELECT max(id) FROM results);
  good := tbl_md5(tbl) = ref_md5(lim);
  IF NOT good THEN
    SELECT string_agg(x, '; ') INTO d FROM diff_sample(tbl, lim) AS x;
  END IF;
  UPDATE results SET ok = good, note = coalesce(note || ' ', '') || coalesce('DIFF: ' || d, '')
   WHERE id = (SELECT max(id) FROM results);
END $$;

VACUUM ANALYZE msgs, batches;
