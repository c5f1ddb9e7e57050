--
-- memory: a call with 200,000 records, and many calls in one session
-- without the backend's memory growing
--
CREATE TABLE mem_t (id int PRIMARY KEY, v text, n int);
SELECT sequenced_register('mem_t');

-- one call with 200,000 records (three-argument form): all new
SELECT outcome, count(*), min(ord), max(ord), sum(ord) = 200000::bigint * 200001 / 2 AS ords_complete
  FROM sequenced_upsert('mem_t',
         (SELECT jsonb_agg(jsonb_build_object('id', i, 'v', 'value ' || i, 'n', i) ORDER BY i)
            FROM generate_series(1, 200000) i), 100)
 GROUP BY outcome ORDER BY outcome;
SELECT count(*), sum(n), sequenced_max_sequence('mem_t') FROM mem_t;

-- 200,000 messages (two-argument form) in descending key order: every tenth
-- is newer, the others replay what is stored; the output rows come in input
-- order, each with the key of its input element
SELECT outcome, count(*),
       count(*) FILTER (WHERE key = jsonb_build_object('id', 200001 - ord)) AS key_matches_ord,
       count(*) FILTER (WHERE seq = CASE WHEN ord % 10 = 0 THEN 101 ELSE 100 END) AS seq_matches_ord
  FROM sequenced_upsert('mem_t',
         (SELECT jsonb_agg(jsonb_build_object('sequence', CASE WHEN (200001 - i) % 10 = 0 THEN 101 ELSE 100 END,
                                              'data', jsonb_build_object('id', i, 'v', 'new ' || i, 'n', -i))
                           ORDER BY i DESC)
            FROM generate_series(1, 200000) i))
 GROUP BY outcome ORDER BY outcome;
SELECT count(*) FILTER (WHERE _sdc_sequence = 101 AND n = -id AND v = 'new ' || id) AS updated,
       count(*) FILTER (WHERE _sdc_sequence = 100 AND n = id AND v = 'value ' || id) AS unchanged,
       sequenced_max_sequence('mem_t')
  FROM mem_t;

--
-- many small calls in one session: the backend's memory does not grow
--
-- warm up: caches, saved plans
DO $$
BEGIN
    FOR i IN 1..500 LOOP
        PERFORM * FROM sequenced_upsert('mem_t', jsonb_build_object('id', i, 'v', 'warm'), 1000 + i);
        PERFORM * FROM sequenced_upsert('mem_t', jsonb_build_array(jsonb_build_object('sequence', 1000 + i, 'data', jsonb_build_object('id', i))));
        PERFORM * FROM sequenced_delete('mem_t', jsonb_build_object('id', i + 1000), 1000 + i);
    END LOOP;
END
$$;
SELECT sum(total_bytes) AS mem_before FROM pg_backend_memory_contexts \gset
-- 20,000 calls in one transaction: the three entry points, with new, newer,
-- stale, superseded and deleted outcomes.  Measured after the first 500
-- calls (the DO block's own plans), and without "Combo CIDs", which
-- PostgreSQL itself grows when a transaction updates its own rows again.
DO $$
DECLARE
    before bigint;
    after bigint;
BEGIN
    FOR i IN 1..20500 LOOP
        IF i = 501 THEN
            SELECT sum(total_bytes) INTO before FROM pg_backend_memory_contexts WHERE name <> 'Combo CIDs';
        END IF;
        CASE i % 4
        WHEN 0 THEN
            PERFORM * FROM sequenced_upsert('mem_t', jsonb_build_object('id', i % 5000, 'v', 'loop ' || i, 'n', i), 10000 + i);
        WHEN 1 THEN
            PERFORM * FROM sequenced_upsert('mem_t', jsonb_build_object('id', i % 5000, 'v', 'stale'), 1);
        WHEN 2 THEN
            PERFORM * FROM sequenced_upsert('mem_t', jsonb_build_array(
                jsonb_build_object('sequence', 10000 + i, 'data', jsonb_build_object('id', 300000 + i % 5000, 'v', 'm')),
                jsonb_build_object('sequence', 10001 + i, 'data', jsonb_build_object('id', 300000 + i % 5000, 'v', 'm2')),
                jsonb_build_object('sequence', 10002 + i, 'action', 'delete', 'data', jsonb_build_object('id', i % 5000 + 1))));
        ELSE
            PERFORM * FROM sequenced_delete('mem_t', jsonb_build_object('id', 300000 + i % 5000), 10000 + i);
        END CASE;
    END LOOP;
    SELECT sum(total_bytes) INTO after FROM pg_backend_memory_contexts WHERE name <> 'Combo CIDs';
    -- 20,000 calls: less than 50 bytes a call
    RAISE NOTICE 'memory grew less than 1 MB within the transaction: %', after - before < 1024 * 1024;
END
$$;
-- and none of it is kept after the transaction
SELECT sum(total_bytes) - :mem_before < 1024 * 1024 AS no_growth_after_commit FROM pg_backend_memory_contexts;

-- calls that fail (each in its own subtransaction) leave nothing behind either
SELECT sum(total_bytes) AS mem_before FROM pg_backend_memory_contexts \gset
DO $$
DECLARE
    failed int := 0;
BEGIN
    FOR i IN 1..4000 LOOP
        BEGIN
            CASE i % 4
            WHEN 0 THEN
                PERFORM * FROM sequenced_upsert('mem_t', jsonb_build_array(jsonb_build_object('id', 1, 'v', 'x'), jsonb_build_object('id', 2, 'n', 'abc')), 20000 + i);
            WHEN 1 THEN
                PERFORM * FROM sequenced_upsert('mem_t', jsonb_build_array(jsonb_build_object('id', 1), jsonb_build_object('nope', i)), 20000 + i);
            WHEN 2 THEN
                PERFORM * FROM sequenced_upsert('mem_t', jsonb_build_array(jsonb_build_object('sequence', 20000 + i, 'data', jsonb_build_object('id', 1)), jsonb_build_object('sequence', 'x')));
            ELSE
                PERFORM * FROM sequenced_delete('mem_t', jsonb_build_array(jsonb_build_object('id', 1), jsonb_build_object('v', 'no key')), 20000 + i);
            END CASE;
        EXCEPTION WHEN OTHERS THEN
            failed := failed + 1;
        END;
    END LOOP;
    RAISE NOTICE 'failed calls: %', failed;
END
$$;
SELECT sum(total_bytes) - :mem_before < 1024 * 1024 AS no_growth_after_errors FROM pg_backend_memory_contexts;
SELECT sequenced_max_sequence('mem_t') AS max_sequence;

DROP TABLE mem_t;
