--
-- deletes: sequenced_delete, delete messages, tombstones, soft deletes and
-- sequenced_purge_tombstones (SPEC section 2, Deletes)
--

--
-- hard deletes
--
CREATE TABLE del_hard (id int PRIMARY KEY, name text);
INSERT INTO del_hard VALUES (9, 'pre-existing');
SELECT sequenced_register('del_hard');
SELECT * FROM sequenced_upsert('del_hard', '[{"id": 1, "name": "a"}, {"id": 2, "name": "b"},
                                             {"id": 3, "name": "c"}]', 10);
SELECT * FROM del_hard ORDER BY id;
-- a newer delete removes the row
SELECT * FROM sequenced_delete('del_hard', '{"id": 1}', 20);
SELECT * FROM del_hard ORDER BY id;
SELECT sequenced_max_sequence('del_hard');
-- the tombstone keeps a late, older upsert out
SELECT * FROM sequenced_upsert('del_hard', '{"id": 1, "name": "a late"}', 15);
SELECT * FROM del_hard ORDER BY id;
-- and one of the same sequence (on_equal keep)
SELECT * FROM sequenced_upsert('del_hard', '{"id": 1, "name": "a same"}', 20);
SELECT * FROM del_hard ORDER BY id;
-- the same delete again is stale
SELECT * FROM sequenced_delete('del_hard', '{"id": 1}', 20);
-- a newer upsert inserts the row again
SELECT * FROM sequenced_upsert('del_hard', '{"id": 1, "name": "a again"}', 21);
SELECT * FROM del_hard ORDER BY id;
-- and the tombstone is gone: an older delete is now stale against the row
SELECT * FROM sequenced_delete('del_hard', '{"id": 1}', 20);
SELECT * FROM del_hard ORDER BY id;

-- a delete older than the stored row is stale
SELECT * FROM sequenced_delete('del_hard', '{"id": 2}', 9);
SELECT * FROM del_hard ORDER BY id;
-- a row without a sequence (there before registration) is older than any delete
SELECT * FROM sequenced_delete('del_hard', '{"id": 9}', 1);
SELECT * FROM del_hard ORDER BY id;

-- a delete of a key that has no row: deleted, and it leaves a tombstone
SELECT * FROM sequenced_delete('del_hard', '{"id": 50}', 30);
SELECT * FROM del_hard ORDER BY id;
SELECT * FROM sequenced_upsert('del_hard', '{"id": 50, "name": "late"}', 29);
SELECT * FROM del_hard ORDER BY id;
SELECT * FROM sequenced_upsert('del_hard', '{"id": 50, "name": "new"}', 31);
SELECT * FROM del_hard ORDER BY id;
SELECT sequenced_max_sequence('del_hard');

-- several keys in one call, key values converted to the column types
SELECT * FROM sequenced_delete('del_hard', '[{"id": 2}, {"id": "3"}, {"id": 4}, {"id": 2}]', 40);
SELECT * FROM del_hard ORDER BY id;
SELECT sequenced_max_sequence('del_hard');

--
-- deletes through the two-argument form
--
CREATE TABLE del_msgs (id int PRIMARY KEY, name text, qty int DEFAULT 1);
SELECT sequenced_register('del_msgs');
SELECT * FROM sequenced_upsert('del_msgs', '[
  {"sequence": 10, "data": {"id": 1, "name": "a"}},
  {"sequence": 10, "data": {"id": 2, "name": "b"}},
  {"sequence": 10, "data": {"id": 3, "name": "c"}}
]');
-- a delete needs only the key; other properties are validated, not applied
SELECT * FROM sequenced_upsert('del_msgs', '[
  {"action": "delete", "sequence": 11, "data": {"id": 1}},
  {"action": "delete", "sequence": 11, "data": {"id": 2, "name": "ignored", "qty": 5}},
  {"action": "delete", "sequence": 9, "data": {"id": 3}}
]');
SELECT * FROM del_msgs ORDER BY id;
-- a property that is no column fails a delete too, and nothing is applied
SELECT * FROM sequenced_upsert('del_msgs', '[
  {"action": "delete", "sequence": 12, "data": {"id": 3}},
  {"action": "delete", "sequence": 12, "data": {"id": 4, "nosuch": true}}
]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM del_msgs ORDER BY id;
-- upserts and deletes of one key in one call: the highest sequence wins
SELECT * FROM sequenced_upsert('del_msgs', '[
  {"action": "upsert", "sequence": 20, "data": {"id": 3, "name": "c2"}},
  {"action": "delete", "sequence": 21, "data": {"id": 3}},
  {"action": "delete", "sequence": 20, "data": {"id": 5}},
  {"action": "upsert", "sequence": 22, "data": {"id": 5, "name": "e"}},
  {"action": "upsert", "sequence": 19, "data": {"id": 1, "name": "a old"}},
  {"sequence": 23, "data": {"id": 2, "name": "b back"}},
  {"action": "delete", "sequence": 22, "data": {"id": 2}}
]');
SELECT * FROM del_msgs ORDER BY id;
SELECT sequenced_max_sequence('del_msgs');

--
-- soft deletes
--
CREATE TABLE del_soft (id int PRIMARY KEY, name text);
SELECT sequenced_register('del_soft', deletes => 'soft');
SELECT * FROM sequenced_upsert('del_soft', '[{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]', 10);
SELECT id, name, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM del_soft ORDER BY id;
-- the row stays, marked with the transaction's time and the delete's sequence
BEGIN;
SELECT * FROM sequenced_delete('del_soft', '{"id": 1}', 20);
SELECT id, name, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted,
       _sdc_deleted_at = now() AS at_transaction_time
  FROM del_soft ORDER BY id;
COMMIT;
SELECT id, name, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM del_soft ORDER BY id;
-- an older or equal upsert is stale
SELECT * FROM sequenced_upsert('del_soft', '{"id": 1, "name": "a late"}', 15);
SELECT * FROM sequenced_upsert('del_soft', '{"id": 1, "name": "a same"}', 20);
-- an older delete is stale
SELECT * FROM sequenced_delete('del_soft', '{"id": 2}', 5);
SELECT id, name, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM del_soft ORDER BY id;
-- a newer delete of a marked row moves its sequence
SELECT * FROM sequenced_delete('del_soft', '{"id": 1}', 25);
SELECT id, name, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM del_soft ORDER BY id;
-- a newer upsert clears the mark
SELECT * FROM sequenced_upsert('del_soft', '{"id": 1, "name": "a back"}', 30);
SELECT id, name, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM del_soft ORDER BY id;
-- a soft delete through the two-argument form does not apply the other properties
SELECT * FROM sequenced_upsert('del_soft', '[
  {"action": "delete", "sequence": 31, "data": {"id": 2, "name": "ignored"}}
]');
SELECT id, name, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM del_soft ORDER BY id;
-- _sdc_deleted_at cannot be set from data
SELECT * FROM sequenced_upsert('del_soft', '{"id": 2, "name": "b", "_sdc_deleted_at": null}', 40);
\echo :LAST_ERROR_SQLSTATE
SELECT id, name, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM del_soft ORDER BY id;
-- a delete for a key with no row keeps a tombstone, as in hard
SELECT * FROM sequenced_delete('del_soft', '{"id": 3}', 50);
SELECT id, name, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM del_soft ORDER BY id;
SELECT * FROM sequenced_upsert('del_soft', '{"id": 3, "name": "c late"}', 49);
SELECT id, name, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM del_soft ORDER BY id;
SELECT * FROM sequenced_upsert('del_soft', '{"id": 3, "name": "c"}', 51);
SELECT id, name, _sdc_sequence, _sdc_deleted_at IS NOT NULL AS deleted FROM del_soft ORDER BY id;
SELECT sequenced_max_sequence('del_soft');

--
-- an append-only table takes no deletes: 22023, nothing applied
--
CREATE TABLE del_append (event text);
SELECT sequenced_register('del_append', key_columns => '{}');
SELECT * FROM sequenced_delete('del_append', '{"event": "x"}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sequenced_upsert('del_append', '[
  {"action": "upsert", "sequence": 1, "data": {"event": "x"}},
  {"action": "delete", "sequence": 2, "data": {"event": "x"}}
]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM del_append ORDER BY event;
SELECT sequenced_max_sequence('del_append');

--
-- sequenced_purge_tombstones drops tombstones older than before_seq
--
CREATE TABLE del_purge (id int PRIMARY KEY, name text);
SELECT sequenced_register('del_purge');
SELECT sequenced_purge_tombstones('del_purge', 1000);
SELECT * FROM sequenced_upsert('del_purge', '[{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}]', 5);
SELECT * FROM sequenced_delete('del_purge', '{"id": 1}', 10);
SELECT * FROM sequenced_delete('del_purge', '{"id": 2}', 20);
SELECT * FROM sequenced_delete('del_purge', '{"id": 3}', 30);
SELECT * FROM del_purge ORDER BY id;
-- nothing older than 10
SELECT sequenced_purge_tombstones('del_purge', 10);
-- only the tombstone of 10
SELECT sequenced_purge_tombstones('del_purge', 20);
-- the purged key takes a late upsert again; the others do not
SELECT * FROM sequenced_upsert('del_purge', '[{"id": 1, "name": "late"}, {"id": 2, "name": "late"}]', 6);
SELECT * FROM del_purge ORDER BY id;
SELECT sequenced_purge_tombstones('del_purge', 31);
SELECT sequenced_purge_tombstones('del_purge', 31);
SELECT * FROM sequenced_upsert('del_purge', '[{"id": 2, "name": "late"}, {"id": 3, "name": "late"}]', 7);
SELECT * FROM del_purge ORDER BY id;
-- purging does not lower max_sequence
SELECT sequenced_max_sequence('del_purge');
-- a purged key brought back at the sequence it was first written with is
-- in the feed once, with its new row (the purge dropped its old entries)
CREATE TABLE del_again (id int PRIMARY KEY, name text);
SELECT sequenced_register('del_again');
SELECT outcome FROM sequenced_upsert('del_again', '[{"id": 1, "name": "first"}, {"id": 2, "name": "first"}]', 5);
SELECT outcome FROM sequenced_upsert('del_again', '{"id": 2, "name": "second"}', 6);
SELECT outcome FROM sequenced_delete('del_again', '{"id": 1}', 10);
SELECT sequenced_purge_tombstones('del_again', 11);
SELECT outcome FROM sequenced_upsert('del_again', '{"id": 1, "name": "again"}', 5);
SELECT key, seq, deleted, record->>'name' AS name FROM sequenced_changes('del_again') ORDER BY pos;
SELECT sequenced_unregister('del_again');
DROP TABLE del_again;

-- purging needs DELETE on the target
SELECT * FROM sequenced_delete('del_purge', '{"id": 4}', 40);
CREATE ROLE regress_seq_del_user NOLOGIN;
GRANT SELECT, INSERT, UPDATE ON del_purge TO regress_seq_del_user;
SET ROLE regress_seq_del_user;
SELECT sequenced_purge_tombstones('del_purge', 100);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT DELETE ON del_purge TO regress_seq_del_user;
SET ROLE regress_seq_del_user;
SELECT sequenced_purge_tombstones('del_purge', 100);
RESET ROLE;
SELECT * FROM sequenced_upsert('del_purge', '{"id": 4, "name": "late"}', 8);
SELECT * FROM del_purge ORDER BY id;
REVOKE ALL ON del_purge FROM regress_seq_del_user;
DROP ROLE regress_seq_del_user;

-- clean up
SELECT sequenced_unregister(t)
  FROM unnest('{del_hard,del_msgs,del_soft,del_append,del_purge}'::regclass[]) t;
DROP TABLE del_hard, del_msgs, del_soft, del_append, del_purge;
