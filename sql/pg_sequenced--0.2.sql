/* pg_sequenced 0.2: record sequencing inside PostgreSQL (see README.md) */
\echo Use "CREATE EXTENSION pg_sequenced" to load this file. \quit

/*
 * Internal objects live in the schema _sequenced, where no other role may
 * name anything.  The catalog (config, max_log, settings) belongs to the
 * extension's owner; each registered table's key state belongs to that
 * table's owner, so that code of the table's types (run by VACUUM, ANALYZE
 * and index builds as the table's owner) never runs as the extension's
 * owner.  See src/catalog.c, "Rights".
 */
CREATE SCHEMA _sequenced;
REVOKE ALL ON SCHEMA _sequenced FROM PUBLIC;

-- One row per registered table.  state_rel is the table's key state table
-- (tombstones, change positions, the per-key lock), created by registration.
-- state_rel: the key state (tombstones, the key's stored sequence and the
-- position of its change where its row cannot say them, the per-key lock);
-- log_rel: the change log (which key changed at which position), none for
-- an append-only table; history_rel: <table>_history, once history is on.
CREATE TABLE _sequenced.config (
    relid           pg_catalog.regclass PRIMARY KEY,
    key_columns     pg_catalog.text[] NOT NULL,
    sequence_column pg_catalog.text NOT NULL,
    on_equal        pg_catalog.text NOT NULL,
    deletes         pg_catalog.text NOT NULL,
    ordering        pg_catalog.text NOT NULL,
    state_rel       pg_catalog.regclass NOT NULL,
    log_rel         pg_catalog.regclass,
    unchanged       pg_catalog.text NOT NULL DEFAULT 'write',
    history         pg_catalog.bool NOT NULL DEFAULT false,
    history_rel     pg_catalog.regclass,
    unknown_properties pg_catalog.text NOT NULL DEFAULT 'error',
    omitted         pg_catalog.text NOT NULL DEFAULT 'default'
);

-- max_sequence is kept as an insert-only log: a call that raises a table's
-- maximum inserts a row instead of updating one, so writers on disjoint keys
-- never queue on a shared row lock, and a rolled back call leaves no trace.
-- The maximum is the highest row; older rows are compacted away
-- opportunistically, skipping rows another transaction holds (never waits).
CREATE TABLE _sequenced.max_log (
    relid pg_catalog.regclass NOT NULL,
    seq   pg_catalog.int8 NOT NULL
);
CREATE INDEX max_log_relid_seq ON _sequenced.max_log (relid, seq);

-- Change positions are (transaction id << 24 | counter) + position_offset.
-- Transaction ids start again in another cluster, so after a restore (a
-- new system_identifier) the first writer moves the offset above every
-- position restored.  Its row is data, dumped and
-- restored.
CREATE TABLE _sequenced.settings (
    system_identifier pg_catalog.text NOT NULL,
    position_offset   pg_catalog.int8 NOT NULL
);
-- This cluster's row, made here: a first writer that made it would hold the
-- settings' lock to its end, and every other writer would wait for it.
INSERT INTO _sequenced.settings
SELECT system_identifier::pg_catalog.text, 0 FROM pg_catalog.pg_control_system();

SELECT pg_catalog.pg_extension_config_dump('_sequenced.settings', '');
SELECT pg_catalog.pg_extension_config_dump('_sequenced.config', '');
SELECT pg_catalog.pg_extension_config_dump('_sequenced.max_log', '');
REVOKE ALL ON _sequenced.config, _sequenced.max_log, _sequenced.settings FROM PUBLIC;

-- max_sequence, like sequenced_max_sequence(), only for tables the caller
-- may read (SELECT on the table or a column of it)
CREATE VIEW sequenced_tables AS
SELECT c.relid, c.key_columns, c.sequence_column, c.on_equal, c.deletes, c.ordering,
       CASE WHEN pg_catalog.has_any_column_privilege(c.relid::pg_catalog.oid, 'SELECT')
            THEN (SELECT pg_catalog.max(m.seq) FROM _sequenced.max_log m
                   WHERE m.relid OPERATOR(pg_catalog.=) c.relid) END AS max_sequence,
       c.unchanged, c.history
  FROM _sequenced.config c;
REVOKE ALL ON sequenced_tables FROM PUBLIC;
GRANT SELECT ON sequenced_tables TO PUBLIC;

-- The record options of each table (unknown_properties, omitted), for the
-- roles that may read it (sequenced_tables keeps the SPEC's columns).
CREATE VIEW sequenced_table_options AS
SELECT c.relid, c.unknown_properties, c.omitted
  FROM _sequenced.config c
 WHERE pg_catalog.has_any_column_privilege(c.relid::pg_catalog.oid, 'SELECT');
REVOKE ALL ON sequenced_table_options FROM PUBLIC;
GRANT SELECT ON sequenced_table_options TO PUBLIC;

CREATE FUNCTION sequenced_register(target pg_catalog.regclass,
                                   key_columns pg_catalog.text[] DEFAULT NULL,
                                   sequence_column pg_catalog.text DEFAULT '_sdc_sequence',
                                   on_equal pg_catalog.text DEFAULT 'keep',
                                   deletes pg_catalog.text DEFAULT 'hard',
                                   ordering pg_catalog.text DEFAULT 'per_key',
                                   unchanged pg_catalog.text DEFAULT 'write',
                                   history pg_catalog.bool DEFAULT false,
                                   unknown_properties pg_catalog.text DEFAULT 'error',
                                   omitted pg_catalog.text DEFAULT 'default')
RETURNS void
AS 'MODULE_PATHNAME', 'sequenced_register' LANGUAGE C;

CREATE FUNCTION sequenced_unregister(target pg_catalog.regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'sequenced_unregister' LANGUAGE C;

CREATE FUNCTION sequenced_max_sequence(target pg_catalog.regclass)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'sequenced_max_sequence' LANGUAGE C STABLE;

CREATE FUNCTION sequenced_upsert(target pg_catalog.regclass, data pg_catalog.jsonb, seq pg_catalog.int8)
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
AS 'MODULE_PATHNAME', 'sequenced_upsert_data' LANGUAGE C ROWS 100;

CREATE FUNCTION sequenced_upsert(target pg_catalog.regclass, messages pg_catalog.jsonb)
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
AS 'MODULE_PATHNAME', 'sequenced_upsert_messages' LANGUAGE C ROWS 100;

CREATE FUNCTION sequenced_delete(target pg_catalog.regclass, keys pg_catalog.jsonb, seq pg_catalog.int8)
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
AS 'MODULE_PATHNAME', 'sequenced_delete' LANGUAGE C ROWS 100;

CREATE FUNCTION sequenced_purge_tombstones(target pg_catalog.regclass, before_seq pg_catalog.int8)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'sequenced_purge_tombstones' LANGUAGE C;

-- Staging tables: a trigger function for AFTER INSERT ... FOR EACH STATEMENT
-- (with REFERENCING NEW TABLE) or BEFORE INSERT ... FOR EACH ROW.
CREATE FUNCTION sequenced_apply_staging()
RETURNS trigger
AS 'MODULE_PATHNAME', 'sequenced_apply_staging' LANGUAGE C;

CREATE FUNCTION sequenced_changes(target pg_catalog.regclass,
                                  after pg_catalog.int8 DEFAULT 0,
                                  max_rows pg_catalog.int4 DEFAULT NULL)
RETURNS TABLE (pos pg_catalog.int8, seq pg_catalog.int8, key pg_catalog.jsonb,
               deleted pg_catalog.bool, record pg_catalog.jsonb)
AS 'MODULE_PATHNAME', 'sequenced_changes' LANGUAGE C VOLATILE;

-- Rescans (SPEC section 6): after a full snapshot taken at seq was applied,
-- delete the live keys it did not contain, behind a circuit breaker; the
-- count alone (a dry run; the proxy sums it over shards).
CREATE FUNCTION sequenced_delete_missing(target pg_catalog.regclass, seq pg_catalog.int8,
                                         max_fraction pg_catalog.float8 DEFAULT 0.1,
                                         scope pg_catalog.jsonb DEFAULT NULL)
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
AS 'MODULE_PATHNAME', 'sequenced_delete_missing' LANGUAGE C CALLED ON NULL INPUT ROWS 100;

CREATE FUNCTION sequenced_delete_missing_count(target pg_catalog.regclass, seq pg_catalog.int8,
                                               scope pg_catalog.jsonb DEFAULT NULL,
                                               OUT live pg_catalog.int8, OUT missing pg_catalog.int8)
AS 'MODULE_PATHNAME', 'sequenced_delete_missing_count' LANGUAGE C CALLED ON NULL INPUT;

-- History (SPEC section 7): the history table of a table registered with
-- history => true (55000 otherwise); the table as of a sequence; one key's
-- versions; purging old versions.
CREATE FUNCTION sequenced_history_table(target pg_catalog.regclass)
RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    hist pg_catalog.regclass;
BEGIN
    -- (the history of a table registered with history; it keeps its name
    -- when the table is renamed)
    SELECT c.history_rel INTO hist FROM _sequenced.config c
     WHERE c.relid OPERATOR(pg_catalog.=) target AND c.history;
    IF hist IS NULL THEN
        RAISE EXCEPTION 'table % is not registered with history', target
            USING ERRCODE = '55000',
                  HINT = pg_catalog.format('Register it with SELECT sequenced_register(%L, history => true);', target::pg_catalog.text);
    END IF;
    RETURN (SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
              FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
             WHERE c.oid OPERATOR(pg_catalog.=) hist);
END
$$;

CREATE FUNCTION sequenced_as_of(target anyelement, seq pg_catalog.int8)
RETURNS SETOF anyelement
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel pg_catalog.oid;
    cols pg_catalog.text;
BEGIN
    SELECT t.typrelid INTO rel FROM pg_catalog.pg_type t
     WHERE t.oid OPERATOR(pg_catalog.=) pg_catalog.pg_typeof(target);
    IF rel IS NULL OR rel OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION 'target must be a table''s row type, as in NULL::my_table'
            USING ERRCODE = '22023';
    END IF;
    IF seq IS NULL THEN
        RAISE EXCEPTION 'seq must not be null' USING ERRCODE = '22023';
    END IF;
    -- (the history is the table's: who may no longer read the table reads no history)
    IF NOT pg_catalog.has_table_privilege(rel, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for table %', rel::pg_catalog.regclass USING ERRCODE = '42501';
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) rel AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
    RETURN QUERY EXECUTE pg_catalog.format(
        'SELECT %s FROM %s h WHERE (h._sdc_valid_from IS NULL OR h._sdc_valid_from OPERATOR(pg_catalog.<=) $1) '
        'AND (h._sdc_valid_to IS NULL OR h._sdc_valid_to OPERATOR(pg_catalog.>) $1) AND NOT h._sdc_deleted',
        cols, @extschema@.sequenced_history_table(rel::pg_catalog.regclass)) USING seq;
END
$$;

CREATE FUNCTION sequenced_history(target pg_catalog.regclass, key pg_catalog.jsonb)
RETURNS TABLE (valid_from pg_catalog.int8, valid_to pg_catalog.int8, record pg_catalog.jsonb)
AS 'MODULE_PATHNAME', 'sequenced_history' LANGUAGE C STABLE CALLED ON NULL INPUT;

CREATE FUNCTION sequenced_purge_history(target pg_catalog.regclass, before_seq pg_catalog.int8)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'sequenced_purge_history' LANGUAGE C;

-- Tables ordered by a timestamptz sequence column: a sequence is the
-- timestamp's own int64, microseconds since 2000-01-01 00:00 UTC (what the
-- outputs' bigint seq shows).  sequenced_seq turns a timestamptz into one,
-- for the seq arguments (an overload taking timestamptz would make a NULL
-- seq ambiguous); sequenced_seq_time turns one back.
CREATE FUNCTION sequenced_seq(at pg_catalog.timestamptz)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'sequenced_seq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION sequenced_seq_time(seq pg_catalog.int8)
RETURNS pg_catalog.timestamptz
AS 'MODULE_PATHNAME', 'sequenced_seq_time' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Where the feed stands, and which backend (if any) holds it back.
CREATE FUNCTION sequenced_feed_status(target pg_catalog.regclass)
RETURNS TABLE (watermark pg_catalog.int8, last_position pg_catalog.int8,
               held_by_pid pg_catalog.int4, held_since pg_catalog.timestamptz)
AS 'MODULE_PATHNAME', 'sequenced_feed_status' LANGUAGE C VOLATILE;

-- The body of a hosted import API's batch request.
CREATE FUNCTION sequenced_import(batch pg_catalog.jsonb)
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
AS 'MODULE_PATHNAME', 'sequenced_import' LANGUAGE C ROWS 100;

-- Dropping a registered table forgets it: its catalog row, its max log and
-- its state table go with it.
CREATE FUNCTION _sequenced.on_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dropped pg_catalog.oid;
    state pg_catalog.oid;
    log pg_catalog.oid;
BEGIN
    FOR dropped IN SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects()
                    WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND objsubid OPERATOR(pg_catalog.=) 0
    LOOP
        FOR state, log IN DELETE FROM _sequenced.config
                      WHERE relid::pg_catalog.oid OPERATOR(pg_catalog.=) dropped
                  RETURNING state_rel::pg_catalog.oid, log_rel::pg_catalog.oid
        LOOP
            DELETE FROM _sequenced.max_log WHERE relid::pg_catalog.oid OPERATOR(pg_catalog.=) dropped;
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) state) THEN
                EXECUTE pg_catalog.format('DROP TABLE %s', state::pg_catalog.regclass);
            END IF;
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) log) THEN
                EXECUTE pg_catalog.format('DROP TABLE %s', log::pg_catalog.regclass);
            END IF;
        END LOOP;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION _sequenced.on_sql_drop() FROM PUBLIC;
CREATE EVENT TRIGGER sequenced_sql_drop ON sql_drop EXECUTE FUNCTION _sequenced.on_sql_drop();

-- TRUNCATE of a registered table clears its key state (tombstones and
-- stored sequences), so a reload starts afresh; registration installs this
-- statement trigger on the table.
CREATE FUNCTION _sequenced.on_truncate()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    state pg_catalog.regclass;
    log pg_catalog.regclass;
BEGIN
    SELECT c.state_rel, c.log_rel INTO state, log FROM _sequenced.config c
     WHERE c.relid::pg_catalog.oid OPERATOR(pg_catalog.=) TG_RELID;
    IF state IS NOT NULL THEN
        EXECUTE pg_catalog.format('TRUNCATE %s', state);
    END IF;
    IF log IS NOT NULL THEN
        EXECUTE pg_catalog.format('TRUNCATE %s', log);
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION _sequenced.on_truncate() FROM PUBLIC;

-- A registered table's key state belongs to the table's owner: ALTER TABLE
-- ... OWNER TO gives it to the new owner too.
CREATE FUNCTION _sequenced.on_ddl_end()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT s.oid::pg_catalog.regclass AS rel, t.relowner
               FROM _sequenced.config c
               JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) c.relid::pg_catalog.oid
               JOIN pg_catalog.pg_class s ON s.oid OPERATOR(pg_catalog.=) ANY
                    (ARRAY[c.state_rel::pg_catalog.oid, c.log_rel::pg_catalog.oid])
              WHERE s.relowner OPERATOR(pg_catalog.<>) t.relowner
                AND c.relid::pg_catalog.oid IN (SELECT objid FROM pg_catalog.pg_event_trigger_ddl_commands()
                                                 WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass)
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO %I', r.rel, pg_catalog.pg_get_userbyid(r.relowner));
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION _sequenced.on_ddl_end() FROM PUBLIC;
CREATE EVENT TRIGGER sequenced_ddl_end ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION _sequenced.on_ddl_end();

-- == metrics (begin) ==
-- Metrics (src/stats.c): per registered table the caller may read (SELECT
-- on it or on a column of it), the calls and their messages' outcomes
-- since the last reset.  scope 'cluster': pg_sequenced is in
-- shared_preload_libraries and the counts are every session's (kept in
-- shared memory, lost at a restart); 'session': it is not, and the counts
-- are this session's calls only.  sequenced_stats_of: the same for the
-- tables named (zeros for a table not called since the last reset), leaving
-- out those the caller may not read; the view names the registered tables.
CREATE FUNCTION sequenced_stats_of(tables pg_catalog.regclass[])
RETURNS TABLE (relid pg_catalog.regclass, scope pg_catalog.text,
               calls pg_catalog.int8, messages pg_catalog.int8,
               inserted pg_catalog.int8, updated pg_catalog.int8, unchanged pg_catalog.int8,
               deleted pg_catalog.int8, stale pg_catalog.int8, superseded pg_catalog.int8,
               last_call pg_catalog.timestamptz)
AS 'MODULE_PATHNAME', 'sequenced_stats_of' LANGUAGE C STRICT VOLATILE;

CREATE VIEW sequenced_stats AS
SELECT s.* FROM @extschema@.sequenced_stats_of(ARRAY(SELECT c.relid FROM _sequenced.config c
                                                     ORDER BY c.relid::pg_catalog.oid)) s;
REVOKE ALL ON sequenced_stats FROM PUBLIC;
GRANT SELECT ON sequenced_stats TO PUBLIC;

-- Forget the counts of one table (its owner may) or, with no argument, of
-- every table of this database, dropped ones included (roles with the
-- privileges of the extension's owner may).
CREATE FUNCTION sequenced_stats_reset(target pg_catalog.regclass DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'sequenced_stats_reset' LANGUAGE C CALLED ON NULL INPUT VOLATILE;

-- What this session's last call did (no row before its first call), e.g.
-- a COPY into a staging table, without a NOTICE.
CREATE FUNCTION sequenced_last_call()
RETURNS TABLE (relid pg_catalog.regclass, messages pg_catalog.int8,
               inserted pg_catalog.int8, updated pg_catalog.int8, unchanged pg_catalog.int8,
               deleted pg_catalog.int8, stale pg_catalog.int8, superseded pg_catalog.int8,
               called_at pg_catalog.timestamptz)
AS 'MODULE_PATHNAME', 'sequenced_last_call' LANGUAGE C VOLATILE ROWS 1;
-- == metrics (end) ==

-- == import bodies (begin) ==
-- sequenced_import from json: the same bodies and outputs as
-- sequenced_import(jsonb), but a created table's columns follow the order
-- in which the text wrote the properties (jsonb sorts keys).  A name of its
-- own, not an overload: sequenced_import(json) beside (jsonb) would make
-- every call with an untyped literal or NULL ambiguous (42725).
CREATE FUNCTION sequenced_import_json(batch pg_catalog.json)
RETURNS TABLE (ord pg_catalog.int4, key pg_catalog.jsonb, seq pg_catalog.int8, outcome pg_catalog.text)
AS 'MODULE_PATHNAME', 'sequenced_import_json' LANGUAGE C ROWS 100;
-- == import bodies (end) ==

-- == section 8: consumers (begin) ==
/*
 * Consumers (SPEC section 8): the changes feed of a table as a shared queue
 * whose progress the server keeps (src/consumer.c, src/receive.c,
 * src/delivery.c).  A consumer is one row of _sequenced.consumers: its
 * head (every change at or below it is recorded: acknowledged, or in
 * _sequenced.deliveries), its acked_through, and an incarnation that a
 * rewind renews (deliveries of an older one are ignored, then removed).
 * _sequenced.deliveries holds a row per key that is in flight, waiting
 * (nacked, expired, changed while in flight) or acknowledged above
 * acked_through: a consumer's state stays small however large the table.
 * Both belong to the extension's owner, no other role has any right on
 * them, and pg_dump keeps their rows.
 */
CREATE SEQUENCE _sequenced.consumer_ids;
CREATE SEQUENCE _sequenced.ack_ids;
CREATE TABLE _sequenced.consumers (
    name               pg_catalog.text PRIMARY KEY,
    id                 pg_catalog.int8 NOT NULL UNIQUE,
    target             pg_catalog.regclass NOT NULL
                       REFERENCES _sequenced.config (relid) ON DELETE CASCADE,
    creator            pg_catalog.regrole NOT NULL,
    start              pg_catalog.text NOT NULL,
    visibility_timeout pg_catalog.interval NOT NULL,
    incarnation        pg_catalog.int8 NOT NULL UNIQUE,
    head               pg_catalog.int8 NOT NULL,
    acked_through      pg_catalog.int8 NOT NULL,
    -- acknowledged rows at or below it are gone (receive.c, advance)
    pruned_through     pg_catalog.int8 NOT NULL DEFAULT 0
);
CREATE TABLE _sequenced.deliveries (
    incarnation pg_catalog.int8 NOT NULL,
    ident       pg_catalog.jsonb NOT NULL,
    pos         pg_catalog.int8 NOT NULL,
    seq         pg_catalog.int8,
    acked       pg_catalog.bool NOT NULL,
    ack_id      pg_catalog.int8,
    deliveries  pg_catalog.int4 NOT NULL,
    visible_at  pg_catalog.timestamptz NOT NULL
) WITH (fillfactor = 70,
        -- a small table through which every change passes: vacuumed and
        -- analyzed every few thousand rows, not at a fifth of its size, so
        -- that its dead rows stay few and its plans fit its size
        autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
        autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 5000);
CREATE UNIQUE INDEX deliveries_key ON _sequenced.deliveries (incarnation, ident, pos);
CREATE INDEX deliveries_pos ON _sequenced.deliveries (incarnation, pos);
CREATE UNIQUE INDEX deliveries_ack_id ON _sequenced.deliveries (ack_id);
SELECT pg_catalog.pg_extension_config_dump('_sequenced.consumer_ids', '');
SELECT pg_catalog.pg_extension_config_dump('_sequenced.ack_ids', '');
SELECT pg_catalog.pg_extension_config_dump('_sequenced.consumers', '');
SELECT pg_catalog.pg_extension_config_dump('_sequenced.deliveries', '');
REVOKE ALL ON _sequenced.consumers, _sequenced.deliveries,
              _sequenced.consumer_ids, _sequenced.ack_ids FROM PUBLIC;

-- A consumer dropped (by sequenced_consumer_drop, or with its table's
-- registration) takes its deliveries with it.
CREATE FUNCTION _sequenced.on_consumers_delete()
RETURNS trigger
AS 'MODULE_PATHNAME', 'sequenced_consumers_delete' LANGUAGE C;
REVOKE ALL ON FUNCTION _sequenced.on_consumers_delete() FROM PUBLIC;
CREATE TRIGGER on_delete AFTER DELETE ON _sequenced.consumers
    FOR EACH STATEMENT EXECUTE FUNCTION _sequenced.on_consumers_delete();

CREATE FUNCTION sequenced_consumer_create(consumer pg_catalog.text, target pg_catalog.regclass,
                                          start pg_catalog.text DEFAULT 'beginning',
                                          visibility_timeout pg_catalog.interval DEFAULT '30 seconds')
RETURNS void
AS 'MODULE_PATHNAME', 'sequenced_consumer_create' LANGUAGE C;

CREATE FUNCTION sequenced_consumer_drop(consumer pg_catalog.text)
RETURNS void
AS 'MODULE_PATHNAME', 'sequenced_consumer_drop' LANGUAGE C;

CREATE FUNCTION sequenced_receive(consumer pg_catalog.text, max_rows pg_catalog.int4 DEFAULT 100,
                                  wait_for pg_catalog.interval DEFAULT '0')
RETURNS TABLE (ack_id pg_catalog.int8, pos pg_catalog.int8, seq pg_catalog.int8, key pg_catalog.jsonb,
               deleted pg_catalog.bool, record pg_catalog.jsonb, deliveries pg_catalog.int4)
AS 'MODULE_PATHNAME', 'sequenced_receive' LANGUAGE C VOLATILE ROWS 100;

CREATE FUNCTION sequenced_ack(consumer pg_catalog.text, ack_ids pg_catalog.int8[])
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'sequenced_ack' LANGUAGE C;

CREATE FUNCTION sequenced_nack(consumer pg_catalog.text, ack_ids pg_catalog.int8[],
                               retry_after pg_catalog.interval DEFAULT '0')
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'sequenced_nack' LANGUAGE C;

CREATE FUNCTION sequenced_consumer_rewind(consumer pg_catalog.text, after pg_catalog.int8 DEFAULT 0)
RETURNS void
AS 'MODULE_PATHNAME', 'sequenced_consumer_rewind' LANGUAGE C;

-- The consumers the caller may use (its own role's, or a role it is a
-- member of, on tables it may read), with counts as its row-level
-- security shows them: the function behind the view (callable by every
-- role, as the view's functions are called with the caller's rights).
CREATE FUNCTION sequenced_consumer_status(OUT consumer pg_catalog.text, OUT target pg_catalog.regclass,
                                          OUT start pg_catalog.text,
                                          OUT visibility_timeout pg_catalog.interval,
                                          OUT pending pg_catalog.int8, OUT in_flight pg_catalog.int8,
                                          OUT acked_through pg_catalog.int8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'sequenced_consumer_status' LANGUAGE C VOLATILE;
CREATE VIEW sequenced_consumers AS
SELECT s.consumer, s.target, s.start, s.visibility_timeout, s.pending, s.in_flight, s.acked_through
  FROM sequenced_consumer_status() s;
REVOKE ALL ON sequenced_consumers FROM PUBLIC;
GRANT SELECT ON sequenced_consumers TO PUBLIC;
-- == section 8: consumers (end) ==
