-- bench/sql/history.sql: the history cells (issue 20).  Loaded after setup.sql.
--
-- Pass 1 of the standard dataset (the batches of the main cells) into
--   hs_seq            registered, no history (what history costs on top of)
--   hs_hist           registered with history => true (hs_hist_history)
--   hs_plain_before   plain ON CONFLICT (the main cells' statement) with a
--                     BEFORE UPDATE OR DELETE row trigger copying the old row
--                     into hs_plain_before_h with its validity range
--                     [old sequence, new sequence), the history indexed on
--                     (id, valid_from) as pg_sequenced's is on (key,
--                     _sdc_valid_from) -- the temporal-tables pattern
--   hs_plain_after    the same with an AFTER row trigger
--   hs_plain_noidx    the BEFORE trigger into a history without any index
-- The plain triggers see only the updates ON CONFLICT applies: a late
-- record never reaches their history (which is why pg_sequenced keeps one).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE FUNCTION hs_table(approach text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE approach WHEN 'hist_seq' THEN 'hs_seq' WHEN 'hist_seq_history' THEN 'hs_hist'
                       WHEN 'hist_plain_before' THEN 'hs_plain_before' WHEN 'hist_plain_after' THEN 'hs_plain_after'
                       WHEN 'hist_plain_noidx' THEN 'hs_plain_noidx' END
$$;

-- the triggers: static SQL, one function per history table
CREATE FUNCTION hs_before_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO hs_plain_before_h (id, name, age, has_magic, _sdc_sequence, valid_from, valid_to)
  VALUES (OLD.id, OLD.name, OLD.age, OLD.has_magic, OLD._sdc_sequence, OLD._sdc_sequence,
          CASE WHEN TG_OP = 'UPDATE' THEN NEW._sdc_sequence END);
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$;
CREATE FUNCTION hs_after_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO hs_plain_after_h (id, name, age, has_magic, _sdc_sequence, valid_from, valid_to)
  VALUES (OLD.id, OLD.name, OLD.age, OLD.has_magic, OLD._sdc_sequence, OLD._sdc_sequence,
          CASE WHEN TG_OP = 'UPDATE' THEN NEW._sdc_sequence END);
  RETURN NULL;
END $$;
CREATE FUNCTION hs_noidx_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO hs_plain_noidx_h (id, name, age, has_magic, _sdc_sequence, valid_from, valid_to)
  VALUES (OLD.id, OLD.name, OLD.age, OLD.has_magic, OLD._sdc_sequence, OLD._sdc_sequence,
          CASE WHEN TG_OP = 'UPDATE' THEN NEW._sdc_sequence END);
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$;

-- (Re)create every table, empty.
CREATE PROCEDURE hs_reset() LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['hs_seq', 'hs_hist'] LOOP
    IF EXISTS (SELECT 1 FROM sequenced_tables WHERE relid::text = t) THEN
      PERFORM sequenced_unregister(t::regclass);
    END IF;
  END LOOP;
  DROP TABLE IF EXISTS hs_seq, hs_hist, hs_hist_history, hs_plain_before, hs_plain_before_h,
                       hs_plain_after, hs_plain_after_h, hs_plain_noidx, hs_plain_noidx_h;
  CREATE TABLE hs_seq (id int PRIMARY KEY, name text, age int, has_magic boolean);
  PERFORM sequenced_register('hs_seq');
  CREATE TABLE hs_hist (id int PRIMARY KEY, name text, age int, has_magic boolean);
  PERFORM sequenced_register('hs_hist', history => true);
  FOREACH t IN ARRAY ARRAY['hs_plain_before', 'hs_plain_after', 'hs_plain_noidx'] LOOP
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, name text, age int, has_magic boolean, _sdc_sequence bigint)', t);
    EXECUTE format('CREATE TABLE %I (id int, name text, age int, has_magic boolean, _sdc_sequence bigint,
                                     valid_from bigint, valid_to bigint)', t || '_h');
  END LOOP;
  CREATE INDEX ON hs_plain_before_h (id, valid_from);
  CREATE INDEX ON hs_plain_after_h (id, valid_from);
  CREATE TRIGGER history BEFORE UPDATE OR DELETE ON hs_plain_before
    FOR EACH ROW EXECUTE FUNCTION hs_before_trg();
  CREATE TRIGGER history AFTER UPDATE OR DELETE ON hs_plain_after
    FOR EACH ROW EXECUTE FUNCTION hs_after_trg();
  CREATE TRIGGER history BEFORE UPDATE OR DELETE ON hs_plain_noidx
    FOR EACH ROW EXECUTE FUNCTION hs_noidx_trg();
END $$;

-- The timed loop of one approach over the batches of size bs (pass 1, one
-- transaction per batch), as run_loop does; max_secs caps it (partial cell,
-- checked on the prefix it applied).
CREATE PROCEDURE run_hist(approach text, bs int, rep_ int, max_secs float8 DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  nall int; p jsonb; k bigint; tot bigint := 0; t0 timestamptz; secs float8; done int := 0;
  tbl text := hs_table(approach); nhist bigint;
BEGIN
  IF tbl IS NULL THEN RAISE EXCEPTION 'unknown approach %', approach; END IF;
  SELECT count(*) INTO nall FROM batches WHERE bsize = bs;
  t0 := clock_timestamp();
  FOR b IN 1..nall LOOP
    IF max_secs IS NOT NULL AND extract(epoch FROM clock_timestamp() - t0) > max_secs THEN
      EXIT;
    END IF;
    SELECT payload INTO p FROM batches WHERE bsize = bs AND batch_no = b;
    IF approach = 'hist_seq' THEN
      SELECT count(*) INTO k FROM sequenced_upsert('hs_seq', p);
    ELSIF approach = 'hist_seq_history' THEN
      SELECT count(*) INTO k FROM sequenced_upsert('hs_hist', p);
    ELSIF approach = 'hist_plain_before' THEN
      INSERT INTO hs_plain_before AS t (id, name, age, has_magic, _sdc_sequence)
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
    ELSIF approach = 'hist_plain_after' THEN
      INSERT INTO hs_plain_after AS t (id, name, age, has_magic, _sdc_sequence)
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
    ELSIF approach = 'hist_plain_noidx' THEN
      INSERT INTO hs_plain_noidx AS t (id, name, age, has_magic, _sdc_sequence)
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
    END IF;
    tot := tot + jsonb_array_length(p);
    COMMIT;
    done := b;
  END LOOP;
  secs := extract(epoch FROM clock_timestamp() - t0);
  IF approach = 'hist_seq_history' THEN
    SELECT count(*) INTO nhist FROM hs_hist_history;
  ELSIF approach LIKE 'hist_plain%' THEN
    EXECUTE format('SELECT count(*) FROM %I', tbl || '_h') INTO nhist;
  END IF;
  INSERT INTO results (profile, approach, bsize, pass, rep, messages, seconds, nbatches, lim, note, extra)
  VALUES ('history', approach, bs, 1, rep_, tot, secs, done,
          CASE WHEN done < nall THEN
            (SELECT sum(jsonb_array_length(payload)) FROM batches WHERE bsize = bs AND batch_no <= done) END,
          CASE WHEN done < nall THEN format('partial: %s batches (time cap)', done) END,
          jsonb_build_object('history_rows', nhist));
  COMMIT;
END $$;

-- The history every message of the stream's first lim makes: one version per
-- (id, sequence), the first message of that sequence (on_equal => 'keep'),
-- valid until the id's next sequence.
CREATE FUNCTION hs_ref_history(lim int)
RETURNS TABLE (id int, name text, age int, has_magic boolean, _sdc_sequence bigint,
               _sdc_valid_from bigint, _sdc_valid_to bigint, _sdc_deleted boolean)
LANGUAGE sql STABLE AS $$
  SELECT id, name, age, has_magic, seq, seq, lead(seq) OVER (PARTITION BY id ORDER BY seq), false
    FROM (SELECT DISTINCT ON (id, seq) id, name, age, has_magic, seq
            FROM (SELECT m.pos, (m.msg->'data'->>'id')::int AS id, m.msg->'data'->>'name' AS name,
                         (m.msg->'data'->>'age')::int AS age, (m.msg->'data'->>'has_magic')::boolean AS has_magic,
                         (m.msg->>'sequence')::bigint AS seq
                    FROM msgs m WHERE m.pos <= lim) s0
           ORDER BY id, seq, pos) s
$$;

-- The latest result row (hist_seq_history) also checked on its history table.
CREATE PROCEDURE hs_check_history(full_lim int) LANGUAGE plpgsql AS $$
DECLARE good boolean; lim_ int; d text;
BEGIN
  SELECT coalesce(r.lim, full_lim) INTO lim_ FROM results r WHERE id = (SELECT max(id) FROM results);
  CREATE TEMP TABLE hs_ref AS SELECT * FROM hs_ref_history(lim_);
  good := (SELECT md5(coalesce(string_agg(ROW(h.*)::text, E'\n' ORDER BY h.id, h._sdc_valid_from), ''))
             FROM hs_ref h)
        = (SELECT md5(coalesce(string_agg(ROW(h.id, h.name, h.age, h.has_magic, h._sdc_sequence, h._sdc_valid_from,
                                              h._sdc_valid_to, h._sdc_deleted)::text, E'\n' ORDER BY h.id, h._sdc_valid_from), ''))
             FROM hs_hist_history h);
  IF NOT good THEN
    SELECT string_agg(x, '; ') INTO d FROM (
      SELECT format('id %s from %s: reference %s, history %s', coalesce(r.id, h.id),
                    coalesce(r._sdc_valid_from, h._sdc_valid_from),
                    CASE WHEN r.id IS NULL THEN 'no version' ELSE ROW(r.*)::text END,
                    CASE WHEN h.id IS NULL THEN 'no version' ELSE ROW(h.*)::text END) AS x
        FROM hs_ref r FULL JOIN hs_hist_history h ON h.id = r.id AND h._sdc_valid_from = r._sdc_valid_from
       WHERE r.id IS NULL OR h.id IS NULL OR ROW(r.*)::text IS DISTINCT FROM ROW(h.*)::text
       ORDER BY 1 LIMIT 5) s;
  END IF;
  DROP TABLE hs_ref;
  UPDATE results SET ok = ok AND good,
                     note = CASE WHEN good THEN note
                                 ELSE concat_ws(' ', nullif(note, ''), 'HISTORY DIFF: ' || coalesce(d, '?')) END
   WHERE id = (SELECT max(id) FROM results);
END $$;

-- The reads: sequenced_as_of(NULL::hs_hist, s) for one s (the median
-- sequence of the messages applied), runs times, timed; the answer checked
-- against the reference (newest version at or before s per id).  For
-- comparison the same question to the plain BEFORE-trigger history (its
-- table UNION ALL its history rows valid at s: a late record is missing
-- from it, counted as rows that differ from the reference; not a check).
-- And one key's versions with sequenced_history (the key with the most).
CREATE PROCEDURE hs_reads(runs int, full_lim int) LANGUAGE plpgsql AS $$
DECLARE
  lim_ int; plim int; s bigint; n bigint; t0 timestamptz; secs float8; good boolean; nver bigint;
  ndiff bigint; key_ int; kver bigint; hb bigint; hi bigint;
BEGIN
  SELECT coalesce(lim, full_lim) INTO lim_ FROM results
   WHERE profile = 'history' AND approach = 'hist_seq_history' ORDER BY id DESC LIMIT 1;
  SELECT coalesce(lim, full_lim) INTO plim FROM results
   WHERE profile = 'history' AND approach = 'hist_plain_before' ORDER BY id DESC LIMIT 1;
  SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY (msg->>'sequence')::bigint) INTO s
    FROM msgs WHERE pos <= lim_;
  SELECT count(*) INTO nver FROM hs_hist_history;
  hb := pg_relation_size('hs_hist_history');
  hi := pg_indexes_size('hs_hist_history');
  -- the answer, checked once (untimed)
  good := (SELECT md5(coalesce(string_agg(ROW(a.*)::text, E'\n' ORDER BY a.id), ''))
             FROM sequenced_as_of(NULL::hs_hist, s) a)
        = (SELECT md5(coalesce(string_agg(ROW(r.*)::text, E'\n' ORDER BY r.id), ''))
             FROM (SELECT DISTINCT ON (id) id, name, age, has_magic, seq
                     FROM (SELECT m.pos, (m.msg->'data'->>'id')::int AS id, m.msg->'data'->>'name' AS name,
                                  (m.msg->'data'->>'age')::int AS age, (m.msg->'data'->>'has_magic')::boolean AS has_magic,
                                  (m.msg->>'sequence')::bigint AS seq
                             FROM msgs m WHERE m.pos <= lim_) s0
                    WHERE seq <= s
                    ORDER BY id, seq DESC, pos) r);
  COMMIT;
  FOR i IN 1..runs LOOP
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM sequenced_as_of(NULL::hs_hist, s);
    secs := extract(epoch FROM clock_timestamp() - t0);
    INSERT INTO results (profile, approach, bsize, pass, rep, messages, seconds, ok, extra)
    VALUES ('history', 'as_of', 0, 1, i, n, secs, good,
            jsonb_build_object('seq', s, 'versions', nver, 'history_bytes', hb, 'history_index_bytes', hi));
    COMMIT;
  END LOOP;
  -- the plain trigger history, same question
  IF to_regclass('hs_plain_before_h') IS NOT NULL THEN
    SELECT count(*) INTO ndiff FROM (
      SELECT id, name, age, has_magic, _sdc_sequence FROM hs_plain_before WHERE _sdc_sequence <= s
      UNION ALL
      SELECT id, name, age, has_magic, _sdc_sequence FROM hs_plain_before_h WHERE valid_from <= s AND valid_to > s) p
      FULL JOIN (SELECT DISTINCT ON (id) id, name, age, has_magic, seq
                   FROM (SELECT m.pos, (m.msg->'data'->>'id')::int AS id, m.msg->'data'->>'name' AS name,
                                (m.msg->'data'->>'age')::int AS age, (m.msg->'data'->>'has_magic')::boolean AS has_magic,
                                (m.msg->>'sequence')::bigint AS seq
                           FROM msgs m WHERE m.pos <= plim) s0
                  WHERE seq <= s
                  ORDER BY id, seq DESC, pos) r ON r.id = p.id
     WHERE p.id IS NULL OR r.id IS NULL
        OR ROW(p.id, p.name, p.age, p.has_magic, p._sdc_sequence)::text <> ROW(r.id, r.name, r.age, r.has_magic, r.seq)::text;
    COMMIT;
    FOR i IN 1..runs LOOP
      t0 := clock_timestamp();
      SELECT count(*) INTO n FROM (
        SELECT id, name, age, has_magic, _sdc_sequence FROM hs_plain_before WHERE _sdc_sequence <= s
        UNION ALL
        SELECT id, name, age, has_magic, _sdc_sequence FROM hs_plain_before_h WHERE valid_from <= s AND valid_to > s) p;
      secs := extract(epoch FROM clock_timestamp() - t0);
      INSERT INTO results (profile, approach, bsize, pass, rep, messages, seconds, extra)
      VALUES ('history', 'as_of_plain', 0, 1, i, n, secs,
              jsonb_build_object('seq', s, 'differ', ndiff,
                                 'versions', (SELECT count(*) FROM hs_plain_before_h)));
      COMMIT;
    END LOOP;
  END IF;
  -- one key's history (the key with the most versions)
  SELECT id, count(*) INTO key_, kver FROM hs_hist_history GROUP BY id ORDER BY 2 DESC, 1 LIMIT 1;
  good := (SELECT count(*) FROM sequenced_history('hs_hist', jsonb_build_object('id', key_))) = kver;
  COMMIT;
  FOR i IN 1..runs LOOP
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM sequenced_history('hs_hist', jsonb_build_object('id', key_));
    secs := extract(epoch FROM clock_timestamp() - t0);
    INSERT INTO results (profile, approach, bsize, pass, rep, messages, seconds, ok, extra)
    VALUES ('history', 'history_one_key', 0, 1, i, n, secs, good, jsonb_build_object('id', key_));
    COMMIT;
  END LOOP;
END $$;
