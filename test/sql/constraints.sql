--
-- constraints: a CHECK, UNIQUE or FOREIGN KEY constraint of the target that
-- a record breaks fails the call with the constraint's own error and
-- SQLSTATE, plus a CONTEXT line naming the record; nothing is applied.
-- Records 1-2 of each failing call would insert and update on their own.
--
CREATE TABLE con_t (
    id    int PRIMARY KEY,
    qty   int CHECK (qty >= 0),
    email text UNIQUE,
    lo    int,
    hi    int,
    CONSTRAINT con_t_range CHECK (lo <= hi)
);
SELECT sequenced_register('con_t');
SELECT * FROM sequenced_upsert('con_t', '[{"id": 1, "qty": 1, "email": "a", "lo": 1, "hi": 2},
                                          {"id": 2, "qty": 2, "email": "b", "lo": 1, "hi": 2}]', 10);
\set state 'SELECT string_agg(format(''%s:%s:%s:%s'', id, qty, email, _sdc_sequence), '' '' ORDER BY id) AS rows, sequenced_max_sequence(''con_t'') AS max_sequence FROM con_t'
:state;

-- a CHECK broken by a new key (INSERT)
SELECT * FROM sequenced_upsert('con_t', '[{"id": 1, "qty": 5, "email": "a"}, {"id": 3, "qty": 3, "email": "c"},
                                          {"id": 4, "qty": -1, "email": "d"}]', 20);
\echo :LAST_ERROR_SQLSTATE
:state;
-- a CHECK broken by an update of a stored key (UPDATE), two columns
SELECT * FROM sequenced_upsert('con_t', '[{"id": 1, "qty": 5, "email": "a"}, {"id": 3, "qty": 3, "email": "c"},
                                          {"id": 2, "qty": 2, "email": "b", "lo": 9, "hi": 1}]', 20);
\echo :LAST_ERROR_SQLSTATE
:state;
-- messages form: the failing record is the third message
SELECT * FROM sequenced_upsert('con_t', '[{"sequence": 20, "data": {"id": 1, "qty": 5, "email": "a"}},
                                          {"sequence": 20, "data": {"id": 3, "qty": 3, "email": "c"}},
                                          {"sequence": 20, "data": {"id": 5, "qty": -7, "email": "e"}}]');
\echo :LAST_ERROR_SQLSTATE
:state;
-- another unique constraint (not the key): a new key taking a stored email
SELECT * FROM sequenced_upsert('con_t', '[{"id": 1, "qty": 5, "email": "a"}, {"id": 3, "qty": 3, "email": "c"},
                                          {"id": 6, "qty": 1, "email": "b"}]', 20);
\echo :LAST_ERROR_SQLSTATE
:state;
-- ... and an update taking another key's email
SELECT * FROM sequenced_upsert('con_t', '[{"id": 3, "qty": 3, "email": "c"}, {"id": 1, "qty": 5, "email": "b"}]', 20);
\echo :LAST_ERROR_SQLSTATE
:state;
-- two records of one call sharing an email
SELECT * FROM sequenced_upsert('con_t', '[{"id": 7, "qty": 3, "email": "same"}, {"id": 8, "qty": 5, "email": "same"}]', 20);
\echo :LAST_ERROR_SQLSTATE
:state;
-- superseded and stale records are not written, so their constraints are not checked
SELECT * FROM sequenced_upsert('con_t', '[{"sequence": 5, "data": {"id": 1, "qty": -1}},
                                          {"sequence": 30, "data": {"id": 9, "qty": -1}},
                                          {"sequence": 31, "data": {"id": 9, "qty": 9, "email": "i"}}]');
:state;

-- the staging trigger names the row the same way
CREATE TABLE con_inbox (id int, qty int, email text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON con_inbox REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('con_t');
INSERT INTO con_inbox VALUES (1, 5, 'a', 40), (10, 1, 'j', 40), (11, -3, 'k', 40);
\echo :LAST_ERROR_SQLSTATE
:state;
SELECT count(*) AS staged FROM con_inbox;

-- append-only tables too
CREATE TABLE con_log (msg text CHECK (msg <> ''), at int);
SELECT sequenced_register('con_log', key_columns => '{}');
SELECT * FROM sequenced_upsert('con_log', '[{"msg": "a"}, {"msg": "b"}, {"msg": ""}]', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS logged, sequenced_max_sequence('con_log') FROM con_log;

-- a foreign key is checked at the end of the statement, by its trigger: the
-- error is the constraint's own, with the record named; nothing is applied
CREATE TABLE con_parent (id int PRIMARY KEY);
INSERT INTO con_parent VALUES (1), (2);
CREATE TABLE con_child (id int PRIMARY KEY, parent int REFERENCES con_parent);
SELECT sequenced_register('con_child');
SELECT * FROM sequenced_upsert('con_child', '[{"id": 1, "parent": 1}, {"id": 2, "parent": 9}]', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS children, sequenced_max_sequence('con_child') FROM con_child;
