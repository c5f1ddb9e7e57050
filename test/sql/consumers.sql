--
-- consumers: sequenced_consumer_create/_drop/_rewind, sequenced_receive,
-- sequenced_ack, sequenced_nack and the sequenced_consumers view (SPEC
-- section 8)
--
-- Positions and ack_ids are opaque: a helper keeps what each receive handed
-- out in the temporary table got, and the tests ack and compare through it.
-- Tables are created with autovacuum off: an auto-analyze holds an xid for
-- a moment, which would hold the feed back.
--
CREATE SCHEMA cons;
SET search_path = cons, public;

CREATE TEMP TABLE got (n serial, consumer text, ack_id bigint, pos bigint, key jsonb);
CREATE TEMP TABLE last_got (ack_id bigint, pos bigint, key jsonb, seq bigint, deleted boolean,
                            record jsonb, deliveries int);
-- receive, remember the ack_ids; show what came, in position order
CREATE FUNCTION cons.recv(c text, n int DEFAULT 100, w interval DEFAULT '0')
RETURNS TABLE (key jsonb, seq bigint, deleted boolean, record jsonb, deliveries int)
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM last_got;
  INSERT INTO last_got SELECT r.ack_id, r.pos, r.key, r.seq, r.deleted, r.record, r.deliveries
    FROM sequenced_receive(c, n, w) r;
  INSERT INTO got (consumer, ack_id, pos, key) SELECT c, l.ack_id, l.pos, l.key FROM last_got l ORDER BY l.pos;
  RETURN QUERY SELECT l.key, l.seq, l.deleted, l.record, l.deliveries FROM last_got l ORDER BY l.pos;
END $$;
-- the ack_id a key was last handed out with
CREATE FUNCTION cons.ack_of(c text, k jsonb) RETURNS bigint LANGUAGE sql AS $$
  SELECT g.ack_id FROM got g WHERE g.consumer = c AND g.key IS NOT DISTINCT FROM k ORDER BY g.n DESC LIMIT 1
$$;
-- every ack_id of the consumer's last receive
CREATE FUNCTION cons.last_ids() RETURNS bigint[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(ack_id ORDER BY pos), '{}') FROM last_got
$$;
-- the view, positions as comparisons
CREATE FUNCTION cons.status(c text)
RETURNS TABLE (consumer text, target regclass, start text, visibility_timeout interval,
               pending bigint, in_flight bigint, acked_through_is text)
LANGUAGE sql AS $$
  SELECT s.consumer, s.target, s.start, s.visibility_timeout, s.pending, s.in_flight,
         CASE WHEN s.acked_through = 0 THEN '0'
              WHEN s.acked_through = (SELECT max(g.pos) FROM got g WHERE g.consumer = c
                                         AND g.pos <= s.acked_through) THEN 'a position handed out'
              WHEN s.acked_through >= (SELECT max(g.pos) FROM got g) THEN 'past every position handed out'
              ELSE 'another position' END
    FROM sequenced_consumers s WHERE s.consumer = c
$$;

CREATE TABLE cons.items (id int PRIMARY KEY, name text, qty int) WITH (autovacuum_enabled = off);
INSERT INTO cons.items VALUES (1, 'apple', 1), (2, 'pear', 2), (3, 'plum', 3);
SELECT sequenced_register('cons.items');

--
-- create: the defaults, and what the view shows before any receive
--
SELECT sequenced_consumer_create('mirror', 'cons.items');
SELECT * FROM cons.status('mirror');
SELECT consumer, target, start, visibility_timeout, pending, in_flight, acked_through
  FROM sequenced_consumers;
SELECT pg_typeof(target) FROM sequenced_consumers;

-- errors of create
SELECT sequenced_consumer_create('mirror', 'cons.items');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_create('other', 'cons.items', start => 'middle');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_create('other', 'cons.items', visibility_timeout => '-1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_create('other', 'cons.items', visibility_timeout => '1 day -25 hours');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE cons.plain (id int PRIMARY KEY);
SELECT sequenced_consumer_create('other', 'cons.plain');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_create(NULL, 'cons.items');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_create('other', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_create('', 'cons.items');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_create('other', 'cons.items', start => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_create('other', 12345::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS consumers FROM sequenced_consumers;

--
-- receive: the backfill first, in ascending position, max_rows at a time
--
SELECT * FROM cons.recv('mirror', 2);
SELECT * FROM cons.status('mirror');
-- keys in flight are not handed out again
SELECT * FROM cons.recv('mirror', 2);
SELECT * FROM cons.recv('mirror', 2);
SELECT * FROM cons.status('mirror');
-- ascending pos within a receive
SELECT bool_and(pos > 0) AS positive, count(DISTINCT ack_id) AS ack_ids FROM got WHERE consumer = 'mirror';

-- errors of receive
SELECT * FROM sequenced_receive('nobody');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_receive('mirror', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_receive('mirror', -5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_receive('mirror', 10, '-1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_receive(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_receive('mirror', NULL);
\echo :LAST_ERROR_SQLSTATE

--
-- ack: how many it acknowledged; unknown and already acknowledged ack_ids
-- are ignored
--
SELECT sequenced_ack('mirror', ARRAY[cons.ack_of('mirror', '{"id": 1}'), cons.ack_of('mirror', '{"id": 2}')]);
SELECT sequenced_ack('mirror', ARRAY[cons.ack_of('mirror', '{"id": 1}')]);
SELECT sequenced_ack('mirror', '{-1, 0, 999999999}');
SELECT sequenced_ack('mirror', '{}');
SELECT sequenced_ack('mirror', '{NULL}');
SELECT * FROM cons.status('mirror');
SELECT sequenced_ack('mirror', ARRAY[cons.ack_of('mirror', '{"id": 3}')]);
SELECT * FROM cons.status('mirror');
-- acked_through is the position of the last change, every change is acknowledged
SELECT (SELECT acked_through FROM sequenced_consumers WHERE consumer = 'mirror') =
       (SELECT max(pos) FROM got WHERE consumer = 'mirror') AS acked_through_is_last;
-- errors of ack
SELECT sequenced_ack('nobody', '{1}');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_ack('mirror', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_ack(NULL, '{1}');
\echo :LAST_ERROR_SQLSTATE

--
-- a key changed three times before it is received comes once, with its
-- last state
--
SELECT outcome FROM sequenced_upsert('cons.items', '{"id": 2, "name": "pear", "qty": 20}', 10);
SELECT outcome FROM sequenced_upsert('cons.items', '{"id": 2, "name": "pear", "qty": 21}', 11);
SELECT outcome FROM sequenced_upsert('cons.items', '{"id": 2, "name": "pear", "qty": 22}', 12);
SELECT * FROM cons.status('mirror');
SELECT * FROM cons.recv('mirror');
SELECT sequenced_ack('mirror', cons.last_ids());

--
-- a key that changes while in flight is handed out again, with its new
-- state, once the delivery in flight is acknowledged
--
SELECT outcome FROM sequenced_upsert('cons.items', '{"id": 3, "name": "plum", "qty": 30}', 20);
SELECT * FROM cons.recv('mirror');
SELECT outcome FROM sequenced_upsert('cons.items', '{"id": 3, "name": "plum", "qty": 31}', 21);
SELECT outcome FROM sequenced_upsert('cons.items', '{"id": 4, "name": "fig", "qty": 4}', 21);
-- 4 comes, 3 is in flight
SELECT * FROM cons.recv('mirror');
SELECT * FROM cons.status('mirror');
SELECT sequenced_ack('mirror', ARRAY[cons.ack_of('mirror', '{"id": 3}')]);
-- now 3 again, with qty 31, its deliveries counted afresh
SELECT * FROM cons.recv('mirror');
SELECT sequenced_ack('mirror', ARRAY[cons.ack_of('mirror', '{"id": 3}'), cons.ack_of('mirror', '{"id": 4}')]);
SELECT * FROM cons.status('mirror');

--
-- deletes: a tombstone is delivered as deleted, without a record
--
SELECT outcome FROM sequenced_delete('cons.items', '{"id": 1}', 30);
SELECT * FROM cons.recv('mirror');
SELECT sequenced_ack('mirror', cons.last_ids());

--
-- an acknowledgement that rolls back is taken back: the delivery is still
-- in flight, and can be acknowledged again
--
SELECT outcome FROM sequenced_upsert('cons.items', '{"id": 5, "name": "kiwi", "qty": 5}', 40);
SELECT * FROM cons.recv('mirror');
BEGIN;
SELECT sequenced_ack('mirror', cons.last_ids());
SELECT pending, in_flight FROM sequenced_consumers WHERE consumer = 'mirror';
ROLLBACK;
SELECT pending, in_flight FROM sequenced_consumers WHERE consumer = 'mirror';
SELECT * FROM cons.recv('mirror');
SELECT sequenced_ack('mirror', ARRAY[cons.ack_of('mirror', '{"id": 5}')]);

-- receive and acknowledge in one transaction with the work: a rollback
-- takes both back, and the key is handed out again at once
SELECT outcome FROM sequenced_upsert('cons.items', '{"id": 5, "name": "kiwi", "qty": 50}', 41);
BEGIN;
SELECT * FROM cons.recv('mirror');
SELECT sequenced_ack('mirror', cons.last_ids());
ROLLBACK;
SELECT * FROM cons.recv('mirror');
SELECT sequenced_ack('mirror', cons.last_ids());

--
-- the visibility timeout: a delivery not acknowledged in time is handed out
-- again, deliveries 2; its old ack_id is then ignored
--
SELECT sequenced_consumer_create('quick', 'cons.items', visibility_timeout => '100 milliseconds');
SELECT * FROM cons.recv('quick', 1);
SELECT pg_sleep(0.3);
-- expired, not handed out again yet: its ack_id is still good ...
SELECT sequenced_ack('quick', ARRAY[cons.ack_of('quick', '{"id": 2}')]);
SELECT * FROM cons.recv('quick', 1);
SELECT pg_sleep(0.3);
SELECT * FROM cons.recv('quick', 1);
SELECT count(*) AS handed_out FROM got WHERE consumer = 'quick' AND key = '{"id": 3}';
-- ... once handed out again, the first one is ignored, the new one counts
SELECT sequenced_ack('quick', ARRAY[(SELECT min(ack_id) FROM got WHERE consumer = 'quick' AND key = '{"id": 3}')]);
SELECT sequenced_ack('quick', ARRAY[cons.ack_of('quick', '{"id": 3}')]);
SELECT sequenced_consumer_drop('quick');

--
-- nack: visible again after retry_after; the nacked ack_id is ignored
--
SELECT outcome FROM sequenced_upsert('cons.items', '[{"id": 6, "name": "lime"}, {"id": 7, "name": "date"}, {"id": 8, "name": "sloe"}]', 50);
SELECT * FROM cons.recv('mirror');
SELECT sequenced_nack('mirror', ARRAY[cons.ack_of('mirror', '{"id": 6}')]);
SELECT sequenced_nack('mirror', ARRAY[cons.ack_of('mirror', '{"id": 7}')], '1 hour');
SELECT sequenced_nack('mirror', ARRAY[cons.ack_of('mirror', '{"id": 8}')], '200 milliseconds');
-- nacked ack_ids are ignored from then on
SELECT sequenced_ack('mirror', ARRAY[cons.ack_of('mirror', '{"id": 6}'), cons.ack_of('mirror', '{"id": 7}')]);
SELECT sequenced_nack('mirror', ARRAY[cons.ack_of('mirror', '{"id": 6}')]);
SELECT * FROM cons.status('mirror');
-- 6 at once (retry_after 0), a new ack_id, deliveries 2 (one row: 8, the
-- next in position order, may be due already on a slow machine)
SELECT * FROM cons.recv('mirror', 1);
SELECT pg_sleep(0.4);
-- 8 after its retry_after; 7 not within the hour
SELECT * FROM cons.recv('mirror');
SELECT sequenced_ack('mirror', ARRAY[cons.ack_of('mirror', '{"id": 6}'), cons.ack_of('mirror', '{"id": 8}')]);
SELECT pending, in_flight FROM sequenced_consumers WHERE consumer = 'mirror';
-- errors of nack
SELECT sequenced_nack('mirror', '{1}', '-1 minute');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_nack('mirror', '{1}', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_nack('nobody', '{1}');
\echo :LAST_ERROR_SQLSTATE

--
-- rewind: every key changed after `after` again; deliveries in flight are
-- dropped (their keys at once, their ack_ids ignored)
--
SELECT sequenced_consumer_rewind('mirror');
SELECT * FROM cons.status('mirror');
SELECT * FROM cons.recv('mirror');
SELECT sequenced_ack('mirror', ARRAY[(SELECT ack_id FROM got WHERE consumer = 'mirror' AND key = '{"id": 7}' ORDER BY n LIMIT 1)]);
SELECT sequenced_ack('mirror', cons.last_ids());
-- after a position: the keys changed after it
SELECT pos AS cut FROM got WHERE consumer = 'mirror' AND key = '{"id": 5}' ORDER BY n DESC LIMIT 1 \gset
SELECT sequenced_consumer_rewind('mirror', :cut);
SELECT * FROM cons.recv('mirror');
SELECT sequenced_ack('mirror', cons.last_ids());
SELECT * FROM cons.status('mirror');
-- errors of rewind
SELECT sequenced_consumer_rewind('mirror', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_rewind('mirror', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_rewind('nobody');
\echo :LAST_ERROR_SQLSTATE

--
-- start => 'end': only what changes from now on
--
SELECT sequenced_consumer_create('tail', 'cons.items', start => 'end');
SELECT * FROM cons.status('tail');
SELECT * FROM cons.recv('tail');
SELECT outcome FROM sequenced_upsert('cons.items', '{"id": 9, "name": "yuzu"}', 60);
SELECT * FROM cons.recv('tail');
SELECT sequenced_ack('tail', cons.last_ids());
SELECT * FROM cons.status('tail');

-- wait_for: nothing comes within it
SELECT * FROM cons.recv('tail', 10, '100 milliseconds');

--
-- purge keeps the tombstones a consumer has not acknowledged
--
SELECT outcome FROM sequenced_delete('cons.items', '[{"id": 7}, {"id": 9}]', 70);
SELECT sequenced_purge_tombstones('cons.items', 100);
SELECT * FROM cons.recv('tail');
SELECT sequenced_purge_tombstones('cons.items', 100);
SELECT sequenced_ack('tail', cons.last_ids());
SELECT sequenced_purge_tombstones('cons.items', 100);
SELECT * FROM cons.recv('mirror');
SELECT sequenced_ack('mirror', cons.last_ids());
SELECT sequenced_purge_tombstones('cons.items', 100);

--
-- soft deletes: deleted, with the row
--
CREATE TABLE cons.soft (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('cons.soft', deletes => 'soft');
SELECT outcome FROM sequenced_upsert('cons.soft', '[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]', 1);
SELECT outcome FROM sequenced_delete('cons.soft', '{"id": 2}', 2);
SELECT sequenced_consumer_create('softc', 'cons.soft');
SELECT key, seq, deleted, record - '_sdc_deleted_at' AS record, record ? '_sdc_deleted_at' AS marked, deliveries
  FROM cons.recv('softc');
SELECT sequenced_consumer_drop('softc');

--
-- an append-only table: every inserted row is a change, key NULL
--
CREATE TABLE cons.events (kind text, n int) WITH (autovacuum_enabled = off);
SELECT sequenced_register('cons.events', '{}');
SELECT outcome FROM sequenced_upsert('cons.events', '[{"kind": "a", "n": 1}, {"kind": "a", "n": 1}, {"kind": "b", "n": 2}]', 1);
SELECT sequenced_consumer_create('log', 'cons.events');
SELECT * FROM cons.recv('log', 2);
SELECT * FROM cons.status('log');
SELECT sequenced_ack('log', ARRAY[(SELECT ack_id FROM got WHERE consumer = 'log' ORDER BY n LIMIT 1)]);
SELECT sequenced_nack('log', ARRAY[(SELECT ack_id FROM got WHERE consumer = 'log' ORDER BY n OFFSET 1 LIMIT 1)]);
-- the second again, deliveries 2, then the third
SELECT * FROM cons.recv('log');
SELECT sequenced_ack('log', cons.last_ids());
SELECT * FROM cons.status('log');
-- every append is a change of its own
SELECT outcome FROM sequenced_upsert('cons.events', '{"kind": "a", "n": 1}', 1);
SELECT * FROM cons.recv('log');
SELECT sequenced_ack('log', cons.last_ids());
SELECT sequenced_consumer_drop('log');

--
-- rights: create needs SELECT on the table; using a consumer needs SELECT
-- and to be its creator or a member of the creator's role
--
CREATE ROLE regress_cons_creator NOLOGIN;
CREATE ROLE regress_cons_member NOLOGIN IN ROLE regress_cons_creator;
CREATE ROLE regress_cons_other NOLOGIN;
CREATE ROLE regress_cons_noselect NOLOGIN;
GRANT USAGE ON SCHEMA cons TO regress_cons_creator, regress_cons_member, regress_cons_other, regress_cons_noselect;
GRANT SELECT ON cons.items TO regress_cons_creator, regress_cons_other;
GRANT SELECT, INSERT, DELETE ON got, last_got TO PUBLIC;
GRANT USAGE ON SEQUENCE got_n_seq TO PUBLIC;
SET ROLE regress_cons_noselect;
SELECT sequenced_consumer_create('denied', 'cons.items');
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_cons_creator;
SELECT sequenced_consumer_create('theirs', 'cons.items');
SELECT consumer FROM sequenced_consumers ORDER BY consumer;
SELECT key FROM cons.recv('theirs', 1);
SET ROLE regress_cons_other;
-- not the creator's: not in the view, and every use is refused
SELECT consumer FROM sequenced_consumers ORDER BY consumer;
SELECT * FROM sequenced_receive('theirs');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_ack('theirs', '{1}');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_nack('theirs', '{1}');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_rewind('theirs');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_drop('theirs');
\echo :LAST_ERROR_SQLSTATE
-- a name taken by another role's consumer is still taken
SELECT sequenced_consumer_create('theirs', 'cons.items');
\echo :LAST_ERROR_SQLSTATE
-- a member of the creator's role may use it, given SELECT (through the role)
SET ROLE regress_cons_member;
SELECT consumer FROM sequenced_consumers ORDER BY consumer;
SELECT key FROM cons.recv('theirs', 1);
SELECT sequenced_ack('theirs', ARRAY[cons.ack_of('theirs', '{"id": 2}'), cons.ack_of('theirs', '{"id": 3}')]);
-- SELECT taken away: refused, and no longer in the view
RESET ROLE;
REVOKE SELECT ON cons.items FROM regress_cons_creator;
SET ROLE regress_cons_creator;
SELECT * FROM sequenced_receive('theirs');
\echo :LAST_ERROR_SQLSTATE
SELECT consumer FROM sequenced_consumers ORDER BY consumer;
RESET ROLE;
GRANT SELECT ON cons.items TO regress_cons_creator;
-- the consumers' tables are the extension owner's alone
SET ROLE regress_cons_creator;
SELECT count(*) FROM _sequenced.consumers;
\echo :LAST_ERROR_SQLSTATE
UPDATE _sequenced.deliveries SET acked = true;
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_cons_member;
SELECT sequenced_consumer_drop('theirs');
RESET ROLE;

--
-- row-level security: a consumer hands out what its user may see, and the
-- view counts as that user's policies show
--
CREATE TABLE cons.notes (id int PRIMARY KEY, owner text, body text) WITH (autovacuum_enabled = off);
SELECT sequenced_register('cons.notes', deletes => 'soft');
SELECT outcome FROM sequenced_upsert('cons.notes', '[{"id": 1, "owner": "regress_cons_creator", "body": "mine"},
  {"id": 2, "owner": "someone", "body": "theirs"}, {"id": 3, "owner": "regress_cons_creator", "body": "mine too"}]', 1);
ALTER TABLE cons.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON cons.notes USING (owner = current_user);
GRANT SELECT ON cons.notes TO regress_cons_creator;
SET ROLE regress_cons_creator;
SELECT sequenced_consumer_create('mine', 'cons.notes');
SELECT consumer, pending, in_flight FROM sequenced_consumers WHERE consumer = 'mine';
SELECT * FROM cons.recv('mine');
SELECT sequenced_ack('mine', cons.last_ids());
SELECT consumer, pending, in_flight FROM sequenced_consumers WHERE consumer = 'mine';
RESET ROLE;
-- a row given away is no longer handed out; one given to it is
SELECT outcome FROM sequenced_upsert('cons.notes', '[{"id": 1, "owner": "someone", "body": "mine"},
  {"id": 2, "owner": "regress_cons_creator", "body": "theirs"}]', 2);
SET ROLE regress_cons_creator;
SELECT consumer, pending, in_flight FROM sequenced_consumers WHERE consumer = 'mine';
SELECT * FROM cons.recv('mine');
SELECT sequenced_ack('mine', cons.last_ids());
RESET ROLE;
-- a key in flight that is given away: its newest change is hidden, so the
-- delivery, once nacked, is passed over with it -- nothing waits for a
-- change the feed will never show
SELECT outcome FROM sequenced_upsert('cons.notes', '{"id": 3, "owner": "regress_cons_creator", "body": "edited"}', 3);
SET ROLE regress_cons_creator;
SELECT * FROM cons.recv('mine');
RESET ROLE;
SELECT outcome FROM sequenced_upsert('cons.notes', '{"id": 3, "owner": "someone", "body": "given away"}', 4);
SET ROLE regress_cons_creator;
SELECT * FROM cons.recv('mine');
SELECT sequenced_nack('mine', ARRAY[cons.ack_of('mine', '{"id": 3}')]);
SELECT * FROM cons.recv('mine');
SELECT consumer, pending, in_flight FROM sequenced_consumers WHERE consumer = 'mine';
RESET ROLE;
SELECT count(*) AS rows_not_acknowledged FROM _sequenced.deliveries d
  JOIN _sequenced.consumers c USING (incarnation) WHERE c.name = 'mine' AND NOT d.acked;
SET ROLE regress_cons_creator;
SELECT sequenced_consumer_drop('mine');
RESET ROLE;

--
-- drop: gone from the view, unknown from then on; unregistering a table
-- drops its consumers
--
SELECT sequenced_consumer_drop('tail');
SELECT sequenced_consumer_drop('tail');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_receive('tail');
\echo :LAST_ERROR_SQLSTATE
SELECT sequenced_consumer_drop(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT consumer FROM sequenced_consumers ORDER BY consumer;
SELECT sequenced_unregister('cons.items');
SELECT consumer FROM sequenced_consumers ORDER BY consumer;
SELECT count(*) AS consumer_rows FROM _sequenced.consumers;
SELECT count(*) AS delivery_rows FROM _sequenced.deliveries;

-- dropping a table drops its consumers, and their deliveries
SELECT sequenced_consumer_create('leftover', 'cons.events');
SELECT count(*) AS handed_out FROM sequenced_receive('leftover');
DROP SCHEMA cons CASCADE;
SELECT count(*) AS consumers FROM sequenced_consumers;
SELECT count(*) AS consumer_rows FROM _sequenced.consumers;
SELECT count(*) AS delivery_rows FROM _sequenced.deliveries;
DROP ROLE regress_cons_creator, regress_cons_member, regress_cons_other, regress_cons_noselect;
