--
-- history_rekey: changing the key columns of a table registered with
-- history (SPEC sections 1 and 7)
--
-- Registering again with other key_columns is allowed while the table has
-- no tombstones (section 1).  Whether it is refused for a table with
-- history or its history follows the new key, the history must stay that
-- of the table's keys: no version of one key may end because of another
-- key's message, and nothing may crash.  Each table here has two unique
-- columns in one-to-one correspondence, so the rows printed are the same
-- under either outcome (the registration's error, if any, is caught).
--
-- Kept apart from history.sql: a crash here would hide everything after it.
--
CREATE SCHEMA hrk;
SET search_path = hrk, public;

-- the new key column has the old one's type
CREATE TABLE hrk.same (a int NOT NULL UNIQUE, c int NOT NULL UNIQUE, v text);
SELECT sequenced_register('hrk.same', key_columns => '{a}', history => true);
SELECT count(*) FROM sequenced_upsert('hrk.same', '[{"a": 1, "c": 100, "v": "k1"}, {"a": 100, "c": 1, "v": "k100"}]', 10);
DO $$
BEGIN
    PERFORM sequenced_register('hrk.same', key_columns => '{c}', history => true);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    NULL;
END
$$;
SELECT outcome FROM sequenced_upsert('hrk.same', '{"a": 1, "c": 100, "v": "k1 new"}', 20);
SELECT outcome FROM sequenced_upsert('hrk.same', '{"a": 1, "c": 100, "v": "k1 late"}', 15);
SELECT a, c, v, _sdc_valid_from, _sdc_valid_to, _sdc_deleted FROM hrk.same_history ORDER BY a, _sdc_valid_from;
SELECT a, c, v FROM sequenced_as_of(NULL::hrk.same, 15) ORDER BY a;

-- the new key column has another type
CREATE TABLE hrk.other (a int NOT NULL UNIQUE, b text NOT NULL UNIQUE, v text);
SELECT sequenced_register('hrk.other', key_columns => '{a}', history => true);
SELECT count(*) FROM sequenced_upsert('hrk.other', '[{"a": 1, "b": "x", "v": "v1"}, {"a": 2, "b": "y", "v": "w1"}]', 10);
DO $$
BEGIN
    PERFORM sequenced_register('hrk.other', key_columns => '{b}', history => true);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    NULL;
END
$$;
SELECT outcome FROM sequenced_upsert('hrk.other', '{"a": 1, "b": "x", "v": "v2"}', 20);
SELECT outcome FROM sequenced_upsert('hrk.other', '{"a": 1, "b": "x", "v": "v late"}', 15);
SELECT a, b, v, _sdc_valid_from, _sdc_valid_to, _sdc_deleted FROM hrk.other_history ORDER BY a, _sdc_valid_from;
SELECT a, b, v FROM sequenced_as_of(NULL::hrk.other, 15) ORDER BY a;

SET client_min_messages = warning;
DROP SCHEMA hrk CASCADE;
RESET client_min_messages;
