/* pg_sequenced_proxy 0.2: pg_sequenced over several servers, routed by PL/Proxy (SPEC section 9) */
\echo Use "CREATE EXTENSION pg_sequenced_proxy" to load this file. \quit

/*
 * This extension goes on the proxy server, which holds no data: every
 * shard server has pg_sequenced and the tables; the proxy has PL/Proxy, a
 * cluster (CREATE SERVER ... FOREIGN DATA WRAPPER plproxy with one option
 * p0, p1, ... per shard, a power of two of them) and, per table, the names
 * and types of its key columns (sequenced_proxy_register reads them from
 * the shards).  The functions here have the names and outputs of
 * pg_sequenced's (SPEC sections 2, 4 and 6), with the table named by text:
 * the proxy has no copy of it.
 *
 * A call goes:
 *
 *	 1. the table's registration and the cluster's shard count (this
 *		server's catalogs);
 *	 2. sequenced_proxy_split (C, src/proxy.c): the batch in one pass, each
 *		message checked as a shard would check its shape, action, sequence
 *		and key (so that those errors name the message's position in the
 *		whole batch), its key hashed, and the message appended to its
 *		shard's part, keeping the batch order within the part;
 *	 3. one PL/Proxy function, SPLIT over the parts and RUN ON the shard
 *		numbers: PL/Proxy sends each shard its part, in parallel, and each
 *		shard applies it with pg_sequenced in its own transaction;
 *	 4. the outputs, whose ord each shard mapped back to the position in
 *		the batch, sorted by ord.
 *
 * The remote queries name pg_sequenced's functions without a schema: the
 * proxy's connections must find them on their search_path (public, where
 * CREATE EXTENSION pg_sequenced puts them by default; else add
 * options='-csearch_path=...' to the connection strings).  They run as the
 * calling role's name on the shards (PL/Proxy adds user=current_user to a
 * connection string without one), so the shards check every right.  Each
 * remote query first sets TimeZone, DateStyle and IntervalStyle to the
 * caller's, for its own transaction only, so that the shards convert and
 * print values as a single server would for this session.
 *
 * Not atomic across shards: PL/Proxy runs each part as its own transaction
 * on its shard.  An error on one shard is reported (the first one seen);
 * parts other shards applied stay applied, and a rollback on the proxy
 * undoes nothing there.  Sending the whole batch again is always safe:
 * what a shard already applied comes back stale or unchanged.
 */

CREATE SCHEMA _sequenced_proxy;
GRANT USAGE ON SCHEMA _sequenced_proxy TO PUBLIC;

-- One row per table known to the proxy.  Written only through
-- sequenced_proxy_register/unregister (the extension's owner, or whom it
-- grants them to); read by every call.
CREATE TABLE _sequenced_proxy.tables (
    schema_name pg_catalog.text NOT NULL,
    table_name  pg_catalog.text NOT NULL,
    cluster     pg_catalog.text NOT NULL,
    key_columns pg_catalog.text[] NOT NULL,
    key_types   pg_catalog.text[] NOT NULL,   -- format_type of each key column's base type, or 'enum'
    sequence_type pg_catalog.text NOT NULL,   -- format_type of the sequence column's type
    order_columns pg_catalog.text[],          -- the key index's columns, in its order
    order_desc    pg_catalog.bool[],          -- ... and which of them are descending
    PRIMARY KEY (schema_name, table_name)
);
SELECT pg_catalog.pg_extension_config_dump('_sequenced_proxy.tables', '');
REVOKE ALL ON _sequenced_proxy.tables FROM PUBLIC;
GRANT SELECT ON _sequenced_proxy.tables TO PUBLIC;

CREATE VIEW sequenced_proxy_tables AS
SELECT pg_catalog.format('%I.%I', schema_name, table_name) AS target,
       cluster, key_columns, key_types, sequence_type
  FROM _sequenced_proxy.tables;
GRANT SELECT ON sequenced_proxy_tables TO PUBLIC;

---------------------------------------------------------------------------
-- The key hash and the split (src/proxy.c, in pg_sequenced's library)
---------------------------------------------------------------------------

-- The hash of one key (an object of key column values), as routing uses it:
-- the key lives on shard  sequenced_proxy_key_hash(...) & (shards - 1).
CREATE FUNCTION sequenced_proxy_key_hash(key pg_catalog.jsonb, key_columns pg_catalog.text[],
                                         key_types pg_catalog.text[])
RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'sequenced_proxy_key_hash' LANGUAGE C STABLE STRICT;

CREATE FUNCTION _sequenced_proxy.split(form pg_catalog.text, input pg_catalog.jsonb,
                                       key_columns pg_catalog.text[], key_types pg_catalog.text[],
                                       nparts pg_catalog.int4,
                                       target_schema pg_catalog.text, target_name pg_catalog.text,
                                       seq_ts pg_catalog.bool,
                                       OUT partnos pg_catalog.int4[], OUT parts pg_catalog.text[],
                                       OUT ords pg_catalog.text[])
AS 'MODULE_PATHNAME', 'sequenced_proxy_split' LANGUAGE C STABLE;

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

-- PL/Proxy's CLUSTER takes a name or a function call: this one names the
-- table's cluster, passed as an argument.
CREATE FUNCTION _sequenced_proxy.cluster(cluster pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE STRICT AS 'SELECT $1';

-- The number of shards of a cluster: the partition options (p0, p1, ... or
-- partition_0, ...) of its SQL/MED server, as PL/Proxy counts them; a
-- cluster kept by PL/Proxy's configuration functions instead: the rows of
-- plproxy.get_cluster_partitions.
CREATE FUNCTION _sequenced_proxy.partitions(cluster pg_catalog.text)
RETURNS pg_catalog.int4
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int4;
BEGIN
    SELECT count(*) INTO n
      FROM pg_foreign_server s
      JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw AND w.fdwname = 'plproxy'
     CROSS JOIN LATERAL pg_options_to_table(s.srvoptions) o
     WHERE s.srvname = cluster
       AND o.option_name ~ '^(p|partition_)[0-9]+$';
    IF n = 0 AND NOT EXISTS (SELECT FROM pg_foreign_server WHERE srvname = cluster)
       AND to_regprocedure('plproxy.get_cluster_partitions(text)') IS NOT NULL THEN
        EXECUTE 'SELECT count(*) FROM plproxy.get_cluster_partitions($1)' INTO n USING cluster;
    END IF;
    IF n = 0 THEN
        RAISE EXCEPTION 'cluster "%" has no shards', cluster
            USING ERRCODE = '42704',
                  HINT = 'Make it with CREATE SERVER ' || quote_ident(cluster)
                         || ' FOREIGN DATA WRAPPER plproxy OPTIONS (p0 ''...'', p1 ''...''), a power of two of partitions.';
    END IF;
    IF n & (n - 1) <> 0 THEN
        RAISE EXCEPTION 'cluster "%" has % shards, not a power of two', cluster, n
            USING ERRCODE = '22023';
    END IF;
    RETURN n;
END $$;

-- The registration of the table a call names: "schema.table", or "table"
-- when one registered table has that name.
CREATE FUNCTION _sequenced_proxy.lookup(target pg_catalog.text)
RETURNS _sequenced_proxy.tables
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    names text[];
    r _sequenced_proxy.tables;
    n int;
BEGIN
    IF target IS NULL THEN
        RAISE EXCEPTION 'target must not be null' USING ERRCODE = '22004';
    END IF;
    names := parse_ident(target);
    IF cardinality(names) = 2 THEN
        SELECT * INTO r FROM _sequenced_proxy.tables t
         WHERE t.schema_name = names[1] AND t.table_name = names[2];
        GET DIAGNOSTICS n = ROW_COUNT;
    ELSIF cardinality(names) = 1 THEN
        SELECT * INTO r FROM _sequenced_proxy.tables t WHERE t.table_name = names[1];
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 1 THEN
            RAISE EXCEPTION 'table name "%" is ambiguous on the proxy', target
                USING ERRCODE = '42P09',
                      HINT = 'Tables of that name are registered in several schemas: name the schema.';
        END IF;
    ELSE
        n := 0;
    END IF;
    IF n = 0 THEN
        RAISE EXCEPTION 'table % is not registered on the proxy', target
            USING ERRCODE = '55000',
                  HINT = 'Register it with sequenced_register on every shard, then with sequenced_proxy_register on the proxy.';
    END IF;
    RETURN r;
END $$;

-- What the remote queries set for their transaction: the caller's settings
-- that decide how values are converted and printed.
CREATE FUNCTION _sequenced_proxy.gucs()
RETURNS pg_catalog.text[]
LANGUAGE sql STABLE AS $$
SELECT ARRAY[pg_catalog.current_setting('TimeZone'), pg_catalog.current_setting('DateStyle'),
             pg_catalog.current_setting('IntervalStyle')]
$$;

-- Re-raise an error of a PL/Proxy call so that it reads as pg_sequenced's:
-- PL/Proxy's "fn(n): [db] REMOTE ERROR: " prefix and its "Remote detail: "
-- and "Remote hint: " are taken off, the SQLSTATE is kept (the error
-- fields schema, table and column do not come through PL/Proxy).  A
-- shard's positions count the messages of its part: when the shard that
-- raised it can be told (PL/Proxy does not say which one did) -- by the
-- key the message names, or because only one part is that long -- they
-- are turned into positions in the batch; otherwise the HINT lists the
-- message of the batch at that position on each shard.  A shard that
-- cannot be reached is 08006 (PL/Proxy says XX000).  Errors raised on the
-- proxy itself pass unchanged (plain RAISE in the caller).
CREATE FUNCTION _sequenced_proxy.is_remote_error(message pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql IMMUTABLE AS $$
SELECT $1 ~ '^[a-z_.]+\([0-9]+\): \[[^]]*\] REMOTE [A-Z]+: '
    OR $1 ~ '^PL/Proxy function [a-z_.]+\([0-9]+\): '
$$;

-- "record 2", "records 2 and 5", "message 2" in text, each number n
-- replaced by ords[n]
CREATE FUNCTION _sequenced_proxy.map_positions(txt pg_catalog.text, ords pg_catalog.int4[])
RETURNS pg_catalog.text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m text[];
    out text := '';
    rest text := txt;
BEGIN
    IF txt IS NULL THEN
        RETURN NULL;
    END IF;
    LOOP
        m := regexp_match(rest, '^(.*?\m(?:records?|messages?) )([0-9]+)(?![0-9])((?: and )([0-9]+)(?![0-9]))?(.*)$', 's');
        EXIT WHEN m IS NULL;
        out := out || m[1] || coalesce(ords[m[2]::int]::text, m[2]);
        IF m[3] IS NOT NULL THEN
            out := out || ' and ' || coalesce(ords[m[4]::int]::text, m[4]);
        END IF;
        rest := m[5];
    END LOOP;
    RETURN out || rest;
END $$;

CREATE FUNCTION _sequenced_proxy.reraise(state pg_catalog.text, message pg_catalog.text,
                                         detail pg_catalog.text, hint pg_catalog.text,
                                         context pg_catalog.text, tbl _sequenced_proxy.tables,
                                         partnos pg_catalog.int4[], ords pg_catalog.text[])
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    msg text := message;
    det text := detail;
    hin text := hint;
    rctx text;
    pos int;
    keytext text;
    part int;
    which int;
    cands text := '';
    ncand int := 0;
    o text;
    note text := 'Other shards may have applied their parts of the batch; sending the whole batch again is safe.';
BEGIN
    IF msg ~ '^[a-z_.]+\([0-9]+\): \[[^]]*\] REMOTE [A-Z]+: ' THEN
        msg := regexp_replace(msg, '^[a-z_.]+\([0-9]+\): \[[^]]*\] REMOTE [A-Z]+: ', '');
        det := regexp_replace(det, '^Remote detail: ', '');
        hin := regexp_replace(hin, '^Remote hint: ', '');
        rctx := substring(context from 'Remote context: ([^\n]*)');
        pos := coalesce(substring(msg from '\m(?:record|message)s? ([0-9]+)'),
                        substring(rctx from '^record ([0-9]+)'))::int;
        IF pos IS NOT NULL AND cardinality(partnos) > 0 THEN
            -- the shard: by the key the message names, else the only part that long
            keytext := substring(msg from ' key (\{[^{}]*\})');
            IF keytext IS NOT NULL AND tbl.key_columns IS NOT NULL THEN
                BEGIN
                    part := @extschema@.sequenced_proxy_key_hash(keytext::jsonb, tbl.key_columns, tbl.key_types)
                            & (_sequenced_proxy.partitions(tbl.cluster) - 1);
                    which := array_position(partnos, part);
                EXCEPTION WHEN OTHERS THEN
                    which := NULL;
                END;
            END IF;
            IF which IS NULL THEN
                FOR i IN 1 .. cardinality(partnos) LOOP
                    o := (ords[i]::int4[])[pos]::text;
                    IF o IS NOT NULL THEN
                        ncand := ncand + 1;
                        which := i;
                        cands := cands || CASE WHEN ncand > 1 THEN ', ' ELSE '' END
                                 || o || ' (shard ' || partnos[i] || ')';
                    END IF;
                END LOOP;
                IF ncand > 1 THEN
                    which := NULL;
                    note := format('Positions here count the messages sent to one shard: position %s is one of messages %s of the batch. ',
                                   pos, cands) || note;
                END IF;
            END IF;
            IF which IS NOT NULL THEN
                msg := _sequenced_proxy.map_positions(msg, ords[which]::int4[]);
                rctx := _sequenced_proxy.map_positions(rctx, ords[which]::int4[]);
                note := format('Raised by shard %s. ', partnos[which]) || note;
            END IF;
        END IF;
        IF rctx IS NOT NULL THEN
            det := coalesce(det || E'\n', '') || 'On the shard: ' || rctx || '.';
        END IF;
    ELSIF msg ~ '^PL/Proxy function [a-z_.]+\([0-9]+\): \[[^]]*\] ' THEN
        state := '08006';
        msg := 'a shard could not be reached: '
               || regexp_replace(msg, '^PL/Proxy function [a-z_.]+\([0-9]+\): ', '');
        note := 'Parts of the batch for other shards may have been applied; send the whole batch again once the shard is back.';
    END IF;
    msg := rtrim(msg, E' \n');
    IF det IS NULL OR det = '' THEN
        RAISE EXCEPTION USING ERRCODE = state, MESSAGE = msg, HINT = coalesce(hin || ' ', '') || note;
    END IF;
    RAISE EXCEPTION USING ERRCODE = state, MESSAGE = msg, DETAIL = det,
        HINT = coalesce(hin || ' ', '') || note;
END $$;

---------------------------------------------------------------------------
-- The PL/Proxy functions: one remote query each, run on the shards
---------------------------------------------------------------------------
-- Each shard gets one element of the SPLIT arrays: its number (RUN ON),
-- its part and the batch positions of the part's messages.  The first
-- FROM item sets the caller's settings for the remote transaction; the
-- call of pg_sequenced refers to it (LATERAL), so it runs after them.

CREATE FUNCTION _sequenced_proxy.upsert_messages(p_cluster pg_catalog.text, p_target pg_catalog.text,
                                                 p_partnos pg_catalog.int4[], p_parts pg_catalog.text[],
                                                 p_ords pg_catalog.text[], p_gucs pg_catalog.text[])
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
LANGUAGE plproxy AS $$
    CLUSTER _sequenced_proxy.cluster(p_cluster);
    SPLIT p_partnos, p_parts, p_ords;
    RUN ON p_partnos;
    SELECT s.o[r.ord] AS ord, r.key, r.seq, r.outcome
      FROM (SELECT (p_ords)[1]::pg_catalog.int4[] AS o,
                   pg_catalog.set_config('TimeZone', (p_gucs)[1], true) AS g1,
                   pg_catalog.set_config('DateStyle', (p_gucs)[2], true) AS g2,
                   pg_catalog.set_config('IntervalStyle', (p_gucs)[3], true) AS g3) s
     CROSS JOIN LATERAL sequenced_upsert(
            CASE WHEN s.g1 IS NOT NULL AND s.g2 IS NOT NULL AND s.g3 IS NOT NULL
                 THEN (p_target)::pg_catalog.regclass END,
            (p_parts)[1]::pg_catalog.jsonb) r;
$$;

CREATE FUNCTION _sequenced_proxy.upsert_records(p_cluster pg_catalog.text, p_target pg_catalog.text,
                                                p_partnos pg_catalog.int4[], p_parts pg_catalog.text[],
                                                p_ords pg_catalog.text[], p_seq pg_catalog.int8,
                                                p_gucs pg_catalog.text[])
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
LANGUAGE plproxy AS $$
    CLUSTER _sequenced_proxy.cluster(p_cluster);
    SPLIT p_partnos, p_parts, p_ords;
    RUN ON p_partnos;
    SELECT s.o[r.ord] AS ord, r.key, r.seq, r.outcome
      FROM (SELECT (p_ords)[1]::pg_catalog.int4[] AS o,
                   pg_catalog.set_config('TimeZone', (p_gucs)[1], true) AS g1,
                   pg_catalog.set_config('DateStyle', (p_gucs)[2], true) AS g2,
                   pg_catalog.set_config('IntervalStyle', (p_gucs)[3], true) AS g3) s
     CROSS JOIN LATERAL sequenced_upsert(
            CASE WHEN s.g1 IS NOT NULL AND s.g2 IS NOT NULL AND s.g3 IS NOT NULL
                 THEN (p_target)::pg_catalog.regclass END,
            (p_parts)[1]::pg_catalog.jsonb, p_seq) r;
$$;

CREATE FUNCTION _sequenced_proxy.delete_keys(p_cluster pg_catalog.text, p_target pg_catalog.text,
                                             p_partnos pg_catalog.int4[], p_parts pg_catalog.text[],
                                             p_ords pg_catalog.text[], p_seq pg_catalog.int8,
                                             p_gucs pg_catalog.text[])
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
LANGUAGE plproxy AS $$
    CLUSTER _sequenced_proxy.cluster(p_cluster);
    SPLIT p_partnos, p_parts, p_ords;
    RUN ON p_partnos;
    SELECT s.o[r.ord] AS ord, r.key, r.seq, r.outcome
      FROM (SELECT (p_ords)[1]::pg_catalog.int4[] AS o,
                   pg_catalog.set_config('TimeZone', (p_gucs)[1], true) AS g1,
                   pg_catalog.set_config('DateStyle', (p_gucs)[2], true) AS g2,
                   pg_catalog.set_config('IntervalStyle', (p_gucs)[3], true) AS g3) s
     CROSS JOIN LATERAL sequenced_delete(
            CASE WHEN s.g1 IS NOT NULL AND s.g2 IS NOT NULL AND s.g3 IS NOT NULL
                 THEN (p_target)::pg_catalog.regclass END,
            (p_parts)[1]::pg_catalog.jsonb, p_seq) r;
$$;

CREATE FUNCTION _sequenced_proxy.max_sequence(p_cluster pg_catalog.text, p_target pg_catalog.text)
RETURNS SETOF pg_catalog.int8
LANGUAGE plproxy AS $$
    CLUSTER _sequenced_proxy.cluster(p_cluster);
    RUN ON ALL;
    SELECT sequenced_max_sequence((p_target)::pg_catalog.regclass) AS max_sequence;
$$;

CREATE FUNCTION _sequenced_proxy.changes(p_cluster pg_catalog.text, p_target pg_catalog.text,
                                         p_partnos pg_catalog.int4[], p_after pg_catalog.int8[],
                                         p_max_rows pg_catalog.int4, p_gucs pg_catalog.text[])
RETURNS TABLE (shard pg_catalog.int4, pos pg_catalog.int8, seq pg_catalog.int8, key pg_catalog.jsonb,
               deleted pg_catalog.bool, record pg_catalog.jsonb)
LANGUAGE plproxy AS $$
    CLUSTER _sequenced_proxy.cluster(p_cluster);
    SPLIT p_partnos, p_after;
    RUN ON p_partnos;
    SELECT (p_partnos)[1] AS shard, c.pos, c.seq, c.key, c.deleted, c.record
      FROM (SELECT pg_catalog.set_config('TimeZone', (p_gucs)[1], true) AS g1,
                   pg_catalog.set_config('DateStyle', (p_gucs)[2], true) AS g2,
                   pg_catalog.set_config('IntervalStyle', (p_gucs)[3], true) AS g3) s
     CROSS JOIN LATERAL sequenced_changes(
            CASE WHEN s.g1 IS NOT NULL AND s.g2 IS NOT NULL AND s.g3 IS NOT NULL
                 THEN (p_target)::pg_catalog.regclass END,
            (p_after)[1], p_max_rows) c;
$$;

CREATE FUNCTION _sequenced_proxy.delete_missing_count(p_cluster pg_catalog.text, p_target pg_catalog.text,
                                                      p_seq pg_catalog.int8, p_scope pg_catalog.jsonb,
                                                      p_gucs pg_catalog.text[])
RETURNS TABLE (live pg_catalog.int8, missing pg_catalog.int8)
LANGUAGE plproxy AS $$
    CLUSTER _sequenced_proxy.cluster(p_cluster);
    RUN ON ALL;
    SELECT c.live, c.missing
      FROM (SELECT pg_catalog.set_config('TimeZone', (p_gucs)[1], true) AS g1,
                   pg_catalog.set_config('DateStyle', (p_gucs)[2], true) AS g2,
                   pg_catalog.set_config('IntervalStyle', (p_gucs)[3], true) AS g3) s
     CROSS JOIN LATERAL sequenced_delete_missing_count(
            CASE WHEN s.g1 IS NOT NULL AND s.g2 IS NOT NULL AND s.g3 IS NOT NULL
                 THEN (p_target)::pg_catalog.regclass END,
            p_seq, p_scope) c;
$$;

CREATE FUNCTION _sequenced_proxy.delete_missing(p_cluster pg_catalog.text, p_target pg_catalog.text,
                                                p_seq pg_catalog.int8, p_scope pg_catalog.jsonb,
                                                p_gucs pg_catalog.text[])
RETURNS TABLE (key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
LANGUAGE plproxy AS $$
    CLUSTER _sequenced_proxy.cluster(p_cluster);
    RUN ON ALL;
    SELECT d.key, d.seq, d.outcome
      FROM (SELECT pg_catalog.set_config('TimeZone', (p_gucs)[1], true) AS g1,
                   pg_catalog.set_config('DateStyle', (p_gucs)[2], true) AS g2,
                   pg_catalog.set_config('IntervalStyle', (p_gucs)[3], true) AS g3) s
     CROSS JOIN LATERAL sequenced_delete_missing(
            CASE WHEN s.g1 IS NOT NULL AND s.g2 IS NOT NULL AND s.g3 IS NOT NULL
                 THEN (p_target)::pg_catalog.regclass END,
            p_seq, NULL::pg_catalog.float8, p_scope) d;
$$;

-- What a shard knows of a table: its schema and name, its registration's
-- key columns, each key column's type (the base type of a domain, with its
-- modifier, or 'enum'), the key columns whose collation is not
-- deterministic (their equality is not their text's), the sequence
-- column's type, and the key index's columns in its order with their
-- directions (pg_sequenced's "key order").
CREATE FUNCTION _sequenced_proxy.table_info(p_cluster pg_catalog.text, p_partnos pg_catalog.int4[],
                                            p_target pg_catalog.text)
RETURNS TABLE (shard pg_catalog.int4, schema_name pg_catalog.text, table_name pg_catalog.text,
               key_columns pg_catalog.text[], key_types pg_catalog.text[],
               nondeterministic pg_catalog.text, sequence_type pg_catalog.text,
               order_columns pg_catalog.text[], order_desc pg_catalog.bool[])
LANGUAGE plproxy AS $$
    CLUSTER _sequenced_proxy.cluster(p_cluster);
    SPLIT p_partnos;
    RUN ON p_partnos;
    SELECT (p_partnos)[1] AS shard, n.nspname::pg_catalog.text AS schema_name,
           c.relname::pg_catalog.text AS table_name, t.key_columns AS key_columns,
           ARRAY(SELECT CASE WHEN bt.typtype OPERATOR(pg_catalog.=) 'e' THEN 'enum'
                             ELSE pg_catalog.format_type(b.typ, b.typmod) END
                   FROM pg_catalog.unnest(t.key_columns) WITH ORDINALITY AS k(col, i)
                   JOIN pg_catalog.pg_attribute a
                     ON a.attrelid OPERATOR(pg_catalog.=) t.relid
                    AND a.attname OPERATOR(pg_catalog.=) k.col::pg_catalog.name
                  CROSS JOIN LATERAL (
                        WITH RECURSIVE d(typ, typmod) AS (
                            SELECT a.atttypid, a.atttypmod
                            UNION ALL
                            SELECT ty.typbasetype, ty.typtypmod
                              FROM d JOIN pg_catalog.pg_type ty ON ty.oid OPERATOR(pg_catalog.=) d.typ
                             WHERE ty.typtype OPERATOR(pg_catalog.=) 'd')
                        SELECT d.typ, d.typmod FROM d
                          JOIN pg_catalog.pg_type x ON x.oid OPERATOR(pg_catalog.=) d.typ
                         WHERE x.typtype OPERATOR(pg_catalog.<>) 'd') b
                   JOIN pg_catalog.pg_type bt ON bt.oid OPERATOR(pg_catalog.=) b.typ
                  ORDER BY k.i) AS key_types,
           (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ')
              FROM pg_catalog.pg_attribute a
              JOIN pg_catalog.pg_collation co ON co.oid OPERATOR(pg_catalog.=) a.attcollation
             WHERE a.attrelid OPERATOR(pg_catalog.=) t.relid
               AND a.attname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (t.key_columns)
               AND NOT co.collisdeterministic) AS nondeterministic,
           (SELECT pg_catalog.format_type(sa.atttypid, sa.atttypmod)
              FROM pg_catalog.pg_attribute sa
             WHERE sa.attrelid OPERATOR(pg_catalog.=) t.relid
               AND sa.attname OPERATOR(pg_catalog.=) t.sequence_column::pg_catalog.name) AS sequence_type,
           ki.cols AS order_columns, ki.descs AS order_desc
      FROM sequenced_tables t
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
      LEFT JOIN LATERAL (
            SELECT ARRAY(SELECT a2.attname::pg_catalog.text
                           FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS u(attnum, n)
                           JOIN pg_catalog.pg_attribute a2
                             ON a2.attrelid OPERATOR(pg_catalog.=) i.indrelid
                            AND a2.attnum OPERATOR(pg_catalog.=) u.attnum
                          WHERE u.n OPERATOR(pg_catalog.<=) i.indnkeyatts
                          ORDER BY u.n) AS cols,
                   ARRAY(SELECT (i.indoption[u.n OPERATOR(pg_catalog.-) 1] OPERATOR(pg_catalog.&) 1) OPERATOR(pg_catalog.=) 1
                           FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS u(attnum, n)
                          WHERE u.n OPERATOR(pg_catalog.<=) i.indnkeyatts
                          ORDER BY u.n) AS descs
              FROM pg_catalog.pg_index i
             WHERE i.indrelid OPERATOR(pg_catalog.=) t.relid
               AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
               AND i.indnkeyatts OPERATOR(pg_catalog.=) pg_catalog.cardinality(t.key_columns)
               AND (SELECT pg_catalog.array_agg(a3.attname::pg_catalog.text ORDER BY a3.attname::pg_catalog.text)
                      FROM pg_catalog.pg_attribute a3
                     WHERE a3.attrelid OPERATOR(pg_catalog.=) i.indrelid
                       AND a3.attnum OPERATOR(pg_catalog.=) ANY ((i.indkey::pg_catalog.int2[])[0:i.indnkeyatts OPERATOR(pg_catalog.-) 1]))
                   OPERATOR(pg_catalog.=)
                   (SELECT pg_catalog.array_agg(kc ORDER BY kc) FROM pg_catalog.unnest(t.key_columns) kc)
             ORDER BY i.indisprimary DESC, i.indexrelid
             LIMIT 1) ki ON true
     WHERE t.relid OPERATOR(pg_catalog.=) (p_target)::pg_catalog.regclass;
$$;

---------------------------------------------------------------------------
-- Registration on the proxy
---------------------------------------------------------------------------

-- Read the table's key columns and their types from every shard of the
-- cluster (where it must be registered, alike), and keep them.  Again:
-- reads them again (after a change of the key on the shards), or points
-- the table at another cluster -- its data does not move: keys are where
-- the old cluster put them.
CREATE FUNCTION sequenced_proxy_register(target pg_catalog.text,
                                         cluster pg_catalog.text DEFAULT 'sequenced')
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int4;
    i record;
    f record;
    cnt int := 0;
    seen int4[] := '{}';
    missing text;
BEGIN
    IF target IS NULL OR cluster IS NULL THEN
        RAISE EXCEPTION 'target and cluster must not be null' USING ERRCODE = '22004';
    END IF;
    n := _sequenced_proxy.partitions(cluster);
    FOR i IN SELECT * FROM _sequenced_proxy.table_info(cluster, ARRAY(SELECT generate_series(0, n - 1)), target)
             ORDER BY shard LOOP
        cnt := cnt + 1;
        seen := seen || i.shard;
        IF i.nondeterministic IS NOT NULL THEN
            RAISE EXCEPTION 'key column % of table %.% has a nondeterministic collation on shard %',
                            i.nondeterministic, quote_ident(i.schema_name), quote_ident(i.table_name), i.shard
                USING ERRCODE = '0A000',
                      DETAIL = 'Keys equal under such a collation may differ in text, and the proxy routes keys by their text.';
        END IF;
        IF cnt = 1 THEN
            f := i;
        ELSIF (i.schema_name, i.table_name, i.key_columns, i.key_types, i.sequence_type,
               i.order_columns, i.order_desc)
              IS DISTINCT FROM (f.schema_name, f.table_name, f.key_columns, f.key_types, f.sequence_type,
                                f.order_columns, f.order_desc) THEN
            RAISE EXCEPTION 'table % is not the same on shards % and %', target, f.shard, i.shard
                USING ERRCODE = '55000',
                      DETAIL = format('Shard %s: %I.%I, key %s of types %s, sequence of type %s, key index on %s (descending: %s); shard %s: %I.%I, key %s of types %s, sequence of type %s, key index on %s (descending: %s).',
                                      f.shard, f.schema_name, f.table_name, f.key_columns, f.key_types, f.sequence_type, f.order_columns, f.order_desc,
                                      i.shard, i.schema_name, i.table_name, i.key_columns, i.key_types, i.sequence_type, i.order_columns, i.order_desc),
                      HINT = 'Every shard must have the table, registered with the same key columns of the same types, the same sequence column type and the same key index.';
        END IF;
    END LOOP;
    IF cnt < n THEN
        SELECT string_agg(g::text, ', ') INTO missing
          FROM generate_series(0, n - 1) g WHERE g <> ALL (seen);
        RAISE EXCEPTION 'table % is not registered on shard % of cluster "%"', target, missing, cluster
            USING ERRCODE = '55000',
                  HINT = 'Register it with sequenced_register on every shard first.';
    END IF;
    -- refuses key types the hash does not know (0A000)
    PERFORM _sequenced_proxy.split('keys', '[]', f.key_columns, f.key_types, n, f.schema_name, f.table_name, false);
    INSERT INTO _sequenced_proxy.tables AS t (schema_name, table_name, cluster, key_columns, key_types,
                                              sequence_type, order_columns, order_desc)
    VALUES (f.schema_name, f.table_name, cluster, f.key_columns, f.key_types,
            f.sequence_type, f.order_columns, f.order_desc)
    ON CONFLICT (schema_name, table_name) DO UPDATE
       SET cluster = excluded.cluster, key_columns = excluded.key_columns, key_types = excluded.key_types,
           sequence_type = excluded.sequence_type, order_columns = excluded.order_columns,
           order_desc = excluded.order_desc;
END $$;

CREATE FUNCTION sequenced_proxy_unregister(target pg_catalog.text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r _sequenced_proxy.tables := _sequenced_proxy.lookup(target);
BEGIN
    DELETE FROM _sequenced_proxy.tables t
     WHERE t.schema_name = r.schema_name AND t.table_name = r.table_name;
END $$;

REVOKE ALL ON FUNCTION sequenced_proxy_register(pg_catalog.text, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION sequenced_proxy_unregister(pg_catalog.text) FROM PUBLIC;

-- The shard a key of a registered table lives on (0 .. shards - 1)
CREATE FUNCTION sequenced_proxy_shard(target pg_catalog.text, key pg_catalog.jsonb)
RETURNS pg_catalog.int4
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r _sequenced_proxy.tables := _sequenced_proxy.lookup(target);
BEGIN
    RETURN @extschema@.sequenced_proxy_key_hash(key, r.key_columns, r.key_types)
           & (_sequenced_proxy.partitions(r.cluster) - 1);
END $$;

---------------------------------------------------------------------------
-- Applying records (SPEC section 2)
---------------------------------------------------------------------------

-- form: 'messages' (p_seq NULL), 'records' or 'keys'
CREATE FUNCTION _sequenced_proxy.apply(p_form pg_catalog.text, p_target pg_catalog.text,
                                       p_input pg_catalog.jsonb, p_seq pg_catalog.int8)
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t _sequenced_proxy.tables;
    s record;
    qual text;
    e_state text;
    e_msg text;
    e_detail text;
    e_hint text;
    e_ctx text;
BEGIN
    IF p_input IS NULL THEN
        RAISE EXCEPTION '% must not be null',
                        CASE p_form WHEN 'messages' THEN 'messages' WHEN 'records' THEN 'data' ELSE 'keys' END
            USING ERRCODE = '22023';
    END IF;
    IF p_form <> 'messages' AND p_seq IS NULL THEN
        RAISE EXCEPTION 'the sequence must not be null' USING ERRCODE = '22023',
            HINT = 'Pass the records'' sequence as the argument seq.';
    END IF;
    t := _sequenced_proxy.lookup(p_target);
    qual := format('%I.%I', t.schema_name, t.table_name);
    s := _sequenced_proxy.split(p_form, p_input, t.key_columns, t.key_types,
                                _sequenced_proxy.partitions(t.cluster), t.schema_name, t.table_name,
                                t.sequence_type = 'timestamp with time zone');
    IF cardinality(s.partnos) = 0 THEN
        RETURN;
    END IF;
    BEGIN
        IF p_form = 'messages' THEN
            RETURN QUERY SELECT r.ord, r.key, r.seq, r.outcome
              FROM _sequenced_proxy.upsert_messages(t.cluster, qual, s.partnos, s.parts, s.ords,
                                                    _sequenced_proxy.gucs()) r
             ORDER BY r.ord;
        ELSIF p_form = 'records' THEN
            RETURN QUERY SELECT r.ord, r.key, r.seq, r.outcome
              FROM _sequenced_proxy.upsert_records(t.cluster, qual, s.partnos, s.parts, s.ords, p_seq,
                                                   _sequenced_proxy.gucs()) r
             ORDER BY r.ord;
        ELSE
            RETURN QUERY SELECT r.ord, r.key, r.seq, r.outcome
              FROM _sequenced_proxy.delete_keys(t.cluster, qual, s.partnos, s.parts, s.ords, p_seq,
                                                _sequenced_proxy.gucs()) r
             ORDER BY r.ord;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                                e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT,
                                e_ctx = PG_EXCEPTION_CONTEXT;
        IF NOT _sequenced_proxy.is_remote_error(e_msg) THEN
            RAISE;
        END IF;
        PERFORM _sequenced_proxy.reraise(e_state, e_msg, nullif(e_detail, ''), nullif(e_hint, ''),
                                         e_ctx, t, s.partnos, s.ords);
    END;
END $$;

CREATE FUNCTION sequenced_upsert(target pg_catalog.text, messages pg_catalog.jsonb)
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
LANGUAGE sql ROWS 100 AS
'SELECT * FROM _sequenced_proxy.apply(''messages'', $1, $2, NULL)';

CREATE FUNCTION sequenced_upsert(target pg_catalog.text, data pg_catalog.jsonb, seq pg_catalog.int8)
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
LANGUAGE sql ROWS 100 AS
'SELECT * FROM _sequenced_proxy.apply(''records'', $1, $2, $3)';

CREATE FUNCTION sequenced_delete(target pg_catalog.text, keys pg_catalog.jsonb, seq pg_catalog.int8)
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
LANGUAGE sql ROWS 100 AS
'SELECT * FROM _sequenced_proxy.apply(''keys'', $1, $2, $3)';

-- The highest sequence accepted into the table: the maximum over shards
-- (NULL before the first).
CREATE FUNCTION sequenced_max_sequence(target pg_catalog.text)
RETURNS pg_catalog.int8
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t _sequenced_proxy.tables := _sequenced_proxy.lookup(target);
    m int8;
    e_state text;
    e_msg text;
    e_detail text;
    e_hint text;
    e_ctx text;
BEGIN
    SELECT max(x) INTO m
      FROM _sequenced_proxy.max_sequence(t.cluster, format('%I.%I', t.schema_name, t.table_name)) x;
    RETURN m;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                            e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT,
                            e_ctx = PG_EXCEPTION_CONTEXT;
    IF NOT _sequenced_proxy.is_remote_error(e_msg) THEN
        RAISE;
    END IF;
    PERFORM _sequenced_proxy.reraise(e_state, e_msg, nullif(e_detail, ''), nullif(e_hint, ''),
                                     e_ctx, t, NULL, NULL);
END $$;

---------------------------------------------------------------------------
-- Reading changes (SPEC section 4) through the proxy
---------------------------------------------------------------------------
/*
 * The cursor is a vector: pos is a bigint[] with one position per shard
 * (pos[i + 1] for shard i), and after takes such a vector back (NULL: from
 * the beginning of every shard).  A consumer keeps the pos of the last row
 * it saw and asks again with it, as on one server.
 *
 * One call asks every shard i, in parallel, for its changes after
 * after[i + 1], at most max_rows of them (sequenced_changes on the shard,
 * in one transaction there).  Call L_i the list shard i returns.  The call
 * returns the rows of all lists merged: first the first row of each list
 * (in shard order), then the second of each, and so on, cut after
 * max_rows rows.  Each returned row r carries the vector c(r): for every
 * shard i, the position of the last row of L_i at or before r in the
 * output, or after[i + 1] when there is none.
 *
 * Claim: a consumer that resumes from the pos of the last row it saw (the
 * vector c(r)) never misses a change of any shard.
 *
 *	1. Every key lives on exactly one shard, for good: its shard is a fixed
 *	   function of its values (src/proxy.c), and the shard count is fixed
 *	   for a cluster.  So every change of the table is a change in exactly
 *	   one shard's feed, and "missing nothing" means missing nothing of
 *	   any shard's feed.
 *	2. The merge keeps each list's order, and the cut takes a prefix of the
 *	   merged output; so the rows of L_i at or before r are a prefix P_i of
 *	   L_i, and c(r)[i] is the position of P_i's last row (after[i + 1] if
 *	   P_i is empty).
 *	3. By section 4, L_i is the first rows, in ascending position, of the
 *	   changes after after[i + 1] that shard i hands out at that moment;
 *	   its prefix P_i is what the same call with max_rows = |P_i| would
 *	   have returned (max_rows only cuts that list, and 0 returns nothing).
 *	4. So, shard by shard, the consumer behaves as a consumer of that one
 *	   shard that asked with after[i + 1], saw P_i, and resumes from the
 *	   last position it saw -- or, for an empty P_i, asks again with the
 *	   same position.  Section 4's guarantee on that shard (positions.c:
 *	   its watermark) says such a consumer misses nothing there: not a
 *	   late record for a new key, not a change committed later by a
 *	   transaction that began earlier.
 *
 * The vectors of the rows of one call, in order, never decrease in any
 * component, so rows come in ascending pos (componentwise).  Changing the
 * shard count (moving keys) makes old cursors meaningless: they are
 * refused when their length differs from the shard count.
 */
CREATE FUNCTION _sequenced_proxy.changes_merged(p_target pg_catalog.text, p_after pg_catalog.int8[],
                                                p_max_rows pg_catalog.int4)
RETURNS TABLE (pos pg_catalog.int8[], seq pg_catalog.int8, key pg_catalog.jsonb,
               deleted pg_catalog.bool, record pg_catalog.jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t _sequenced_proxy.tables := _sequenced_proxy.lookup(p_target);
    n int4 := _sequenced_proxy.partitions(t.cluster);
    cur int8[];
    r record;
    k int8 := 0;
    e_state text;
    e_msg text;
    e_detail text;
    e_hint text;
    e_ctx text;
BEGIN
    IF p_after IS NULL OR cardinality(p_after) = 0 THEN
        cur := array_fill(0::int8, ARRAY[n]);
    ELSIF array_ndims(p_after) <> 1 OR cardinality(p_after) <> n THEN
        RAISE EXCEPTION 'after has % positions, but table % is on % shards', cardinality(p_after), p_target, n
            USING ERRCODE = '22023',
                  HINT = 'Pass the pos of the last row read (one position per shard), or NULL to start from the beginning.';
    ELSIF array_position(p_after, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'after must not contain nulls' USING ERRCODE = '22023';
    ELSE
        cur := ARRAY(SELECT unnest(p_after));     -- subscripts from 1
    END IF;
    IF p_max_rows IS NOT NULL AND p_max_rows < 0 THEN
        RAISE EXCEPTION 'max_rows must not be negative' USING ERRCODE = '22023';
    END IF;
    IF p_max_rows = 0 THEN
        RETURN;
    END IF;
    BEGIN
        FOR r IN
            SELECT c.shard, c.pos AS p, c.seq AS s, c.key AS k, c.deleted AS d, c.record AS rec
              FROM _sequenced_proxy.changes(t.cluster, format('%I.%I', t.schema_name, t.table_name),
                                            ARRAY(SELECT generate_series(0, n - 1)), cur, p_max_rows,
                                            _sequenced_proxy.gucs()) c
             ORDER BY row_number() OVER (PARTITION BY c.shard ORDER BY c.pos), c.shard
        LOOP
            EXIT WHEN p_max_rows IS NOT NULL AND k >= p_max_rows;
            k := k + 1;
            cur[r.shard + 1] := r.p;
            pos := cur;
            seq := r.s;
            key := r.k;
            deleted := r.d;
            record := r.rec;
            RETURN NEXT;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                                e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT,
                                e_ctx = PG_EXCEPTION_CONTEXT;
        IF NOT _sequenced_proxy.is_remote_error(e_msg) THEN
            RAISE;
        END IF;
        PERFORM _sequenced_proxy.reraise(e_state, e_msg, nullif(e_detail, ''), nullif(e_hint, ''),
                                         e_ctx, t, NULL, NULL);
    END;
END $$;

CREATE FUNCTION sequenced_changes(target pg_catalog.text, after pg_catalog.int8[] DEFAULT NULL,
                                  max_rows pg_catalog.int4 DEFAULT NULL)
RETURNS TABLE (pos pg_catalog.int8[], seq pg_catalog.int8, key pg_catalog.jsonb,
               deleted pg_catalog.bool, record pg_catalog.jsonb)
LANGUAGE sql ROWS 1000 AS
'SELECT * FROM _sequenced_proxy.changes_merged($1, $2, $3)';

---------------------------------------------------------------------------
-- Rescans (SPEC section 6) through the proxy
---------------------------------------------------------------------------
/*
 * The breaker counts over all shards before any shard deletes: every shard
 * counts (sequenced_delete_missing_count, a dry run), the proxy sums live
 * and missing and trips (54000) when missing > max_fraction * live; only
 * then is sequenced_delete_missing called on every shard, with no limit of
 * its own (max_fraction NULL: one shard may hold most of what is missing).
 * The count and the deletes are separate transactions on each shard: a
 * key that a newer message touched in between is not deleted (the shard
 * re-checks each key under its lock), and a key that became missing in
 * between is deleted, as the rule says it must be.
 *
 * The output is one row per deleted key, ord 1, 2, ... in key order over
 * all shards: the key index's columns in its order, each ascending or
 * descending as there, the values converted to their types on the proxy
 * (an enum by its label; text in the proxy's default collation).
 */
CREATE FUNCTION _sequenced_proxy.delete_missing_run(p_target pg_catalog.text, p_seq pg_catalog.int8,
                                                    p_max_fraction pg_catalog.float8,
                                                    p_scope pg_catalog.jsonb)
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t _sequenced_proxy.tables := _sequenced_proxy.lookup(p_target);
    qual text := format('%I.%I', t.schema_name, t.table_name);
    live int8;
    missing int8;
    orderby text;
    e_state text;
    e_msg text;
    e_detail text;
    e_hint text;
    e_ctx text;
BEGIN
    IF p_seq IS NULL THEN
        RAISE EXCEPTION 'the sequence must not be null' USING ERRCODE = '22023',
            HINT = 'Pass the sequence the snapshot was taken at as the argument seq.';
    END IF;
    IF p_max_fraction IS NOT NULL AND (p_max_fraction = 'NaN'::float8 OR p_max_fraction < 0) THEN
        RAISE EXCEPTION 'max_fraction must be a number of at least 0, or NULL for no limit'
            USING ERRCODE = '22023';
    END IF;
    IF cardinality(t.key_columns) = 0 THEN
        RAISE EXCEPTION 'table % is append-only: it has no keys to delete', qual USING ERRCODE = '22023';
    END IF;
    SELECT string_agg(format('(d.key ->> %L)', o.c)
                      || CASE WHEN k.ty = 'enum' THEN '' ELSE '::' || k.ty END
                      || CASE WHEN o.dsc THEN ' DESC' ELSE '' END, ', ' ORDER BY o.i)
      INTO orderby
      FROM unnest(coalesce(t.order_columns, t.key_columns),
                  coalesce(t.order_desc, array_fill(false, ARRAY[cardinality(t.key_columns)])))
           WITH ORDINALITY AS o(c, dsc, i)
      JOIN unnest(t.key_columns, t.key_types) AS k(c, ty) ON k.c = o.c;
    BEGIN
        SELECT coalesce(sum(c.live), 0), coalesce(sum(c.missing), 0) INTO live, missing
          FROM _sequenced_proxy.delete_missing_count(t.cluster, qual, p_seq, p_scope, _sequenced_proxy.gucs()) c;
        IF p_max_fraction IS NOT NULL AND missing::float8 > p_max_fraction * live::float8 THEN
            RAISE EXCEPTION 'sequenced_delete_missing would delete too large a part of table %', qual
                USING ERRCODE = '54000',
                      DETAIL = format('%s of %s live keys (over all shards) were not sent at sequence %s or later; max_fraction allows %s of them.',
                                      missing, live, p_seq, p_max_fraction * live::float8),
                      HINT = 'If the snapshot was complete, call it again with a larger max_fraction (or NULL for no limit).';
        END IF;
        RETURN QUERY EXECUTE format(
            'SELECT (row_number() OVER (ORDER BY %s))::pg_catalog.int4, d.key, d.seq, d.outcome
               FROM _sequenced_proxy.delete_missing($1, $2, $3, $4, $5) d
              ORDER BY %s', orderby, orderby)
            USING t.cluster, qual, p_seq, p_scope, _sequenced_proxy.gucs();
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                                e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT,
                                e_ctx = PG_EXCEPTION_CONTEXT;
        IF NOT _sequenced_proxy.is_remote_error(e_msg) THEN
            RAISE;
        END IF;
        PERFORM _sequenced_proxy.reraise(e_state, e_msg, nullif(e_detail, ''), nullif(e_hint, ''),
                                         e_ctx, t, NULL, NULL);
    END;
END $$;

CREATE FUNCTION sequenced_delete_missing(target pg_catalog.text, seq pg_catalog.int8,
                                         max_fraction pg_catalog.float8 DEFAULT 0.1,
                                         scope pg_catalog.jsonb DEFAULT NULL)
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
LANGUAGE sql ROWS 100 AS
'SELECT * FROM _sequenced_proxy.delete_missing_run($1, $2, $3, $4)';
