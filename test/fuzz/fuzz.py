#!/usr/bin/python3
"""
pg_sequenced input fuzzer (see test/fuzz/README.md).

Seeded and reproducible: input number i is generated from (seed, i) alone,
never from what the server answered, so the same seed and range give the same
inputs.  Every input is one call of sequenced_upsert (3- and 2-argument
forms), sequenced_delete, sequenced_import, sequenced_delete_missing (with
random and hostile scopes and max_fractions), sequenced_delete_missing_count,
sequenced_register (the 0.2 options, on fz_opts), one INSERT/COPY into a
staging table whose trigger is sequenced_apply_staging, or (7%) one call of a
consumer function (SPEC section 8: sequenced_receive, _ack, _nack,
_consumer_rewind, _consumer_create, _consumer_drop) on consumers made at setup
and during the run.  The 0.2 tables: unchanged => 'skip', history, a
timestamptz sequence column (RFC 3339 sequences; numbers and out-of-range
int64s must be refused), lenient records.

Checks per input (any failure is a "violation"; the exit status is 1):
  crash        the connection died, or pg_postmaster_start_time() changed
  xx           an error with SQLSTATE class XX (internal error)
  position     an error about the records that names no position
               ("record N" / "message N" in the message, or "record N" in
               CONTEXT), or names a position outside 1..n
  context      the message and the CONTEXT name different records
  blame        the error names a record that the generator built entirely
               from values that are valid for the table (the bad one is
               elsewhere)
  state        after a failed call, the target, its key state table
               (_sequenced.state_*), its change log (_sequenced.log_*), its
               _sequenced.max_log rows, its registration, its history table
               (and the staging table) differ from before, byte for byte
               (md5 of the ordered row texts)
  guc          current_user or search_path differ after the call
  output       a successful call returned rows that contradict the table:
               wrong ord, unknown outcome, inserted/updated without the row
               carrying that sequence, deleted with the row still live or
               (no row) without a tombstone of that sequence, a key state
               row that disagrees with the row, stale while the stored
               sequence (the higher of the row's and the key state row's)
               is lower, superseded while being the highest of its key;
               unchanged on a table not registered with unchanged => 'skip',
               or with its row written (the rows before and after), updated
               with the row's values the same; a timestamptz-sequenced table
               taking a number or an out-of-range int64 as a sequence, or an
               RFC 3339 sequence showing as another int64;
               sequenced_delete_missing deleting other than the keys its
               count said were missing, out of key order, the breaker (54000)
               tripping or not against missing > max_fraction * live, the
               count afterwards not (live - deleted, 0), a count unlike a
               query's; sequenced_register not showing the options given
  table        after a successful call (committed), the table, its key
               state and its feed disagree (check_table): a key state row
               next to a row not carrying its sequence and deletedness, one
               without a row that is no tombstone; sequenced_changes(t, 0)
               not holding exactly each row and each tombstone once; a key
               that lost its state, or whose stored sequence or feed
               position went down, since the table's previous check; with
               history: versions of a key that overlap or leave a gap, whose
               sequence column is not their _sdc_valid_from, a delete's
               version holding values, a key's last version that is not its
               current state
  consumer     a consumer call failed other than SPEC section 8 says (or
               succeeded where it says it fails); a receive's rows with
               repeated or reused ack_ids, positions not ascending, a key twice,
               a key handed out while in flight (visibility timeouts of an hour:
               the fuzzer knows what is in flight) or again after its change
               was acknowledged, deliveries not 1 + those since the key's last
               acknowledgement, a delivery unlike the feed's entry at its
               position or the key's row; ack/nack not returning how many of
               the ack_ids were in flight; sequenced_consumers with in_flight
               unlike the fuzzer's count or pending < in_flight; a drain
               (receive and acknowledge until nothing comes, every
               --drain-every inputs and at the end) that did not bring every
               key changed since the previous one, last with its current state,
               or leaves pending, in_flight or acked_through wrong.  After a
               failed consumer call, "state" compares _sequenced.consumers and
               _sequenced.deliveries.
  timeout      statement_timeout hit
  client       the driver itself failed (a bug in this script)

Usage:
  fuzz.py --profile quick            # ~3,000 inputs, < 60 s
  fuzz.py --profile long             # 100,000 inputs
  fuzz.py --seed 7 --start 1200 --count 1 --show   # print one input as SQL
  fuzz.py --table-check-every 50 ...  # the "table" check less often (each reads the feed from 0)
Connection: libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE); the
fuzzer creates (and at the end drops, unless --keep) its own database.
"""
import argparse
import collections
import datetime
import json
import os
import random
import re
import sys
import time
import traceback
import uuid as uuidlib

try:
    import psycopg
    from psycopg import sql as S
except ImportError:  # pragma: no cover
    sys.stderr.write("fuzz.py needs psycopg 3 (Debian: python3-psycopg); run it with /usr/bin/python3\n")
    sys.exit(2)

# ---------------------------------------------------------------------------
# JSON text generation: we write JSON text ourselves, to control number
# lexemes, escapes, lone surrogates and duplicate keys.
# ---------------------------------------------------------------------------


class Raw:
    """Verbatim JSON text (number lexemes, deep nesting, broken JSON)."""
    __slots__ = ("t",)

    def __init__(self, t):
        self.t = t


class Obj:
    """A JSON object as ordered (key, value) pairs; keys may repeat."""
    __slots__ = ("items",)

    def __init__(self, items=None):
        self.items = list(items or [])

    def set(self, k, v):
        self.items.append((k, v))

    def keys(self):
        return [k for k, _ in self.items]

    def get(self, k, default=None):
        r = default
        for kk, vv in self.items:
            if kk == k:
                r = vv  # jsonb keeps the last duplicate
        return r


_ESC = {'"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f'}


def emit_str(s, ascii_only):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in _ESC:
            out.append(_ESC[ch])
        elif o < 0x20 or 0xD800 <= o <= 0xDFFF or (ascii_only and o > 0x7E):
            if o > 0xFFFF:
                o -= 0x10000
                out.append("\\u%04x\\u%04x" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF)))
            else:
                out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def emit(v, out, ascii_only=False):
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, Raw):
        out.append(v.t)
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, float):
        out.append(repr(v) if v == v and v not in (float("inf"), float("-inf")) else "0")
    elif isinstance(v, str):
        out.append(emit_str(v, ascii_only))
    elif isinstance(v, Obj):
        out.append("{")
        for i, (k, vv) in enumerate(v.items):
            if i:
                out.append(", ")
            out.append(emit_str(k, ascii_only))
            out.append(": ")
            emit(vv, out, ascii_only)
        out.append("}")
    elif isinstance(v, dict):
        emit(Obj(v.items()), out, ascii_only)
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, e in enumerate(v):
            if i:
                out.append(", ")
            emit(e, out, ascii_only)
        out.append("]")
    else:
        raise TypeError(type(v))


def to_json(v, ascii_only=False):
    out = []
    emit(v, out, ascii_only)
    return "".join(out)


# ---------------------------------------------------------------------------
# value pools
# ---------------------------------------------------------------------------

NUM_LEXEMES = [
    "0", "-0", "1", "-1", "0.0", "-0.0", "1.0", "1.5", "-1.5", "0.1", "1e2", "1E+2", "1e-2", "1.0e0",
    "2147483647", "2147483648", "-2147483648", "-2147483649",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
    "18446744073709551616", "99999999999999999999999999999999999999",
    "1e18", "9.223372036854775807e18", "9.3e18", "-9.3e18", "1e19",
    "1e308", "1.7976931348623157e308", "1e309", "-1e309", "4.9e-324", "1e-400",
    "1e1000", "-1e1000", "1e-1000", "1e100000", "123.456", "999.995", "999.994", "-999.99",
    "123456789012345678901234567890.123456789012345678901234567890",
    "0.000000000000000000000000000001",
]

HOSTILE_STRINGS = [
    "", " ", "null", "NULL", "true", "t", "yes", "on", "off", "0", "1", "-1", " 12 ", "12abc", "0x1F",
    "1_000", "1e5", "1.0", "NaN", "nan", "Infinity", "-Infinity", "infinity", "-infinity", "epoch",
    "now", "today", "tomorrow", "allballs", "2024-02-30", "2024-02-29", "0001-01-01 BC", "294277-01-01",
    "5874897-12-31", "5874898-01-01", "4714-11-24 BC", "4713-01-01 BC", "2024-01-01T25:00:00Z",
    "2024-01-01 00:00:00+15:59", "2024-01-01 00:00:00+16:00", "J2451187", "1999-01-08 04:05:06 PST8PDT",
    "00000000-0000-0000-0000-000000000000", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
    "a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
    "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "{1,2,3}", "{}", "{{1,2},{3,4}}", '{"a","b"}', "[1:2]={1,2}",
    "{NULL}", "{1,", "{{1},{2,3}}", "[]", '{"a":1}', "[1,2", "sad", "SAD", "happy ", 'we"ird', "ok",
    "'; DROP TABLE fz_all; --", "a\"b", "x;y", "a.b", "\\", "\\\\N", "\\N", "\t\n\r", "\u00e9", "e\u0301",
    "\U0001F600", "\u202e", "\ufeff", "\uffff", "\ufb00", "\u0130", "\u0001", "\u001f", "\x7f",
    "xxxxxx", "abcde", "abcd\u00e9", "\u00e9\u00e9\u00e9\u00e9\u00e9", "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9",
    "\ud800", "\udc00", "\ud83d", "\ude00x", "\x00", "a\x00b", "$$", "%s", "%n%n%n", "{{", "$1",
]

PROP_NAMES = [
    "", " ", "id ", "ID", "Id", "c_Int", '"id"', 'id"', "id'", "a;b", "a.b", "public.fz_all.id",
    "x; DROP TABLE fz_all; --", "_sdc_sequence", "_sdc_deleted_at", "_sdc_deleted", "ctid", "xmin",
    "tableoid", "a" * 63, "a" * 64, "a" * 200, 'we"ird;name.x', 'we""ird;name.x', '"we""ird;name.x"',
    "k.2", "Mixed Case", "mixed case", "\u00e9", "e\u0301", "\U0001F642", "\ud800", "\x00",
    "action", "sequence", "data", "%s", "c_int\u0000", "g", "ident",
]

ENUM_LABELS = ["sad", "ok", "happy", 'we"ird', "x y"]

HUGE_INT_ARRAY = "[" + ", ".join(str(i) for i in range(100000)) + "]"
HUGE_NULL_ARRAY = "[" + ", ".join("null" for i in range(50000)) + "]"

KEYS_COMP_TEXT = ["a", "A", "", " ", 'a"b', "x'; DROP TABLE fz_comp; --", "\U0001F642", "\u00e9", "e\u0301",
                  "a.b", "z" * 40]
KEYS_COMP_BIG = [-1, 0, 1, 2, 9223372036854775807, -9223372036854775808]
KEYS_NUM = [Raw("0"), Raw("1"), Raw("1.0"), Raw("1.00"), Raw("-0"), Raw("1e2"), Raw("100"), "NaN",
            "Infinity", "-Infinity", Raw("3.14159"), Raw("1e-20"), Raw("12345678901234567890.5"), Raw("-7")]
KEYS_UUID = [str(uuidlib.UUID(int=i * 0x1111111111111111)) for i in range(1, 6)] + \
            ["{00000000-0000-0000-0000-000000000001}", "00000000000000000000000000000001"]

# ---------------------------------------------------------------------------
# schema of the fuzz database
# ---------------------------------------------------------------------------

SETUP_SQL = r"""
CREATE EXTENSION pg_sequenced;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fz_user') THEN CREATE ROLE fz_user; END IF;
END $$;
GRANT USAGE, CREATE ON SCHEMA public TO fz_user;
CREATE TYPE fz_mood AS ENUM ('sad', 'ok', 'happy', 'we"ird', 'x y');
CREATE DOMAIN fz_pos AS int CHECK (VALUE > 0);
CREATE DOMAIN fz_jobj AS jsonb CHECK (jsonb_typeof(VALUE) = 'object');
CREATE DOMAIN fz_iarr AS int[] CHECK (cardinality(VALUE) < 4);

CREATE TABLE fz_all (
  id int PRIMARY KEY,
  c_int int, c_big bigint, c_num numeric, c_text text, c_vc varchar(5), c_bool boolean,
  c_ts timestamptz, c_date date, c_uuid uuid, c_jsonb jsonb, c_json json, c_tarr text[],
  c_iarr int[], c_enum fz_mood, c_dom fz_pos, c_jdom fz_jobj, c_darr fz_iarr, c_num52 numeric(5,2),
  c_float float8, c_real real, c_small smallint, c_bytea bytea, c_inet inet, c_interval interval,
  c_dflt text DEFAULT 'dflt', c_nn int NOT NULL DEFAULT 7
);
SELECT sequenced_register('fz_all');

CREATE TABLE fz_comp ("we""ird;name.x" text, "k.2" bigint, "Mixed Case" text, payload jsonb, n numeric,
                      PRIMARY KEY ("we""ird;name.x", "k.2"));
SELECT sequenced_register('fz_comp', on_equal => 'replace', deletes => 'soft');

CREATE TABLE fz_num (n numeric PRIMARY KEY, d date, t text);
SELECT sequenced_register('fz_num', on_equal => 'error', ordering => 'per_table');

CREATE TABLE fz_uk (u uuid, m fz_mood, ts timestamptz, v text, UNIQUE (u, m));
SELECT sequenced_register('fz_uk', key_columns => '{u,m}');

CREATE TABLE fz_app (a int, b text, j jsonb);
SELECT sequenced_register('fz_app', key_columns => '{}');

CREATE TABLE fz_gen (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, g int GENERATED ALWAYS AS (id * 2) STORED,
                     ident bigint GENERATED ALWAYS AS IDENTITY, v text);
SELECT sequenced_register('fz_gen', deletes => 'soft');

CREATE TABLE fz_stg_txt (id text, c_int text, c_text text, c_vc text, c_bool text, c_ts text, c_date text,
                         c_uuid text, c_jsonb text, c_json text, c_tarr text, c_iarr text, c_enum text,
                         c_dom text, c_num52 text, c_nn text, _sdc_sequence text, _sdc_deleted boolean);
CREATE TRIGGER apply AFTER INSERT ON fz_stg_txt REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('fz_all');
CREATE TABLE fz_stg_typed (id int, c_int int, c_big bigint, c_text text, c_bool boolean, c_ts timestamptz,
                           c_jsonb jsonb, c_tarr text[], c_enum fz_mood, c_dom fz_pos, c_nn int,
                           _sdc_sequence bigint, _sdc_deleted boolean);
CREATE TRIGGER apply AFTER INSERT ON fz_stg_typed REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('fz_all', 'keep');
CREATE TABLE fz_stg_row (id text, c_text text, c_num text, _sdc_sequence numeric, _sdc_deleted boolean);
CREATE TRIGGER apply BEFORE INSERT ON fz_stg_row FOR EACH ROW EXECUTE FUNCTION sequenced_apply_staging('fz_all');
CREATE TABLE fz_stg_comp ("we""ird;name.x" text, "k.2" text, "Mixed Case" text, payload text,
                          _sdc_sequence int, _sdc_deleted boolean);
CREATE TRIGGER apply AFTER INSERT ON fz_stg_comp REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('fz_comp');

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO fz_user;

-- the 0.2 options (SPEC sections 6 and 7, README "Timestamps as sequences", "Lenient records"); their
-- history tables belong to the extension's owner and get what registration grants (SELECT)
CREATE TABLE fz_skip (id int PRIMARY KEY, a text, n numeric, j jsonb, arr int[], d text DEFAULT 'd',
                      vol timestamptz DEFAULT clock_timestamp());
CREATE TABLE fz_hist (k text, g int, v jsonb, t text, n int DEFAULT 5, PRIMARY KEY (k, g));
CREATE TABLE fz_ts (id int PRIMARY KEY, v text, n int, updated_at timestamptz);
CREATE TABLE fz_opts (id int PRIMARY KEY, a text, n int DEFAULT 0, j jsonb);
CREATE TABLE fz_stg_skip (id int, a text, n numeric, j jsonb, arr int[], vol timestamptz, _sdc_sequence bigint,
                          _sdc_deleted boolean);
CREATE TABLE fz_stg_ts (id int, v text, n int, zz text, updated_at timestamptz, _sdc_deleted boolean);
CREATE TABLE fz_stg_ts_txt (id text, v text, n text, updated_at text);
CREATE TABLE fz_stg_ts_num (id int, v text, updated_at bigint);
GRANT SELECT, INSERT, UPDATE, DELETE ON fz_skip, fz_hist, fz_ts, fz_opts, fz_stg_skip, fz_stg_ts, fz_stg_ts_txt,
    fz_stg_ts_num TO fz_user;
SELECT sequenced_register('fz_skip', unchanged => 'skip', history => true);
SELECT sequenced_register('fz_hist', on_equal => 'replace', deletes => 'soft', history => true,
                          unknown_properties => 'column', omitted => 'keep');
SELECT sequenced_register('fz_ts', sequence_column => 'updated_at', unchanged => 'skip', history => true,
                          unknown_properties => 'ignore');
SELECT sequenced_register('fz_opts', history => true);
CREATE TRIGGER apply AFTER INSERT ON fz_stg_skip REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('fz_skip');
CREATE TRIGGER apply AFTER INSERT ON fz_stg_ts REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('fz_ts');
CREATE TRIGGER apply BEFORE INSERT ON fz_stg_ts_txt FOR EACH ROW EXECUTE FUNCTION sequenced_apply_staging('fz_ts');
CREATE TRIGGER apply AFTER INSERT ON fz_stg_ts_num REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('fz_ts');

-- a timestamptz sequence as the bigint the functions show (microseconds since 2000-01-01 UTC), the
-- infinities too; the checks use it rather than sequenced_seq, whose arithmetic refuses the infinities
CREATE FUNCTION fz_seq(ts timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE WHEN ts = 'infinity' THEN 9223372036854775807 WHEN ts = '-infinity' THEN -9223372036854775808
              ELSE (extract(epoch FROM ts - '2000-01-01 00:00:00+00') * 1000000)::bigint END
$$;
"""

# column -> safe generator name
ALL_COLS = {
    "c_int": "int4", "c_big": "int8", "c_num": "numeric", "c_text": "text", "c_vc": "vc5", "c_bool": "bool",
    "c_ts": "ts", "c_date": "date", "c_uuid": "uuid", "c_jsonb": "json", "c_json": "json", "c_tarr": "tarr",
    "c_iarr": "iarr", "c_enum": "enum", "c_dom": "pos", "c_jdom": "jobj", "c_darr": "darr", "c_num52": "num52",
    "c_float": "float", "c_real": "float", "c_small": "int2", "c_bytea": "bytea", "c_inet": "inet",
    "c_interval": "interval", "c_dflt": "text", "c_nn": "int4nn",
}

TABLES = {
    # name: (key columns, {column: safe kind}, seqcol, soft, per_key_check, append_only)
    "fz_all": dict(keys=["id"], cols=ALL_COLS, soft=False, on_equal="keep", per_table=False),
    "fz_comp": dict(keys=['we"ird;name.x', "k.2"], cols={"Mixed Case": "text", "payload": "json", "n": "numeric"},
                    soft=True, on_equal="replace", per_table=False),
    "fz_num": dict(keys=["n"], cols={"d": "date", "t": "text"}, soft=False, on_equal="error", per_table=True),
    "fz_uk": dict(keys=["u", "m"], cols={"ts": "ts", "v": "text"}, soft=False, on_equal="keep", per_table=False),
    "fz_app": dict(keys=[], cols={"a": "int4", "b": "text", "j": "json"}, soft=False, on_equal="keep",
                   per_table=False),
    "fz_gen": dict(keys=["id"], cols={"v": "text"}, soft=True, on_equal="keep", per_table=False),
    # the 0.2 options: small value pools, so that records often hold the stored values again
    "fz_skip": dict(keys=["id"], cols={"a": "s_text", "n": "s_num", "j": "s_json", "arr": "s_iarr", "d": "s_text",
                                       "vol": "s_ts"}, soft=False, on_equal="keep", per_table=False, full=0.6),
    "fz_hist": dict(keys=["k", "g"], cols={"v": "s_json", "t": "s_text", "n": "s_int"}, soft=True,
                    on_equal="replace", per_table=False),
    "fz_ts": dict(keys=["id"], cols={"v": "s_text", "n": "s_int"}, soft=False, on_equal="keep", per_table=False,
                  ts=True, full=0.5),
    # registered again now and then with other options (the "register" inputs); on_equal as it stands
    "fz_opts": dict(keys=["id"], cols={"a": "s_text", "n": "s_int", "j": "s_json"}, soft=False, on_equal=None,
                    per_table=False, full=0.4),
}

# timestamptz: the valid range of its int64 (PostgreSQL's MIN_TIMESTAMP .. END_TIMESTAMP - 1, and the two
# infinities at INT64_MIN and INT64_MAX)
TS_MIN = -211813488000000000
TS_END = 9223371331200000000
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
TS_EPOCH = datetime.datetime(2000, 1, 1)      # a timestamptz's int64 counts microseconds from here (UTC)


def ts_valid(us):
    return us in (INT64_MIN, INT64_MAX) or TS_MIN <= us < TS_END


NO_TABLE = "999999999"     # a regclass that names no relation
MISSING = object()          # no such property
EVER_SKIP = set()           # relids of the tables seen registered with unchanged => 'skip'
NO_IMPORT_TABLE = "(no table_name)"     # an import body whose table_name is no (non-empty) string

IMPORT_TABLES = ["imp_a", "imp_b", "public.imp_c", "Imp Mixed", 'imp "q";x', "imp_new_%d"]
IMPORT_BAD_TABLES = ["imp.dot", "nosuchschema.imp", "imp_" + "l" * 70, "", "a.b.c", ".x", "x."]

IMPORT_BASE = Obj([("id", {"type": "integer"}), ("name", {"type": ["null", "string"]}),
                   ("amt", {"type": ["null", "number"]}), ("ts", {"type": ["null", "string"], "format": "date-time"}),
                   ("flag", {"type": ["null", "boolean"]}), ("obj", {"type": ["null", "object"]}),
                   ("arr", {"type": ["null", "array"]})])
IMPORT_KINDS = {"id": "int8", "name": "text", "amt": "i_num", "ts": "i_ts", "flag": "i_bool", "obj": "jobj",
                "arr": "jarr"}

# -- consumers (SPEC section 8, README "Consumers") ---------------------------------------------
CONSUMER_SHARE = 0.07       # of all inputs (drawn from a stream of their own: see Gen.make)
# the consumers made at setup: (name, table, creator (None: the superuser), start, visibility_timeout);
# a visibility timeout of an hour or more: nothing expires during a run, so the fuzzer knows exactly
# which deliveries are in flight ("tracked"); fzc_gen0's ('0') expire at once
SETUP_CONSUMERS = [
    ("fzc_skip", "fz_skip", None, "beginning", "1 hour"),       # unchanged => 'skip', history
    ("fzc_comp", "fz_comp", "fz_user", "beginning", "1 hour"),  # composite quoted key, soft deletes
    ("fzc_hist", "fz_hist", "fz_user", "end", "1 hour"),        # composite key, soft, history, replace
    ("fzc_all", "fz_all", None, "beginning", "2 hours"),        # hard deletes (tombstones), every type
    ("fzc_app", "fz_app", "fz_user", "beginning", "1 hour"),    # append-only (TRUNCATEd now and then)
    ("fzc_ts", "fz_ts", None, "end", "1 hour"),                 # timestamptz sequences
    ("fzc_gen0", "fz_gen", None, "beginning", "0"),             # visibility_timeout 0: every delivery expires
]
SETUP_CREATOR = {n: c for n, _, c, _, _ in SETUP_CONSUMERS}
# a name that is no compressible text (a consumer's name is "any non-empty text", README)
_R7 = random.Random(7)
LONG_CONSUMER = "".join(_R7.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(3000))
# names sequenced_consumer_create makes (and sequenced_consumer_drop drops) during a run
DYN_CONSUMERS = ["fzc_dyn_0", "fzc_dyn_1", "fzc_dyn_2", "fzc_dyn_3", "fzc_skip ", "FZC_SKIP", 'we"ird;name.x',
                 "\U0001F642 \u00e9", "c" * 63, "'; DROP TABLE fz_all; --", "n" * 5000, LONG_CONSUMER]
# names no call creates (42704; NULL 22004; a lone surrogate cannot be sent)
BAD_CONSUMERS = [None, "", "nope", "fzc_", " fzc_skip", "fzc_skip\t", "fzc_dyn_9", "\ud800"]
CONSUMER_TARGETS = ["fz_all", "fz_comp", "fz_skip", "fz_hist", "fz_ts", "fz_gen", "fz_uk", "fz_app"]
# intervals: (text, seconds); the negative ones are refused (22023)
VT_OK = [("1 hour", 3600), ("1 hour", 3600), ("2 hours", 7200), ("01:00:00", 3600), ("1 day", 86400),
         ("-1 mon 31 days", 86400), ("0", 0), ("1 second", 1)]
VT_HUGE = ("177999999 years", 177999999 * 365 * 86400)     # over 1000 years: refused (22023)
INTERVALS_NEG = ["-1 second", "-00:00:00.000001", "1 mon -31 days", "-1 hour", "-1 day 23:59:59"]
WAIT_OK = ["0", "0", "0", "0 seconds", "00:00:00", "1 millisecond"]
MAX_ROWS_BAD = [0, -1, None, 2147483647, -2147483648, 4000000]
ACK_KINDS_BAD = ["acked", "dead", "other", "unknown", "neg", "null", "zero", "max", "dup"]


class Input:
    """One generated input: everything needed to run and check it."""

    def __init__(self, i):
        self.i = i
        self.op = None          # upsert3 | upsert2 | delete3 | import | staging
        self.table = None       # target table (for import: the table_name)
        self.json = None        # JSON text (None: SQL NULL)
        self.seq = None         # seq argument of 3-argument forms
        self.nrec = 0           # number of records/messages (0: unknown / not an array)
        self.hostile = set()    # 1-based positions of records with a possibly bad value
        self.shape_bad = False  # the top-level shape itself is wrong
        self.staging = None     # staging table
        self.stg_cols = None
        self.stg_rows = None
        self.copy = False
        self.row_level = False
        self.scope_given = False    # delete_missing: a scope argument (inp.json its text; None: NULL)
        self.scope_obj = None       # ... the scope as generated, when it is a valid object (for checks)
        self.max_fraction = 0.1     # ... max_fraction (None: NULL), given when mf_given
        self.mf_given = False
        self.reg_args = None        # register: [(option, value)]
        self.msg_seqs = None        # upsert2: each message's "sequence" value as generated
        self.ts_expect = {}         # RFC 3339 texts generated valid -> their int64
        self.txn = False        # run inside BEGIN ... SAVEPOINT
        self.role = None        # SET ROLE for the call
        self.mode = "chaos"     # clean | single | chaos (see Gen.build)
        # consumer inputs (op c_*): as generated, and (cv) as resolved against the fuzzer's state when run
        self.c_name = None
        self.c_max_rows = None
        self.c_wait = None
        self.c_ids = None           # ack/nack: a recipe (see Gen.make_consumer, Fuzzer.resolve_ids)
        self.c_retry = None
        self.c_after = None         # rewind: ("zero" | "mid" | "acked" | "max",) or ("value", n)
        self.c_start = None
        self.c_vt = None            # create: (text or None, seconds or None: negative/NULL)
        self.c_busy = False         # ack/nack: a consumer with deliveries in flight, if any (else c_name)
        self.cv = None


# ---------------------------------------------------------------------------
# the generator: a pure function of (seed, i)
# ---------------------------------------------------------------------------


class Gen:
    def __init__(self, seed, huge_rate):
        self.ts_expect = {}             # RFC 3339 texts made for this input -> their int64
        self.seed = seed
        self.huge_rate = huge_rate      # share of inputs that carry one huge value
        self.huge_left = 0              # huge values this input may still get
        self.hr = 1.0                   # hostility rate of what is being generated

    def bad(self, r, p):
        """Inject hostility with probability p scaled by the current hostility rate."""
        return r.random() < p * self.hr

    def huge(self, r):
        if self.huge_left > 0 and r.random() < 0.2:
            self.huge_left -= 1
            return True
        return False

    # -- values --------------------------------------------------------------
    def rand_string(self, r):
        p = r.random()
        if p < 0.5:
            return r.choice(HOSTILE_STRINGS)
        if p < 0.8:
            n = r.randint(0, 12)
            alphabet = "abcXYZ019 _-.;'\"\\/\u00e9\u4e2d\U0001F600\t"
            return "".join(r.choice(alphabet) for _ in range(n))
        if not self.huge(r):
            return "".join(chr(r.randint(0x20, 0x2FFF)) for _ in range(r.randint(1, 40)))
        return "x" * (1 << 20) if r.random() < 0.5 else ("\u00e9" * (1 << 19))

    def rand_number(self, r):
        p = r.random()
        if p < 0.6:
            return Raw(r.choice(NUM_LEXEMES))
        if p < 0.8:
            return r.randint(-(1 << 70), 1 << 70)
        return Raw("%s%d.%de%s%d" % (r.choice(["", "-"]), r.randint(0, 999), r.randint(0, 999),
                                      r.choice(["", "+", "-"]), r.randint(0, 400)))

    def rand_json(self, r, depth=0):
        p = r.random()
        if depth > 4:
            p = p * 0.6
        if p < 0.1:
            return None
        if p < 0.18:
            return r.random() < 0.5
        if p < 0.38:
            return self.rand_number(r)
        if p < 0.6:
            return self.rand_string(r)
        if p < 0.8:
            if self.huge(r):
                return Raw(HUGE_INT_ARRAY) if r.random() < 0.5 else Raw(HUGE_NULL_ARRAY)
            return [self.rand_json(r, depth + 1) for _ in range(r.randint(0, 5))]
        if p < 0.985:
            o = Obj()
            for _ in range(r.randint(0, 5)):
                k = r.choice(PROP_NAMES) if r.random() < 0.4 else self.rand_string(r)[:30]
                o.set(k, self.rand_json(r, depth + 1))
            return o
        if not self.huge(r):
            return None
        d = r.choice([64, 200, 1000, 3000, 10000])
        return Raw("[" * d + "1" + "]" * d) if r.random() < 0.5 else Raw('{"a":' * d + "1" + "}" * d)

    def safe_value(self, r, kind):
        """A value that is valid for a column of this kind."""
        if kind == "int4nn":
            return r.choice([r.randint(-1000, 1000), 2147483647, Raw("1e2"), str(r.randint(-5, 5))])
        if r.random() < 0.08:
            return None
        if kind == "int4":
            return r.choice([r.randint(-1000, 1000), 2147483647, -2147483648, Raw("1e2"), Raw("7e0"),
                             str(r.randint(-5, 5))])
        if kind == "int2":
            return r.choice([r.randint(-100, 100), 32767, -32768])
        if kind == "int8":
            return r.choice([r.randint(-(1 << 63), (1 << 63) - 1), 9223372036854775807, -9223372036854775808,
                             str(r.randint(0, 99))])
        if kind == "numeric":
            return r.choice([Raw("%d.%d" % (r.randint(-999, 999), r.randint(0, 99999))), Raw("1e50"), "NaN",
                             "Infinity", r.randint(-(1 << 80), 1 << 80), Raw("1e-30"), "42.5"])
        if kind == "num52":
            return r.choice([Raw("%d.%02d" % (r.randint(-999, 999), r.randint(0, 99))), 0, "1.5", Raw("999.994")])
        if kind == "float":
            return r.choice([Raw("1.5"), Raw("-2e30"), "NaN", "Infinity", "-Infinity", r.randint(-99, 99),
                             Raw("1e-30")])
        if kind == "text":
            s = self.rand_string(r)
            return s.replace("\x00", "").encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        if kind == "vc5":
            return r.choice(["", "abcde", "\u00e9\u00e9\u00e9\u00e9\u00e9", "a b", "12345", 12345, True])
        if kind == "bool":
            return r.choice([True, False, "t", "f", "yes", "no", "on", "off", "1", "0", 1, 0])
        if kind == "ts":
            return r.choice(["2024-01-02T03:04:05Z", "2024-01-02 03:04:05.123456+05:30", "infinity", "-infinity",
                             "epoch", "1999-12-31 23:59:59.999999-12", "2000-02-29T00:00:00+14:00",
                             "4713-01-01 00:00:00+00 BC", "294276-12-31 23:59:59+00"])
        if kind == "date":
            return r.choice(["2024-02-29", "1970-01-01", "infinity", "-infinity", "4714-11-24 BC",
                             "5874897-12-31", "epoch", "20240101"])
        if kind == "uuid":
            return r.choice(KEYS_UUID[:5] + [str(uuidlib.UUID(int=r.getrandbits(128)))])
        if kind == "json":
            v = self.rand_json(r)
            return v if self.json_ok(v) else {"ok": 1}
        if kind == "i_num":
            return r.choice([Raw("1.5"), 0, Raw("-1e30"), Raw("1e-30"), r.randint(-(1 << 70), 1 << 70)])
        if kind == "i_ts":
            return r.choice(["2024-01-02T03:04:05Z", "2024-01-02 03:04:05.123456+05:30", "1999-12-31t23:59:59z",
                             "2000-02-29T00:00:00-12:00"])
        if kind == "i_bool":
            return r.random() < 0.5
        if kind == "jobj":
            return r.choice([{}, {"a": 1}, Obj([("x", [1, 2, {"y": None}]), ("x", "dup")])])
        if kind == "jarr":
            return r.choice([[], [1, "a", None], [[[]]]])
        if kind == "tarr":
            return r.choice([[], ["a", None, "b"], [1, True, 2.5], ["\u00e9", 'x"y', "{}"], "{a,b}", "{}",
                             [{"o": 1}]])
        if kind == "iarr":
            return r.choice([[], [1, None, 3], [2147483647], "{1,2}", [Raw("1e2")], ["7"]])
        if kind == "darr":
            return r.choice([[], [1, 2, 3], "{1}"])
        if kind == "enum":
            return r.choice(ENUM_LABELS)
        if kind == "pos":
            return r.choice([1, 2147483647, "5", Raw("3e0")])
        if kind == "bytea":
            return r.choice(["\\x00ff", "abc", "", "\\\\"])
        if kind == "inet":
            return r.choice(["127.0.0.1", "::1", "10.0.0.0/8", "fe80::1%eth0" if False else "2001:db8::/32"])
        if kind == "interval":
            return r.choice(["1 day", "P1Y2M3DT4H5M6S", "-00:00:01", "177999999 years"])
        # small pools (the 0.2 tables): equal values spelled alike or not -- numeric 1, 1.0 and 1.00 and
        # jsonb 1 and 1.0 differ in binary, int 1 and 1e0, timestamptz instants at two offsets do not
        if kind == "s_text":
            return r.choice(["x", "y", "", None, "\u00e9"])
        if kind == "s_int":
            return r.choice([0, 1, 2, None, Raw("1e0"), "2"])
        if kind == "s_num":
            return r.choice([Raw("1"), Raw("1.0"), Raw("1.00"), "1", 0, None, "NaN"])
        if kind == "s_json":
            return r.choice([Obj([("a", 1)]), Obj([("a", Raw("1.0"))]), [1, 2], None, "s", 1,
                             Obj([("b", 1), ("a", 1)]), Obj([("a", 1), ("b", 1)])])
        if kind == "s_iarr":
            return r.choice([[1, 2], "{1,2}", [], None, [1, None], [Raw("1e0"), 2]])
        if kind == "s_ts":
            return r.choice(["2024-01-01T00:00:00Z", "2024-01-01 01:00:00+01", None, "2024-01-01T00:00:00.000001Z"])
        raise ValueError(kind)

    @staticmethod
    def json_ok(v):
        """No NUL and no surrogates: jsonb accepts the value."""
        t = to_json(v, ascii_only=True) if not isinstance(v, Raw) else v.t
        if "\\u0000" in t or re.search(r"\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])", t) or re.search(r"(?<![0-9a-f]{4})\\ud[c-f]", t):
            return False
        if isinstance(v, Raw) and ("e100000" in t or t.startswith("[[[") or t.startswith('{"a":{')):
            return False
        return True

    def hostile_value(self, r):
        return self.rand_json(r)

    def key_values(self, r, table):
        """Valid key values for table (a dict column -> value)."""
        if table in ("fz_all", "fz_gen"):
            return {"id": r.choice([r.randint(-3, 40), r.randint(1, 30), str(r.randint(0, 9)), 
                                    Raw("2e1")])}
        if table == "fz_comp":
            return {'we"ird;name.x': r.choice(KEYS_COMP_TEXT), "k.2": r.choice(KEYS_COMP_BIG)}
        if table == "fz_num":
            return {"n": r.choice(KEYS_NUM)}
        if table == "fz_uk":
            return {"u": r.choice(KEYS_UUID), "m": r.choice(ENUM_LABELS)}
        if table in ("fz_skip", "fz_ts", "fz_opts"):
            return {"id": r.choice([r.randint(1, 12), r.randint(1, 12), str(r.randint(1, 5))])}
        if table == "fz_hist":
            return {"k": r.choice(["a", "b", "c", 'q"x', ""]), "g": r.choice([0, 1, 2, "1"])}
        return {}

    def canonical(self, r, table, kv):
        """[(column, value)]: a record determined by the key, in spellings that convert to the same
        values (int 1 and 1e0, timestamptz at two offsets, jsonb keys in either order, an omitted column
        whose DEFAULT is the value) -- and now and then one that does not (numeric 1.00 for 1.0)."""
        try:
            k = int(str(next(iter(kv.values()))))
        except ValueError:
            k = 0
        out = []
        if table == "fz_skip":
            out.append(("a", ["x", "y", None][k % 3]))
            out.append(("n", r.choice([Raw("1.0"), "1.0", Raw("10e-1")] * 4 + [Raw("1.00")])))
            j = [("a", 1), ("b", k)]
            out.append(("j", Obj(j if r.random() < 0.5 else j[::-1])))
            out.append(("arr", r.choice([[1, k], "{1,%d}" % k, [Raw("1e0"), k]])))
            if r.random() < 0.7:
                out.append(("d", "d"))          # else omitted: its DEFAULT 'd'
            out.append(("vol", r.choice(["2024-01-01T00:00:00Z", "2024-01-01 01:00:00+01", "2024-01-01t00:00:00z"])))
        elif table == "fz_ts":
            out.append(("v", ["x", "y"][k % 2]))
            out.append(("n", r.choice([k % 3, Raw("%de0" % (k % 3)), str(k % 3)])))
            if r.random() < 0.2:
                out.append(("zz", "an unknown property (ignored)"))
        else:
            out.append(("a", ["x", "y", ""][k % 3]))
            out.append(("n", r.choice([k, Raw("%de0" % k)])))
            out.append(("j", Obj([("k", k)])))
        r.shuffle(out)
        return out

    def hostile_key_value(self, r, table):
        return r.choice([None, True, [], {}, "", "abc", Raw("1.5"), Raw("2147483648"), Raw("1e400"),
                         "\U0001F642", Raw("9223372036854775808"), "NaN", self.rand_json(r)])

    def record(self, r, table, keys_only=False):
        """(record Obj, hostile?) for table."""
        if table not in TABLES:
            table = "fz_all"
        meta = TABLES[table]
        o = Obj()
        hostile = False
        kv = self.key_values(r, table)
        for k in meta["keys"]:
            p = r.random()
            if p < 0.04 * self.hr:
                hostile = True      # key missing
                continue
            if p < 0.10 * self.hr:
                o.set(k, self.hostile_key_value(r, table))
                hostile = True
            else:
                o.set(k, kv[k])
        cols = list(meta["cols"].items())
        if not keys_only and meta.get("full") and r.random() < 0.75:
            # the key's "canonical" record, spelled one way or another: sent again at a newer sequence,
            # it holds the stored values (unchanged), or not quite (numeric 1.0 against 1.00)
            for c, v in self.canonical(r, table, kv):
                o.set(c, v)
        elif not keys_only or r.random() < 0.2:
            r.shuffle(cols)
            ncols = len(cols) if r.random() < meta.get("full", 0) else r.randint(0, len(cols))
            for c, kind in cols[:ncols]:
                if self.bad(r, 0.05):
                    o.set(c, self.hostile_value(r))
                    hostile = True
                else:
                    o.set(c, self.safe_value(r, kind))
        if self.bad(r, 0.06):
            o.set(r.choice(PROP_NAMES), self.rand_json(r))
            hostile = True
        if o.items and self.bad(r, 0.05):          # duplicate key: jsonb keeps the last one
            k, _ = r.choice(o.items)
            o.set(k, self.rand_json(r))
            hostile = True
        if table == "fz_all" and "c_nn" in o.keys() and o.get("c_nn") is None:
            hostile = True      # NOT NULL column
        if r.random() < 0.3:
            r.shuffle(o.items)
        return o, hostile

    def seq_value(self, r, i):
        p = r.random()
        if p < 0.85:
            return i * 4 + r.randint(-200, 3)        # mostly rising, with late arrivals
        return r.choice([0, -1, 1, 9223372036854775807, -9223372036854775808, i * 4])

    def ts_text(self, r, us):
        """An RFC 3339 spelling of the timestamptz whose int64 is us (remembered in ts_expect)."""
        if us == INT64_MAX:
            t = r.choice(["infinity", "Infinity"])
        elif us == INT64_MIN:
            t = "-infinity"
        else:
            off = r.choice([0, 0, 330, -720, 840, -59])
            at = TS_EPOCH + datetime.timedelta(microseconds=us + off * 60000000)
            frac = at.microsecond
            f = r.choice(["", ".%06d" % frac, (".%06d" % frac).rstrip("0")]) if frac == 0 else \
                r.choice([".%06d" % frac, (".%06d" % frac).rstrip("0")])
            if len(f) == 1:
                f = ""
            if off == 0 and r.random() < 0.7:
                z = r.choice(["Z", "z", "+00:00"])
            else:
                z = "%s%02d:%02d" % ("-" if off < 0 else "+", abs(off) // 60, abs(off) % 60)
            t = "%04d-%02d-%02d%s%02d:%02d:%02d%s%s" % (at.year, at.month, at.day, r.choice(["T", "T", "t", " "]),
                                                      at.hour, at.minute, at.second, f, z)
        self.ts_expect[t] = us
        return t

    def seq_json_ts(self, r, i):
        """(JSON value for "sequence" on a table whose sequence column is timestamptz, valid?): RFC 3339
        strings; a number is refused whatever it is (22023), as are strings that are no timestamp"""
        p = r.random()
        if p < 1 - 0.15 * self.hr:
            v = self.seq_value(r, i)
            if ts_valid(v):
                return self.ts_text(r, v), True
        return r.choice([(None, False), (1, False), (Raw("1.0"), False), (Raw("1765101600000"), False),
                         (Raw("9223372036854775807"), False), (Raw("-0"), False), (Raw("1e2"), False),
                         ("2024-02-30T00:00:00Z", False), ("2024-01-01T00:00:00+16:00", False),
                         ("294277-01-01T00:00:00Z", False), ("yesterday-ish", False), ("", False),
                         ("2024-01-01T25:00:00Z", False), ("now", True), ("epoch", True), (True, False),
                         ([], False), ("2024-13-01T00:00:00Z", False), ("4714-11-23T23:59:59Z BC", False)])

    def ts_seq_arg(self, r, i):
        """The seq argument (bigint) for a timestamptz-sequenced table: mostly seq_value, sometimes an int64
        outside timestamptz's range (which must be refused: it is no timestamp)"""
        if self.bad(r, 0.08):
            return r.choice([TS_END, TS_MIN - 1, -(1 << 62), 1 << 62, INT64_MAX - 1, INT64_MIN + 1])
        return self.seq_value(r, i)

    def seq_json(self, r, i, ts=False):
        """(JSON value for "sequence", valid?)"""
        if ts:
            return self.seq_json_ts(r, i)
        p = r.random()
        if p < 1 - 0.15 * self.hr:
            v = self.seq_value(r, i)
            if r.random() < 0.1:
                return Raw("%d.000" % v if v >= 0 else str(v)), True
            return v, True
        return r.choice([(None, False), ("5", False), (Raw("1.5"), False), (Raw("9223372036854775808"), False),
                         (Raw("-9223372036854775809"), False), (Raw("1e2"), True), (Raw("1e19"), False),
                         (Raw("1e1000"), False), (Raw("-0"), True), (True, False), ([1], False), ({}, False),
                         (Raw("9223372036854775807"), True), (Raw("-9223372036854775808"), True),
                         (Raw("0.5e1"), True), (Raw("1e-2"), False)])

    def nrecords(self, r):
        p = r.random()
        if p < 0.6:
            return r.randint(1, 4)
        if p < 0.93:
            return r.randint(5, 30)
        if p < 0.993:
            return r.randint(31, 200)
        return r.randint(1000, 3000)

    def bad_shape(self, r):
        return r.choice([None, Raw("null"), Raw("1"), Raw('"str"'), Raw("true"), [], Obj(), [[Obj()]], [1, 2],
                         [None], Raw("[{}, 3]"), Raw("[[]]"), Raw('{"a":1'), Raw("[{\"id\": 1},]"),
                         Raw("{\"id\": 1} {\"id\": 2}"), Raw(""), Raw("[" * 5000 + "]" * 5000)])

    # -- inputs ----------------------------------------------------------------
    def make(self, i):
        # consumer inputs come from a stream of their own, so that every other input is the one the
        # same seed gave before consumers were fuzzed
        rc = random.Random("%s:%d:consumer" % (self.seed, i))
        if rc.random() < CONSUMER_SHARE:
            return self.make_consumer(rc, Input(i))
        r = random.Random("%s:%d" % (self.seed, i))
        inp = Input(i)
        self.huge_left = 1 if r.random() < self.huge_rate else 0
        p = r.random()
        inp.txn = r.random() < 0.25
        q = r.random()
        inp.mode = "clean" if q < 0.35 else ("single" if q < 0.75 else "chaos")
        self.hr = 1.0 if inp.mode == "chaos" else 0.0
        inp.role = "fz_user" if r.random() < 0.3 else None
        self.ts_expect = {}
        if p < 0.055:
            self.make_delete_missing(r, inp, False)
        elif p < 0.07:
            self.make_delete_missing(r, inp, True)
        elif p < 0.08:
            self.make_register(r, inp)
        else:
            p = (p - 0.08) / 0.92      # the earlier mix, in the earlier proportions
            if p < 0.27:
                self.make_upsert3(r, inp)
            elif p < 0.55:
                self.make_upsert2(r, inp)
            elif p < 0.70:
                self.make_delete3(r, inp)
            elif p < 0.82:
                self.make_import(r, inp)
            else:
                self.make_staging(r, inp)
        inp.ts_expect = self.ts_expect
        return inp

    # -- sequenced_delete_missing / sequenced_delete_missing_count ---------------------
    def scope_value(self, r, table, col):
        meta = TABLES[table]
        if col in meta["keys"]:
            return self.key_values(r, table)[col]
        return self.safe_value(r, meta["cols"][col])

    def make_scope(self, r, inp, hostile):
        """(scope JSON value or None for no scope, hostile?, shape ok?)"""
        table = inp.table if inp.table in TABLES else "fz_all"
        meta = TABLES[table]
        cols = [c for c in meta["keys"] + list(meta["cols"]) if c != "c_json"]     # json: no equality operator
        if not hostile:
            p = r.random()
            if p < 0.3:
                return None, False, True
            if p < 0.38:
                return Obj(), False, True
            o = Obj()
            for c in r.sample(cols, min(len(cols), r.choice([1, 1, 1, 2, 3]))):
                o.set(c, None if r.random() < 0.1 else self.scope_value(r, table, c))
            return o, False, True
        q = r.random()
        if q < 0.25:
            return r.choice([[], [Obj([("id", 1)])], "id", 1, True, Raw("null"), Raw("1.5"), [None]]), True, False
        o = Obj()
        if q < 0.45:
            o.set(r.choice(PROP_NAMES), self.rand_json(r) if r.random() < 0.5 else 1)
        elif q < 0.7:
            o.set(r.choice(cols), self.hostile_value(r))
        elif q < 0.8:
            o.set(r.choice([meta.get("seqcol", "_sdc_sequence"), "_sdc_deleted_at", "_sdc_extra", "_sdc_valid_from",
                            "updated_at", "c_json"]), r.choice([1, None, "x"]))
        elif q < 0.9:
            c = r.choice(cols)
            o.set(c, self.hostile_value(r))
            o.set(c, self.scope_value(r, table, c))     # a duplicate key: jsonb keeps the last (valid) one
        else:
            o.set(r.choice(cols), self.scope_value(r, table, r.choice(cols)))    # another column's value
        if r.random() < 0.3:
            c = r.choice(cols)
            o.set(c, self.scope_value(r, table, c))
        if r.random() < 0.3:
            r.shuffle(o.items)
        return o, True, True

    def make_delete_missing(self, r, inp, count_only):
        inp.op = "dm_count" if count_only else "delete_missing"
        inp.table = self.pick_table(r, keyed=r.random() < 0.93)
        ts = TABLES.get(inp.table, {}).get("ts", False)
        p = r.random()
        if p < 0.02:
            inp.seq = None
        elif ts:
            inp.seq = self.ts_seq_arg(r, inp.i)
        elif p < 0.6:
            inp.seq = self.seq_value(r, inp.i)
        elif p < 0.9:
            inp.seq = inp.i * 4 - r.randint(0, 4000)
        else:
            inp.seq = r.choice([INT64_MIN, INT64_MAX, 0, -1])
        hostile = inp.mode == "single" or (inp.mode == "chaos" and r.random() < 0.4)
        scope, h, shape_ok = self.make_scope(r, inp, hostile)
        inp.scope_given = scope is not None or r.random() < 0.5      # else: no scope argument at all
        inp.json = None if scope is None else to_json(scope, ascii_only=r.random() < 0.3)
        inp.scope_obj = scope if isinstance(scope, Obj) and not h else None
        inp.nrec = 1 if isinstance(scope, Obj) else 0     # the scope is converted as a record is: "record 1"
        inp.shape_bad = not shape_ok
        if h:
            inp.hostile = {1}
        if not count_only:
            q = r.random()
            inp.mf_given = q > 0.2
            inp.max_fraction = 0.1
            if inp.mf_given:
                if inp.mode == "chaos" and r.random() < 0.1:
                    inp.max_fraction = r.choice([-1.0, float("nan"), float("-inf"), -1e-9])
                else:
                    inp.max_fraction = r.choice([None, None, 0.0, 0.05, 0.1, 0.5, 1.0, 1.0, 2.0, float("inf"),
                                                 1e308])

    # -- sequenced_register with the options of 0.2 (fz_opts) --------------------------
    REG_OPTS = {"on_equal": ["keep", "replace", "error"], "unchanged": ["write", "skip"],
                "unknown_properties": ["error", "ignore", "column"], "omitted": ["default", "keep"]}

    def make_register(self, r, inp):
        inp.op = "register"
        inp.table = "fz_opts" if not self.bad(r, 0.1) else NO_TABLE
        if r.random() < 0.8:
            inp.role = None     # (fz_user does not own fz_opts: 42501)
        args = [("history", True)]      # always on (a table that gets it back refills nothing: see README)
        for name, vals in self.REG_OPTS.items():
            if r.random() < 0.7:
                args.append((name, r.choice(vals)))
        if r.random() < 0.2:
            args.append(("key_columns", ["id"]))
        if r.random() < 0.2:
            args.append(("sequence_column", "_sdc_sequence"))
        if r.random() < 0.1:
            args.append(("ordering", "per_key"))
        if inp.mode != "clean" and (inp.mode == "single" or r.random() < 0.5):
            # one option gets a value it does not take (NULL: 22004, others 22023); the sequence column
            # stays (another one would be a new column, and a key state rebuilt from it)
            k = r.choice([j for j, (name, _) in enumerate(args) if name != "sequence_column"])
            name = args[k][0]
            bad = None if name == "history" else r.choice([None, "skipp", "KEEP", "", " keep", "x" * 100,
                                                            "ignore;", "1", "\u00e9", "default\t"])
            if name in ("key_columns",):
                bad = r.choice([["nope"], ["id", "id"], ["a"]])
            args[k] = (name, bad)
            inp.shape_bad = True
        r.shuffle(args)
        inp.reg_args = args

    # -- consumers (SPEC section 8) ------------------------------------------------------
    def consumer_name(self, r, hostile):
        if hostile and r.random() < 0.6:
            return r.choice(BAD_CONSUMERS)
        if r.random() < 0.75:
            return r.choice([n for n, _, _, _, _ in SETUP_CONSUMERS])
        return r.choice(DYN_CONSUMERS[:6] * 3 + DYN_CONSUMERS[6:])

    def make_consumer(self, r, inp):
        """One call of a consumer function; what depends on the fuzzer's state (which ack_ids are in
        flight, where the feed stands) is a recipe here, resolved when the input runs."""
        p = r.random()
        hostile = r.random() < 0.2
        inp.mode = "chaos" if hostile else "clean"
        inp.txn = r.random() < 0.25
        inp.role = "fz_user" if r.random() < 0.2 else None
        if p < 0.42:
            inp.op = "c_receive"
            inp.c_name = self.consumer_name(r, hostile and r.random() < 0.4)
            q = r.random()
            inp.c_max_rows = r.randint(1, 10) if q < 0.6 else (r.randint(11, 200) if q < 0.9 else r.randint(201, 5000))
            inp.c_wait = r.choice(WAIT_OK)
            if hostile:
                if r.random() < 0.6:
                    inp.c_max_rows = r.choice(MAX_ROWS_BAD)
                else:
                    inp.c_wait = r.choice(INTERVALS_NEG + [None])
        elif p < 0.72:
            inp.op = "c_ack" if p < 0.62 else "c_nack"
            inp.c_name = self.consumer_name(r, hostile and r.random() < 0.3)
            inp.c_busy = r.random() < 0.6
            q = r.random()
            if not hostile:
                # (acknowledging all at once empties the consumer: keep some in flight for the nacks)
                inp.c_ids = ("all",) if q < (0.3 if inp.op == "c_ack" else 0.45) else ("mix", ["fly"] * r.randint(1, 3))
            elif q < 0.1:
                inp.c_ids = ("null",)
            elif q < 0.2:
                inp.c_ids = ("empty",)
            else:
                kinds = [r.choice(ACK_KINDS_BAD) for _ in range(r.randint(1, 4))] + ["fly"] * r.randint(0, 3)
                r.shuffle(kinds)
                inp.c_ids = ("mix", kinds)
            inp.c_retry = r.choice(["0", "0", "0 seconds", "00:00:00"])
            if inp.op == "c_nack" and hostile and r.random() < 0.4:
                inp.c_retry = r.choice(INTERVALS_NEG + [None])
        elif p < 0.80:
            inp.op = "c_rewind"
            inp.c_name = self.consumer_name(r, hostile and r.random() < 0.4)
            q = r.random()
            inp.c_after = ("zero",) if q < 0.3 else ("mid",) if q < 0.7 else ("acked",) if q < 0.85 else ("max",)
            if hostile:
                inp.c_after = ("value", r.choice([-1, None, INT64_MIN, INT64_MAX, -r.randint(2, 1 << 40)]))
            elif r.random() < 0.1:
                inp.c_after = ("zero",) if r.random() < 0.5 else ("value", 0)
        elif p < 0.91:
            inp.op = "c_create"
            hostile = r.random() < 0.35
            inp.mode = "chaos" if hostile else "clean"
            q = r.random()
            inp.c_name = r.choice(DYN_CONSUMERS[:6] * 4 + DYN_CONSUMERS[6:]) if q < 0.85 else \
                r.choice([n for n, _, _, _, _ in SETUP_CONSUMERS])      # taken: 42710
            inp.table = r.choice(CONSUMER_TARGETS)
            inp.c_start = r.choice(["beginning", "beginning", "end"])
            inp.c_vt = r.choice(VT_OK)
            if hostile:
                q = r.random()
                if q < 0.25:
                    inp.c_name = r.choice([None, "", "n" * 5000, LONG_CONSUMER])
                elif q < 0.45:
                    inp.table = r.choice([NO_TABLE, "fz_stg_txt", None])
                elif q < 0.7:
                    inp.c_start = r.choice([None, "", "Beginning", "END", " end", "middle", "beginning\n", "0"])
                elif q < 0.85:
                    inp.c_vt = r.choice([(t, None) for t in INTERVALS_NEG] + [(None, None)])
                else:
                    inp.c_vt = VT_HUGE
        else:
            inp.op = "c_drop"
            q = r.random()
            if q < 0.7:
                inp.c_name = r.choice(DYN_CONSUMERS)
            elif q < 0.85 or not hostile:
                # a setup consumer the superuser made, dropped by fz_user: 42501 (it stays)
                inp.c_name = r.choice([n for n, _, c, _, _ in SETUP_CONSUMERS if c is None])
                inp.role = "fz_user"
            else:
                inp.c_name = r.choice(BAD_CONSUMERS)
            if inp.role is None and inp.c_name in SETUP_CREATOR:
                inp.role = "fz_user"
        if inp.op != "c_create":
            inp.table = None
        return inp

    def pick_table(self, r, keyed=False):
        names = ["fz_all", "fz_all", "fz_all", "fz_comp", "fz_num", "fz_uk", "fz_app", "fz_gen",
                 "fz_skip", "fz_skip", "fz_hist", "fz_ts", "fz_opts"]
        if keyed:
            names = [n for n in names if TABLES[n]["keys"]]
        if self.bad(r, 0.004):
            return NO_TABLE     # the OID of no table (a dropped one, say)
        return r.choice(names)

    def build(self, r, inp, n, one):
        """n items from one(k) -> (item, hostile?), at the input's hostility mode:
        clean (no injected hostility), single (one hostile item), chaos."""
        mode = inp.mode
        self.hr = 1.0 if mode == "chaos" else 0.0
        items = []
        for k in range(n):
            it, h = one(k)
            items.append(it)
            if h:
                inp.hostile.add(k + 1)
        if mode == "single" and n:
            k = r.randrange(n)
            self.hr = 4.0
            for _ in range(20):
                it, h = one(k)
                if h:
                    break
            items[k] = it
            inp.hostile.discard(k + 1)
            if h:
                inp.hostile.add(k + 1)
        self.hr = 1.0 if mode == "chaos" else 0.0
        return items

    def records_input(self, r, inp, keys_only=False):
        return self.build(r, inp, self.nrecords(r), lambda k: self.record(r, inp.table, keys_only))

    def seq_arg(self, r, inp):
        if TABLES.get(inp.table, {}).get("ts"):
            return self.ts_seq_arg(r, inp.i) if r.random() > 0.02 else None
        return self.seq_value(r, inp.i) if r.random() > 0.02 else None

    def make_upsert3(self, r, inp):
        inp.op = "upsert3"
        inp.table = self.pick_table(r)
        inp.seq = self.seq_arg(r, inp)
        if self.bad(r, 0.07):
            inp.shape_bad = True
            v = self.bad_shape(r)
        elif r.random() < 0.3:
            v = self.build(r, inp, 1, lambda k: self.record(r, inp.table))[0]
            h = False
            inp.nrec = 1
            if h:
                inp.hostile.add(1)
        else:
            v = self.records_input(r, inp)
            if self.bad(r, 0.05) and v:
                v.insert(r.randrange(len(v) + 1), self.rand_json(r))   # a non-object element
                inp.hostile = set(range(1, len(v) + 1))
            inp.nrec = len(v)
        inp.json = None if v is None else to_json(v, ascii_only=r.random() < 0.3)

    def make_delete3(self, r, inp):
        inp.op = "delete3"
        inp.table = self.pick_table(r, keyed=r.random() < 0.95)
        inp.seq = self.seq_arg(r, inp)
        if self.bad(r, 0.07):
            inp.shape_bad = True
            v = self.bad_shape(r)
        elif r.random() < 0.3:
            v = self.build(r, inp, 1, lambda k: self.record(r, inp.table, keys_only=True))[0]
            h = False
            inp.nrec = 1
            if h:
                inp.hostile.add(1)
        else:
            v = self.records_input(r, inp, keys_only=True)
            inp.nrec = len(v)
        inp.json = None if v is None else to_json(v, ascii_only=r.random() < 0.3)

    def message(self, r, inp, k):
        m = Obj()
        hostile = False
        p = r.random()
        if p < 0.25:
            action = "delete"
        elif p < 0.6:
            action = "upsert"
        elif p < 1 - 0.05 * self.hr:
            action = None
        else:
            action = r.choice(["UPSERT", "Delete", "insert", "", 7, None, ["upsert"], {"a": 1}])
            hostile = True
        if action is not None:
            m.set("action", action)
        elif r.random() < 0.2:
            m.set("action", None)
        ts = TABLES.get(inp.table, {}).get("ts", False)
        sq, ok = self.seq_json(r, inp.i, ts)
        if not ok:
            hostile = True
        if sq is not None or r.random() < 0.5:
            m.set("sequence", sq)
        else:
            hostile = True
        q = r.random()
        if q < 0.04 * self.hr:
            hostile = True
            if r.random() < 0.5:
                m.set("data", self.rand_json(r))
        else:
            o, h = self.record(r, inp.table, keys_only=(action == "delete" and r.random() < 0.7))
            hostile = hostile or h
            m.set("data", o)
        if r.random() < 0.05:
            m.set(r.choice(["extra", "Action", "seq", "DATA"]), self.rand_json(r))
        if self.bad(r, 0.02):
            m.set("sequence", self.seq_json(r, inp.i, ts)[0])   # duplicate "sequence": the last one counts
            hostile = True
        if action == "delete" and not TABLES.get(inp.table, TABLES["fz_all"])["keys"]:
            if self.hr == 0:
                m.items = [(k, v) for k, v in m.items if k != "action"]
            else:
                hostile = True
        if r.random() < 0.2:
            r.shuffle(m.items)
        return m, hostile

    def make_upsert2(self, r, inp):
        inp.op = "upsert2"
        inp.table = self.pick_table(r)
        if self.bad(r, 0.07):
            inp.shape_bad = True
            v = r.choice([self.bad_shape(r), Obj([("sequence", 1), ("data", {"id": 1})])])
        else:
            v = self.build(r, inp, self.nrecords(r), lambda k: self.message(r, inp, k))
            if self.bad(r, 0.04) and v:
                v.insert(r.randrange(len(v) + 1), self.rand_json(r))
                inp.hostile = set(range(1, len(v) + 1))
            inp.nrec = len(v)
            # each message's "sequence" as jsonb keeps it (the last of duplicates; MISSING: none)
            inp.msg_seqs = [m.get("sequence", MISSING) if isinstance(m, Obj) else MISSING for m in v]
        inp.json = None if v is None else to_json(v, ascii_only=r.random() < 0.3)

    def make_import(self, r, inp):
        inp.op = "import"
        tn = r.choice(IMPORT_TABLES) if not self.bad(r, 0.3) else r.choice(IMPORT_BAD_TABLES)
        if "%d" in tn:
            tn = tn % r.randint(0, 30)
        inp.table = tn
        # fz_user owns the imp_new_* tables it creates; the others belong to the superuser
        inp.role = "fz_user" if tn.startswith("imp_new") else None
        body = Obj()
        hostile_body = False
        props = Obj(list(IMPORT_BASE.items))
        if self.bad(r, 0.15):
            hostile_body = True
            for _ in range(r.randint(1, 3)):
                if not isinstance(props, Obj):
                    break
                q = r.random()
                if q < 0.3:
                    props.set(r.choice(PROP_NAMES[:30]), {"type": r.choice(["string", ["null", "integer"], "object"])})
                elif q < 0.5:
                    name = r.choice([n for n, _ in IMPORT_BASE.items])
                    props.set(name, {"type": r.choice(["integer", "number", "string", "boolean", "array", "object",
                                                       "foo", ["null"], ["string", "integer"], None, 5])})
                elif q < 0.7:
                    props.set("x%d" % r.randint(0, 3), r.choice([{}, {"type": "string", "format": "date-time"},
                                                                  "string", None, {"type": ["null", "number"]}]))
                else:
                    props = r.choice([Obj(), self.rand_json(r), props])
        if not self.bad(r, 0.03):
            v = tn if not self.bad(r, 0.05) else self.rand_json(r)
            body.set("table_name", v)
            inp.table = v if isinstance(v, str) and v and Gen.json_ok(v) else NO_IMPORT_TABLE
        else:
            inp.table = NO_IMPORT_TABLE
        append_only = False
        p = r.random()
        if p < 0.9:
            body.set("key_names", ["id"])
        elif p < 0.95:
            body.set("key_names", [])
            append_only = True
        elif self.hr > 0:
            body.set("key_names", r.choice([["id", "id"], ["nope"], "id", None, [1], ["id", "name"]]))
            hostile_body = True
        body.set("schema", {"properties": props} if not self.bad(r, 0.03) else self.rand_json(r))
        n = self.nrecords(r) if not self.bad(r, 0.01) else r.choice([0, 20001])
        msgs = []
        if n > 20000:   # over the limit: cheap messages
            msgs = [Raw('{"sequence": %d, "data": {"id": %d}}' % (k, k % 30 + 1)) for k in range(n)]
            n = 0

        def one(k):
            m = Obj()
            h = False
            if r.random() < 0.1:
                m.set("action", r.choice(["upsert", "delete", None] + (["nope"] if self.hr else [])))
                h = m.get("action") == "nope" or (m.get("action") == "delete" and append_only)
            sq, ok = self.seq_json(r, inp.i)
            m.set("sequence", sq)
            h = h or not ok
            d = Obj()
            if not self.bad(r, 0.03):
                if not self.bad(r, 0.05):
                    d.set("id", r.randint(1, 30))
                else:
                    d.set("id", self.hostile_key_value(r, "imp"))
                    h = True
            else:
                h = True
            for name, _ in IMPORT_BASE.items[1:]:
                if r.random() < 0.5:
                    if self.bad(r, 0.1):
                        d.set(name, self.rand_json(r))
                        h = True
                    else:
                        d.set(name, self.safe_value(r, IMPORT_KINDS[name]))
            if self.bad(r, 0.03):
                d.set(r.choice(PROP_NAMES), 1)
                h = True
            if self.bad(r, 0.02):
                m.set("data", self.rand_json(r))
                h = True
            else:
                m.set("data", d)
            return m, h
        msgs += self.build(r, inp, n, one)
        if self.bad(r, 0.02):
            body.set("messages", self.rand_json(r))
            msgs = []
            inp.shape_bad = True
        else:
            body.set("messages", msgs)
        if r.random() < 0.3:
            r.shuffle(body.items)
        inp.nrec = len(msgs)
        if len(msgs) > 20000:
            inp.shape_bad = True
        if hostile_body:
            inp.hostile = set(range(1, n + 1))
        inp.json = to_json(body, ascii_only=r.random() < 0.3) if not self.bad(r, 0.01) else None

    def stg_text(self, r, v):
        """A staging text value: no NUL, no surrogates (they cannot be sent as text)."""
        if v is None:
            return None
        if isinstance(v, str):
            s = v
        else:
            s = to_json(v)
            if isinstance(v, list) and r.random() < 0.5:
                s = "{" + s[1:-1] + "}"
        s = s.replace("\x00", "")
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")

    def make_staging(self, r, inp):
        inp.op = "staging"
        kind = r.choice(["txt", "txt", "typed", "row", "comp", "skip", "ts", "ts_txt"] + (["ts_num"] if r.random() < 0.3
                                                                                       else []))
        n = self.nrecords(r) if r.random() > 0.05 else 0
        if n > 400:
            n = r.randint(1, 400)
        if kind in ("txt", "row"):
            inp.staging = "fz_stg_txt" if kind == "txt" else "fz_stg_row"
            inp.table = "fz_all"
            inp.row_level = kind == "row"
            allcols = (["id", "c_int", "c_text", "c_vc", "c_bool", "c_ts", "c_date", "c_uuid", "c_jsonb", "c_json",
                        "c_tarr", "c_iarr", "c_enum", "c_dom", "c_num52", "c_nn"] if kind == "txt"
                       else ["id", "c_text", "c_num"])
            cols = ["id"] + r.sample(allcols[1:], r.randint(0, len(allcols) - 1))
            if kind == "txt" and "c_nn" not in cols and r.random() < 0.8:
                cols.append("c_nn")     # a staging column left out is NULL, and c_nn is NOT NULL
            cols += ["_sdc_sequence"] + (["_sdc_deleted"] if r.random() < 0.6 else [])

            def one(k):
                row = []
                h = False
                for c in cols:
                    if c == "_sdc_deleted":
                        row.append(r.choice([None, True, False, False]))
                    elif c == "_sdc_sequence":
                        if not self.bad(r, 0.1):
                            sv = self.seq_value(r, inp.i)
                            row.append(str(sv) if kind == "txt" else sv)
                        else:
                            h = True
                            row.append(None if kind == "row" else
                                       r.choice([None, "", "abc", "1.5", "9223372036854775808", " 5", "1e3"]))
                    elif c == "id":
                        if not self.bad(r, 0.1):
                            row.append(str(r.randint(-3, 40)))
                        else:
                            h = True
                            row.append(r.choice([None, "", "1.5", "abc", "2147483648"]))
                    else:
                        kindc = ALL_COLS.get(c, "text" if c != "c_num" else "numeric")
                        if self.bad(r, 0.1):
                            h = True
                            row.append(self.stg_text(r, self.hostile_value(r)))
                            continue
                        sv = self.safe_value(r, kindc)
                        if c in ("c_jsonb", "c_json"):
                            row.append(None if sv is None else self.stg_text(r, Raw(to_json(sv))))
                            continue
                        if isinstance(sv, (Raw, list, dict, Obj)):
                            h = True    # JSON forms need not be valid input text of the type
                        if isinstance(sv, bool):
                            row.append(str(sv).lower())
                        else:
                            row.append(self.stg_text(r, sv.t if isinstance(sv, Raw) else sv))
                if kind == "txt" and ("c_nn" not in cols or row[cols.index("c_nn")] is None):
                    h = True
                return row, h
        elif kind == "typed":
            inp.staging = "fz_stg_typed"
            inp.table = "fz_all"
            cols = ["id", "c_int", "c_text", "c_bool", "c_enum", "c_dom", "c_nn", "_sdc_sequence", "_sdc_deleted"]

            def one(k):
                idv = r.randint(-3, 40) if not self.bad(r, 0.07) else None
                sq = self.seq_value(r, inp.i) if not self.bad(r, 0.05) else None
                nn = r.randint(0, 9) if not self.bad(r, 0.1) else None
                h = idv is None or sq is None or nn is None
                return [idv, r.choice([None, 1, -5]), r.choice([None, "t", "\u00e9"]), r.choice([None, True]),
                        r.choice([None] + ENUM_LABELS), r.choice([None, 1, 99]), nn, sq,
                        r.choice([None, True, False, False])], h
        elif kind == "skip":
            # typed columns into fz_skip (unchanged => 'skip', history): small pools, so many rows hold
            # the stored values again
            inp.staging = "fz_stg_skip"
            inp.table = "fz_skip"
            cols = ["id", "a", "n", "j", "arr", "vol", "_sdc_sequence", "_sdc_deleted"]
            r.shuffle(cols)
            cols = [c for c in cols if c in ("id", "_sdc_sequence") or r.random() < 0.85]

            def one(k):
                row = []
                h = False
                for c in cols:
                    if c == "id":
                        v = r.randint(1, 12) if not self.bad(r, 0.07) else None
                    elif c == "_sdc_sequence":
                        v = self.seq_value(r, inp.i) if not self.bad(r, 0.05) else None
                    elif c == "_sdc_deleted":
                        v = r.choice([None, False, False, True])
                    elif c == "a":
                        v = r.choice(["x", "y", None])
                    elif c == "n":
                        v = r.choice(["1", "1.0", "1.00", None, "NaN"])
                    elif c == "j":
                        v = r.choice(['{"a": 1}', '{"a": 1.0}', "[1, 2]", None])
                    elif c == "arr":
                        v = r.choice(["{1,2}", "{}", None])
                    else:
                        v = r.choice(["2024-01-01T00:00:00Z", "2024-01-01 01:00:00+01", None])
                    if v is None and c in ("id", "_sdc_sequence"):
                        h = True    # (typed columns: a value their type refuses would fail the INSERT itself)
                    row.append(v)
                return row, h
        elif kind in ("ts", "ts_txt", "ts_num"):
            # into fz_ts (a timestamptz sequence column, unknown_properties => 'ignore': zz is dropped);
            # a staging sequence column that is a number is refused (22023) whatever its rows
            inp.table = "fz_ts"
            inp.staging = {"ts": "fz_stg_ts", "ts_txt": "fz_stg_ts_txt", "ts_num": "fz_stg_ts_num"}[kind]
            inp.row_level = kind == "ts_txt"
            cols = {"ts": ["id", "v", "n", "zz", "updated_at", "_sdc_deleted"], "ts_txt": ["id", "v", "n", "updated_at"],
                    "ts_num": ["id", "v", "updated_at"]}[kind]
            if kind == "ts_num":
                n = max(n, 1)

            def one(k):
                h = kind == "ts_num"
                row = []
                for c in cols:
                    if c == "id":
                        v = r.randint(1, 12) if not self.bad(r, 0.07) else None
                        v = str(v) if kind == "ts_txt" and v is not None else v
                    elif c == "updated_at":
                        if kind == "ts_num":
                            v = self.seq_value(r, inp.i)
                        elif not self.bad(r, 0.1):
                            sv = self.seq_value(r, inp.i)
                            v = self.ts_text(r, sv) if ts_valid(sv) else "2024-01-01T00:00:00Z"
                        elif kind == "ts":
                            v = None        # (a timestamptz column: bad text would fail the INSERT itself)
                        else:
                            v = r.choice([None, "yesterday-ish", "2024-02-30T00:00:00Z", "1765101600000"])
                    elif c == "v":
                        v = r.choice(["x", "y", None])
                    elif c == "n":
                        v = r.choice([1, 2, None]) if kind != "ts_txt" or not self.bad(r, 0.05) else "two"
                        v = str(v) if kind == "ts_txt" and v is not None else v
                    elif c == "zz":
                        v = r.choice([None, "ignored"])
                    else:
                        v = r.choice([None, False, True])
                    if v is None and c in ("id", "updated_at") or v in ("two", "yesterday-ish", "2024-02-30T00:00:00Z",
                                                                         "1765101600000"):
                        h = True
                    row.append(v)
                return row, h
        else:
            inp.staging = "fz_stg_comp"
            inp.table = "fz_comp"
            cols = ['we"ird;name.x', "k.2", "Mixed Case", "payload", "_sdc_sequence", "_sdc_deleted"]

            def one(k):
                kt = r.choice(KEYS_COMP_TEXT) if not self.bad(r, 0.07) else None
                kb = str(r.choice(KEYS_COMP_BIG)) if not self.bad(r, 0.1) else \
                    r.choice([None, "x", "1.5", "9223372036854775808"])
                pl = r.choice([None, '{"a": 1}', "[]", "1", '"s"', "null"] + (["not json", "{"] if self.hr else []))
                sq = r.randint(-2147483648, 2147483647) if r.random() < 0.5 else min(inp.i * 4, 2147483647)
                sq = sq if not self.bad(r, 0.05) else None
                h = kt is None or kb in (None, "x", "1.5", "9223372036854775808") or \
                    pl in ("not json", "{") or sq is None
                return [self.stg_text(r, kt), kb, self.stg_text(r, r.choice(HOSTILE_STRINGS)), pl, sq,
                        r.choice([None, True, False])], h
        inp.stg_cols = cols
        inp.stg_rows = self.build(r, inp, n, one)
        inp.nrec = n
        inp.copy = (not inp.row_level) and r.random() < 0.3


# ---------------------------------------------------------------------------
# running and checking
# ---------------------------------------------------------------------------

POS_RE = re.compile(r"\b(?:record|message)s? (\d+)")
POS2_RE = re.compile(r"\brecords (\d+) and (\d+)")

# errors about the call as a whole (no single record is at fault): these
# need not name a position
WHOLE_CALL = [
    r"must not be null", r"^messages must be a JSON array", r"is not registered", r"^the batch",
    r"^schema property", r"is not a property of the schema", r"^\"key_names\"", r"^key_names of the batch",
    r"^property \".*\" of table .* is .* in the schema", r"is append-only: it takes no deletes",
    r"^schema \".*\" does not exist", r"zero-length delimited identifier", r"appears twice in primary key",
    r"^column \".*\" specified more than once", r"^column \".*\" of relation \".*\" already exists",
    r"^must be owner of", r"^permission denied for (?:schema|table)", r"^column \".*\" of table .* must be of type",
    r"^relation \".*\" already exists", r"^cannot register", r"^identifier .* will be truncated",
    r"key columns? .* (?:is|are) not covered", r"^column \".*\" named in key does not exist",
    r"^table .* has no unique index", r"^a key column .* cannot be null",
    r"^relation with OID \d+ does not exist", r"is not a table$", r"is not a valid identifier$",
    # sequenced_delete_missing(_count), sequenced_register's options, a staging sequence column of a type
    # the target's sequence column does not take
    r"^sequenced_delete_missing would delete too large a part of table", r"^max_fraction must be ",
    r"is append-only: it has no keys to delete", r"^scope must be a JSON object", r"^scope names ",
    r"^invalid value for (?:on_equal|unchanged|unknown_properties|omitted|deletes|ordering): ",
    r"^the sequence column of the staging table is ", r"named twice in key_columns", r"^key column .* named twice",
    r"^key column \".*\" does not exist in table ", r"^no unique index of table .* covers exactly the key columns",
    # the seq argument of a timestamptz-ordered table that is no timestamp
    r"^the sequence -?\d+ is no timestamp$",
    # the consumer functions (SPEC section 8): unknown consumer, name taken, rights, bad arguments
    r'^consumer "[\s\S]*" (?:does not exist|already exists|was dropped)$', r'^permission denied for consumer "[\s\S]*"$',
    r"^a consumer's name must not be empty$", r'^invalid start "[\s\S]*"$', r"^max_rows must be at least 1$",
    r"^(?:wait_for|visibility_timeout|retry_after|after) must not be negative$",
    r"^(?:wait_for|visibility_timeout|retry_after) must be at most 1000 years$",
    r"^a consumer's name must be at most \d+ bytes long$",
]
WHOLE_CALL_RE = [re.compile(p) for p in WHOLE_CALL]


class Violation(Exception):
    pass


class RegInfo(collections.namedtuple("RegInfo", "stateoid state relid log keys seqcol soft on_equal per_table "
                                                "relkind unchanged qualname rowtype seqtype history histrel "
                                                "unknown omitted")):
    """A registered table, from _sequenced.config: its key state S (state), change log L (log), its
    history table (histrel, when history is on), ..."""

    @property
    def skip(self):
        return self.unchanged == "skip"

    @property
    def loose(self):
        """The key's sequence may be ahead of its row's: under unchanged => 'skip' (an unchanged message
        moves the key on, not the row), and on a table that was registered so once (the key state rows
        it left behind keep their sequences when the table goes back to 'write')."""
        if self.skip:
            EVER_SKIP.add(self.relid)
        return self.skip or self.relid in EVER_SKIP

    @property
    def ts(self):
        """The sequence column is timestamptz (sequences: its int64, README "Timestamps as sequences")."""
        return self.seqtype == "timestamp with time zone"

    def seq(self, alias):
        """The sequence column of alias as the bigint the functions show."""
        col = S.SQL("{}.{}").format(S.SQL(alias), S.Identifier(self.seqcol))
        return S.SQL("fz_seq({})").format(col) if self.ts else col

    @property
    def sparse(self):
        """S holds only what the rows cannot say (tombstones, ties, statement-path keys): a plain table
        with unchanged => 'write'; a partitioned table, or unchanged => 'skip', has an S row per key."""
        return self.relkind == "r" and self.unchanged != "skip"

    @property
    def rows(self):
        """The table's own rows, in FROM (a partitioned table: all its partitions')."""
        return ("ONLY " if self.relkind == "r" else "") + self.qualname


class Cons:
    """The fuzzer's model of one consumer: what it handed out and what became of it."""

    def __init__(self, name, target, creator, start, vt_seconds, keyed):
        self.name = name
        self.target = target            # a fuzz table name
        self.creator = creator          # "fz_user", or None: the superuser
        self.start = start
        self.vt = vt_seconds
        self.vt_text = None         # the visibility_timeout as created (when the fuzzer made it)
        self.keyed = keyed
        # nothing expires during a run: the fuzzer knows what is in flight
        self.tracked = vt_seconds is not None and vt_seconds >= 3600
        self.alive = {}         # ack_id -> ident: handed out, neither acknowledged, nacked, handed out again
                                # (expired ones of an untracked consumer), nor dropped by a rewind
        self.flying = {}        # ident -> its alive ack_id
        self.count = {}         # ident -> deliveries since its last acknowledgement (or the last rewind)
        self.since = {}         # ident -> (pos, seq, deleted, record) of its last delivery since the baseline
        self.baseline = 0       # acked_through after the last drain, or the last rewind's after
        self.pos = {}           # ack_id (alive) -> the position it was handed out at
        self.acked_pos = {}     # ident -> the position of its last acknowledged delivery (since the last rewind)
        self.settled = collections.deque(maxlen=300)     # ack_ids acknowledged
        self.dead = collections.deque(maxlen=300)        # ack_ids nacked, superseded, or dropped by a rewind

    def forget(self, ack_id, dead):
        ident = self.alive.pop(ack_id)
        pos = self.pos.pop(ack_id, None)
        if self.flying.get(ident) == ack_id:
            del self.flying[ident]
        (self.dead if dead else self.settled).append(ack_id)
        if not dead:
            self.count.pop(ident, None)
            if pos is not None:
                self.acked_pos[ident] = max(pos, self.acked_pos.get(ident, pos))


def consumer_sql(op, v):
    """(query, parameters) of a consumer input whose values are resolved (v: Fuzzer.resolve_consumer)."""
    if op == "c_receive":
        return ("SELECT ack_id, pos, seq, key::text, deleted, record::text, deliveries "
                "FROM sequenced_receive(%s, %s::int4, %s::interval)", [v["name"], v["max_rows"], v["wait"]])
    if op == "c_ack":
        return "SELECT sequenced_ack(%s, %s::bigint[])", [v["name"], v["ids"]]
    if op == "c_nack":
        return "SELECT sequenced_nack(%s, %s::bigint[], %s::interval)", [v["name"], v["ids"], v["retry"]]
    if op == "c_rewind":
        return "SELECT sequenced_consumer_rewind(%s, %s::bigint)", [v["name"], v["after"]]
    if op == "c_create":
        return ("SELECT sequenced_consumer_create(%s, %s::regclass, %s, %s::interval)",
                [v["name"], v["target"], v["start"], v["vt"]])
    if op == "c_drop":
        return "SELECT sequenced_consumer_drop(%s)", [v["name"]]
    raise ValueError(op)


def render_consumer(inp):
    """A consumer input as SQL: its values as resolved when it ran, or (--show) its recipe."""
    v = inp.cv
    if v is None:
        v = dict(name=inp.c_name, max_rows=inp.c_max_rows, wait=inp.c_wait, retry=inp.c_retry,
                 ids="/* ack_ids: %r */ NULL" % (inp.c_ids,), after="/* after: %r */ NULL" % (inp.c_after,),
                 target=quote_table(inp.table) if inp.table else None, start=inp.c_start,
                 vt=inp.c_vt[0] if inp.c_vt else None)
    if inp.op == "drain":
        return ("-- drain consumer %s (as the superuser): until it returns nothing,\n"
                "--   SELECT * FROM sequenced_receive(%s, 10000, '0'); SELECT sequenced_ack(%s, <its ack_ids>);\n"
                "-- then compare with sequenced_changes(%s, <acked_through at the previous drain>) and the view\n"
                "SELECT * FROM sequenced_consumers WHERE consumer = %s;\n" %
                (sql_literal(inp.c_name), sql_literal(inp.c_name), sql_literal(inp.c_name),
                 sql_literal(quote_table(inp.table)), sql_literal(inp.c_name)))

    def lit(x, cast=""):
        if x is None:
            return "NULL" + cast
        if isinstance(x, str) and x.startswith("/*"):
            return x
        if isinstance(x, list):
            return sql_literal("{" + ",".join("NULL" if e is None else str(e) for e in x) + "}") + cast
        if isinstance(x, int):
            return str(x) + cast
        return sql_literal(x) + cast

    n = lit(v["name"])
    if inp.op == "c_receive":
        call = "SELECT * FROM sequenced_receive(%s, %s, %s);" % (n, lit(v["max_rows"], "::int4"),
                                                                 lit(v["wait"], "::interval"))
    elif inp.op == "c_ack":
        call = "SELECT sequenced_ack(%s, %s);" % (n, lit(v["ids"], "::bigint[]"))
    elif inp.op == "c_nack":
        call = "SELECT sequenced_nack(%s, %s, %s);" % (n, lit(v["ids"], "::bigint[]"), lit(v["retry"], "::interval"))
    elif inp.op == "c_rewind":
        call = "SELECT sequenced_consumer_rewind(%s, %s);" % (n, lit(v["after"], "::bigint"))
    elif inp.op == "c_create":
        call = "SELECT sequenced_consumer_create(%s, %s, %s, %s);" % (n, lit(v["target"], "::regclass"),
                                                                       lit(v["start"]), lit(v["vt"], "::interval"))
    else:
        call = "SELECT sequenced_consumer_drop(%s);" % n
    if inp.txn:
        call = "BEGIN;\n" + call + "\nCOMMIT;"
    return call


class ConsumerFuzz:
    """The consumer inputs (SPEC section 8) and their checks: a mixin of Fuzzer."""

    TRACK_NOTE = "(the fuzzer's model of the consumer: %d deliveries in flight)"

    # -- setup -------------------------------------------------------------------------
    def setup_consumers(self):
        self.cons = {}
        self.ack_seen = set()       # every ack_id any receive handed out
        for name, table, creator, start, vt in SETUP_CONSUMERS:
            if creator:
                self.conn.execute(S.SQL("SET ROLE {}").format(S.Identifier(creator)))
            self.conn.execute("SELECT sequenced_consumer_create(%s, %s::regclass, %s, %s::interval)",
                              (name, table, start, vt))
            if creator:
                self.conn.execute("RESET ROLE")
            secs = self.conn.execute("SELECT extract(epoch FROM %s::interval)::float8", (vt,)).fetchone()[0]
            self.add_consumer(name, table, creator, start, secs).vt_text = vt

    def add_consumer(self, name, table, creator, start, secs):
        c = Cons(name, table, creator, start, secs, bool(TABLES[table]["keys"]))
        row = self.conn.execute("SELECT acked_through FROM _sequenced.consumers WHERE name = %s", (name,)).fetchone()
        c.baseline = row[0] if row else 0
        self.cons[name] = c
        return c

    # -- resolving an input against the state ---------------------------------------------
    def feed_bounds(self, table):
        """(min, max) position of the feed of a fuzz table now ((0, 0): empty)."""
        row = self.conn.execute("SELECT min(pos), max(pos) FROM sequenced_changes(%s::regclass, 0)",
                                (quote_table(table),)).fetchone()
        return (row[0] or 0, row[1] or 0)

    def resolve_ids(self, rr, cons, recipe):
        alive = sorted(cons.alive) if cons else []
        if recipe[0] == "null":
            return None
        if recipe[0] == "empty":
            return []
        if recipe[0] == "all":
            return alive
        out = []
        for kind in recipe[1]:
            if kind == "fly":
                out.append(rr.choice(alive) if alive else 10 ** 15 + rr.randint(0, 99))
            elif kind == "acked":
                out.append(rr.choice(list(cons.settled)) if cons and cons.settled else 10 ** 15 + rr.randint(0, 99))
            elif kind == "dead":
                out.append(rr.choice(list(cons.dead)) if cons and cons.dead else 10 ** 15 + rr.randint(0, 99))
            elif kind == "other":
                others = sorted(a for c in self.cons.values() if c is not cons for a in c.alive)
                out.append(rr.choice(others) if others else 10 ** 15 + rr.randint(0, 99))
            elif kind == "unknown":
                out.append(rr.choice([10 ** 15 + rr.randint(0, 99), max(self.ack_seen or {0}) + rr.randint(1, 1000)]))
            elif kind == "neg":
                out.append(rr.choice([-1, INT64_MIN, -rr.randint(2, 1 << 40)]))
            elif kind == "null":
                out.append(None)
            elif kind == "zero":
                out.append(0)
            elif kind == "max":
                out.append(INT64_MAX)
            elif kind == "dup":
                out.append(rr.choice(out) if out else (rr.choice(alive) if alive else 1))
        return out

    def resolve_consumer(self, inp):
        """inp.cv: the input's arguments, what its recipe names taken from the fuzzer's state now
        (a Random of its own: the same state gives the same values)."""
        rr = random.Random("%s:%d:resolve" % (self.args.seed, inp.i))
        name = inp.c_name
        if inp.c_busy:
            busy = sorted(n for n, c in self.cons.items() if c.alive)
            name = rr.choice(busy) if busy else name
        cons = self.cons.get(name)
        if cons is not None and inp.op != "c_create":
            inp.table = cons.target
        v = dict(name=name)
        if inp.op == "c_receive":
            v.update(max_rows=inp.c_max_rows, wait=inp.c_wait)
        elif inp.op in ("c_ack", "c_nack"):
            v.update(ids=self.resolve_ids(rr, cons, inp.c_ids), retry=inp.c_retry)
        elif inp.op == "c_rewind":
            kind = inp.c_after[0]
            if kind == "value":
                after = inp.c_after[1]
            elif kind == "zero" or cons is None:
                after = 0
            elif kind == "acked":
                after = cons.baseline
            else:
                lo, hi = self.feed_bounds(cons.target)
                after = hi if kind == "max" else rr.randint(max(lo - 1, 0), max(hi, 0))
            v.update(after=after)
        elif inp.op == "c_create":
            v.update(target=None if inp.table is None else quote_table(inp.table), start=inp.c_start, vt=inp.c_vt[0])
        inp.cv = v
        return v

    def consumer_expect(self, inp):
        """The SQLSTATEs the call may fail with (SPEC section 8, README "Consumers"): empty when it must
        succeed.  Several problems at once: any of theirs."""
        v = inp.cv
        e = set()
        name = v["name"]
        if name is None:
            e.add("22004")
        cons = self.cons.get(name) if name is not None else None
        if inp.op == "c_create":
            if v["target"] is None or v["start"] is None or v["vt"] is None:
                e.add("22004")
            if name == "":
                e.add("22023")
            if v["start"] is not None and v["start"] not in ("beginning", "end"):
                e.add("22023")
            if v["vt"] is not None and inp.c_vt[1] is None:
                e.add("22023")      # negative
            if inp.c_vt is not None and inp.c_vt[1] is not None and inp.c_vt[1] > 1000 * 366 * 86400:
                e.add("22023")      # over 1000 years (README "Consumers": an expiry must stay a timestamp)
            if name is not None and len(name.encode()) > 1000:
                e.add("22023")      # names: at most 1,000 bytes
            if inp.table == NO_TABLE:
                e.add("42P01")
            elif inp.table is not None and inp.table not in TABLES:
                e.add("55000")      # not registered
            if cons is not None:
                e.add("42710")
            return e
        if inp.op == "c_receive":
            if v["max_rows"] is None or v["wait"] is None:
                e.add("22004")
            if v["max_rows"] is not None and v["max_rows"] < 1:
                e.add("22023")
            if v["wait"] in INTERVALS_NEG:
                e.add("22023")
        elif inp.op in ("c_ack", "c_nack"):
            if v["ids"] is None:
                e.add("22004")
            if inp.op == "c_nack" and v["retry"] is None:
                e.add("22004")
            if inp.op == "c_nack" and v["retry"] in INTERVALS_NEG:
                e.add("22023")
        elif inp.op == "c_rewind":
            if v["after"] is None:
                e.add("22004")
            elif v["after"] < 0:
                e.add("22023")
        if name is not None:
            if cons is None:
                e.add("42704")
            elif inp.role == "fz_user" and cons.creator != "fz_user":
                e.add("42501")
        return e

    def consumer_snapshot(self):
        """Every consumer's state: the rows of _sequenced.consumers and _sequenced.deliveries (md5s)."""
        return tuple(self.conn.execute(
            "SELECT (SELECT md5(coalesce(string_agg(c::text, E'\\n' ORDER BY c.name), '')) FROM _sequenced.consumers c), "
            "(SELECT md5(coalesce(string_agg(d::text, E'\\n' ORDER BY d::text), '')) FROM _sequenced.deliveries d), "
            "(SELECT count(*) FROM _sequenced.deliveries)").fetchone())

    # -- one consumer input ------------------------------------------------------------------
    def run_consumer(self, inp):
        t0 = time.time()
        try:
            self.run_consumer1(inp)
        finally:
            self.consumer_seconds += time.time() - t0

    def run_consumer1(self, inp):
        c = self.conn
        self.resolve_consumer(inp)
        expect = self.consumer_expect(inp)
        before = self.consumer_snapshot()
        pre_inc = None
        if inp.op == "c_drop" and inp.cv["name"] in self.cons:
            row = c.execute("SELECT incarnation FROM _sequenced.consumers WHERE name = %s", (inp.cv["name"],)).fetchone()
            pre_inc = row and row[0]
        rows = None
        err = None
        if inp.txn:
            c.execute("BEGIN")
        if inp.role:
            c.execute(S.SQL("SET ROLE {}").format(S.Identifier(inp.role)))
        if inp.txn:
            c.execute("SAVEPOINT fz")
        try:
            q, params = consumer_sql(inp.op, inp.cv)
            rows = c.execute(q, params).fetchall()
        except psycopg.errors.QueryCanceled as e:
            err = e
        except psycopg.OperationalError as e:
            if c.closed or c.broken:
                raise
            err = e
        except psycopg.DatabaseError as e:
            err = e
        except (psycopg.DataError, UnicodeEncodeError) as e:  # client side
            err = e
        self.after_call(inp, err)
        if err is None:
            self.count("ok:" + inp.op)
            self.check_consumer_output(inp, rows, expect, pre_inc)
        else:
            self.check_consumer_error(inp, err, before, expect)
        if inp.txn:
            c.execute("COMMIT")

    def check_consumer_error(self, inp, err, before, expect):
        diag = getattr(err, "diag", None)
        sqlstate = getattr(err, "sqlstate", None) or ""
        msg = (diag.message_primary if diag else None) or str(err)
        detail = (diag.message_detail if diag else None) or ""
        context = (diag.context if diag else None) or ""
        desc = "%s: %s%s%s" % (sqlstate, msg, ("\nDETAIL: " + detail) if detail else "",
                               ("\nCONTEXT: " + context) if context else "")
        if isinstance(err, psycopg.errors.QueryCanceled):
            self.violate(inp, "timeout", desc)
            return
        if not sqlstate:
            self.count("client-rejected:" + inp.op)     # (a name the driver cannot send)
            return
        if sqlstate.startswith("XX"):
            self.violate(inp, "xx", desc)
        else:
            self.count("error:" + inp.op)
            self.errors.setdefault((inp.op, sqlstate, norm_msg(msg)), inp.i)
            if sqlstate not in expect:
                cons = self.cons.get(inp.cv["name"])
                self.violate(inp, "consumer", "%s failed with %s, expected %s\n%s%s" %
                             (inp.op, sqlstate, "one of %s" % sorted(expect) if expect else "success", desc,
                              "\n(consumer %r on %s, created by %s with start %r, visibility_timeout %r)" %
                              (cons.name, cons.target, cons.creator or "the superuser", cons.start, cons.vt_text)
                              if cons else ""))
            elif not any(p.search(msg) for p in WHOLE_CALL_RE):
                self.violate(inp, "position", desc)
        after = self.consumer_snapshot()
        if after != before:
            self.violate(inp, "state", "after the failed call (%s) the consumers' state differs:\n"
                                       "before %s\nafter  %s" % (desc, before, after))

    def check_consumer_output(self, inp, rows, expect, pre_inc):
        if expect:
            self.violate(inp, "consumer", "%s succeeded; expected it to fail with one of %s" % (inp.op, sorted(expect)))
            self.resync_consumers(inp)
            return
        v = inp.cv
        cons = self.cons.get(v["name"])
        if inp.op == "c_create":
            start = v["start"]
            cons = self.add_consumer(v["name"], inp.table, inp.role, start, inp.c_vt[1])
            cons.vt_text = v["vt"]
            self.count("c-created")
            self.check_view(inp, cons, fresh=True)
            return
        if inp.op == "c_drop":
            del self.cons[v["name"]]
            left = self.conn.execute(
                "SELECT (SELECT count(*) FROM _sequenced.consumers WHERE name = %s), "
                "(SELECT count(*) FROM _sequenced.deliveries WHERE incarnation = %s)", (v["name"], pre_inc)).fetchone()
            if tuple(left) != (0, 0):
                self.violate(inp, "consumer", "after sequenced_consumer_drop: %d consumer rows and %d delivery rows "
                                              "of it left" % tuple(left))
            return
        if cons is None:
            return
        if inp.op == "c_receive":
            self.check_receive(inp, cons, rows)
        elif inp.op in ("c_ack", "c_nack"):
            self.check_settle(inp, cons, v["ids"], rows[0][0], inp.op == "c_ack")
        elif inp.op == "c_rewind":
            self.count("c-rewinds")
            for a in list(cons.alive):
                cons.forget(a, True)
            cons.count = {}
            cons.since = {}
            cons.acked_pos = {}
            cons.baseline = v["after"]
            self.check_view(inp, cons, fresh=True)
            return
        self.check_view(inp, cons)

    # -- the checks ----------------------------------------------------------------------------
    def check_receive(self, inp, cons, rows):
        """A successful receive: distinct new ack_ids, ascending positions, deliveries counted since the
        key's last acknowledgement, no key twice, none in flight already (tracked consumers), each
        delivery the key's current state -- as the feed shows it now (sequenced_changes at its position)
        and as its row is (to_jsonb(row); no row: a hard delete) -- then the model takes them."""
        problems = []
        self.count("c-delivered", len(rows))
        ids = [r[0] for r in rows]
        if len(set(ids)) != len(ids):
            problems.append("ack_ids repeat: %s" % ids)
        again = [a for a in ids if a in self.ack_seen]
        if again:
            problems.append("ack_ids handed out before: %s" % again[:10])
        for k in range(1, len(rows)):
            if rows[k][1] <= rows[k - 1][1]:
                problems.append("positions not ascending: %s then %s" % (rows[k - 1][1], rows[k][1]))
                break
        idents = []
        for ack_id, pos, seq, key, deleted, record, deliveries in rows:
            if cons.keyed and key is None:
                problems.append("ack_id %s pos %s: no key (table %s has one)" % (ack_id, pos, cons.target))
            if not cons.keyed and key is not None:
                problems.append("ack_id %s pos %s: key %s on an append-only table" % (ack_id, pos, key))
            ident = key if cons.keyed else str(pos)
            idents.append(ident)
            want = cons.count.get(ident, 0) + 1
            if deliveries is None or deliveries < 1 or deliveries != want:
                problems.append("key %s (ack_id %s): deliveries %s, expected %d (deliveries since its last "
                                "acknowledgement)" % (ident, ack_id, deliveries, want))
            if ident in cons.acked_pos and pos <= cons.acked_pos[ident]:
                problems.append("key %s handed out at pos %s (ack_id %s), but its change at pos %s was acknowledged "
                                "already (once per change not yet acknowledged)" % (ident, pos, ack_id,
                                                                                   cons.acked_pos[ident]))
            if cons.tracked and ident in cons.flying:
                problems.append("key %s handed out (ack_id %s, pos %s) while in flight since an earlier receive "
                                "(ack_id %s; visibility_timeout %ss)" % (ident, ack_id, pos, cons.flying[ident], cons.vt))
        dup = [x for x, n in collections.Counter(idents).items() if n > 1]
        if dup:
            problems.append("keys twice in one result: %s" % dup[:5])
        if rows:
            problems += self.deliveries_against_feed(cons, rows)
        if problems:
            self.violate(inp, "consumer", "receive of %s on %s returned %d rows:\n%s\nrows: %s" %
                         (cons.name, cons.target, len(rows), "\n".join(problems[:10]),
                          [r[:5] + (r[6],) for r in rows[:10]]))
        for (ack_id, pos, seq, key, deleted, record, deliveries), ident in zip(rows, idents):
            self.ack_seen.add(ack_id)
            old = cons.flying.get(ident)
            if old is not None and old in cons.alive:
                cons.forget(old, True)          # (expired and handed out again: its ack_id is void)
            cons.alive[ack_id] = ident
            cons.pos[ack_id] = pos
            cons.flying[ident] = ack_id
            cons.count[ident] = deliveries if deliveries is not None else cons.count.get(ident, 0) + 1
            cons.since[ident] = (pos, seq, deleted, record)
        if problems:
            self.resync_consumers(inp)

    def deliveries_against_feed(self, cons, rows):
        """Each delivery against sequenced_changes(t, pos - 1, 1) (the feed's entry at its position: the
        key's current state) and, keyed, against the key's row now."""
        problems = []
        t = quote_table(cons.target)
        feed = self.conn.execute(
            "SELECT x.i, f.pos, f.seq, f.key::text, f.deleted, f.record::text "
            "FROM unnest(%s::bigint[]) WITH ORDINALITY AS x(p, i) "
            "LEFT JOIN LATERAL sequenced_changes(%s::regclass, x.p - 1, 1) f ON true ORDER BY x.i",
            ([r[1] for r in rows], t)).fetchall()
        for r, f in zip(rows, feed):
            got = (r[1], r[2], r[3], r[4], r[5])
            if tuple(f[1:]) != got:
                problems.append("delivery (pos, seq, key, deleted, record) = %s; the feed at that position: %s" %
                                (got, tuple(f[1:])))
        st = self.state_rel.get(cons.target) or self.refresh_state_rel(cons.target)
        if not cons.keyed or st is None:
            return problems
        tdel = S.SQL("t._sdc_deleted_at IS NOT NULL") if st.soft else S.SQL("false")
        q = S.SQL("SELECT x.i, t.ctid IS NOT NULL, {del}, to_jsonb(t.*)::text, to_jsonb(t.*) = (x.e -> 'r') "
                  "FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(e, i) "
                  "CROSS JOIN LATERAL (SELECT jsonb_populate_record(NULL::{typ}, x.e -> 'k') AS r) p "
                  "LEFT JOIN {tab} t ON {m} ORDER BY x.i").format(
            typ=S.SQL(st.rowtype), tab=S.SQL(st.rows), m=key_match(st.keys, "t", "(p.r)"), **{"del": tdel})
        arg = "[" + ", ".join('{"k": %s, "r": %s}' % (r[3] or "null", r[5] or "null") for r in rows) + "]"
        for r, (_, present, tdeleted, trow, same) in zip(rows, self.conn.execute(q, (arg,)).fetchall()):
            ack_id, pos, seq, key, deleted, record = r[:6]
            if present:
                if record is None or not same or deleted != tdeleted:
                    problems.append("key %s (pos %s): delivered deleted=%s record %s; its row now: deleted=%s %s" %
                                    (key, pos, deleted, (record or "NULL")[:300], tdeleted, (trow or "")[:300]))
            elif not deleted or record is not None:
                problems.append("key %s (pos %s) has no row (a hard delete), but was delivered deleted=%s record %s" %
                                (key, pos, deleted, (record or "NULL")[:300]))
        return problems

    def check_settle(self, inp, cons, ids, n, ack):
        """sequenced_ack / sequenced_nack return how many of the distinct ack_ids were in flight for the
        consumer (unknown, acknowledged, nacked, another consumer's: ignored)."""
        live = {a for a in (ids or []) if a is not None and a in cons.alive}
        self.count("c-acked" if ack else "c-nacked", len(live))
        if n != len(live):
            self.violate(inp, "consumer", "sequenced_%s(%s, %s) returned %s; of those ack_ids %d were in flight "
                                          "(%s)" % ("ack" if ack else "nack", cons.name, ids, n, len(live),
                                                    sorted(live)[:20]))
        for a in live:
            cons.forget(a, not ack)
        if n != len(live):
            self.resync_consumers(inp)

    def check_view(self, inp, cons, fresh=False):
        """sequenced_consumers: in_flight = the deliveries in flight (tracked consumers), pending >=
        in_flight; fresh (just created or rewound): nothing in flight, acked_through at the start, pending
        = the keys of the feed after it."""
        row = self.conn.execute("SELECT pending, in_flight, acked_through FROM sequenced_consumers WHERE consumer = %s",
                                (cons.name,)).fetchone()
        if row is None:
            self.violate(inp, "consumer", "consumer %s is not in sequenced_consumers" % cons.name)
            return
        pending, in_flight, acked = row
        problems = []
        if pending is None or in_flight is None or pending < in_flight or in_flight < 0:
            problems.append("pending %s, in_flight %s" % (pending, in_flight))
        if cons.tracked and in_flight != len(cons.alive):
            problems.append("in_flight %s, but %d deliveries are in flight (acknowledged or nacked neither): %s" %
                            (in_flight, len(cons.alive), sorted(cons.alive)[:20]))
        if fresh:
            n = self.conn.execute("SELECT count(*) FROM sequenced_changes(%s::regclass, %s)",
                                  (quote_table(cons.target), cons.baseline)).fetchone()[0]
            if inp.op == "c_create" and cons.start == "beginning" and cons.baseline != 0:
                problems.append("created with start => 'beginning', acked_through %s (expected 0)" % cons.baseline)
            if inp.op == "c_create" and cons.start == "end" and n != 0:
                problems.append("created with start => 'end', yet %d changes of the feed are after its "
                                "acked_through %s" % (n, cons.baseline))
            if in_flight != 0 or acked != cons.baseline or pending != n:
                problems.append("just %s: in_flight %s, acked_through %s, pending %s; expected 0, %s, %d (the feed "
                                "after it)" % ("rewound" if inp.op == "c_rewind" else "created", in_flight, acked,
                                               pending, cons.baseline, n))
        if problems:
            self.violate(inp, "consumer", "sequenced_consumers row of %s: %s %s" %
                         (cons.name, "; ".join(problems), self.TRACK_NOTE % len(cons.alive)))
            self.resync_consumers(inp)

    def resync_consumers(self, inp):
        """After a violation, take the consumers' state from the server (what is in flight, what exists),
        so that one fault is reported once, not at every later input."""
        rows = self.conn.execute("SELECT name, target::text, creator::text, start, "
                                 "extract(epoch FROM visibility_timeout)::float8, incarnation, acked_through "
                                 "FROM _sequenced.consumers").fetchall()
        names = {r[0] for r in rows}
        for name in list(self.cons):
            if name not in names:
                del self.cons[name]
        for name, target, creator, start, secs, inc, acked in rows:
            cons = self.cons.get(name)
            if cons is None:
                if target not in TABLES:
                    continue
                cons = self.add_consumer(name, target, "fz_user" if creator == "fz_user" else None, start, secs)
            cons.alive, cons.flying, cons.pos = {}, {}, {}
            for ack_id, ident, pos in self.conn.execute(
                    "SELECT ack_id, ident::text, pos FROM _sequenced.deliveries WHERE incarnation = %s AND NOT acked "
                    "AND ack_id IS NOT NULL", (inc,)).fetchall():
                cons.alive[ack_id] = ident
                cons.pos[ack_id] = pos
                cons.flying[ident] = ack_id
            cons.acked_pos = {}
            cons.count = {ident: n for ident, n in self.conn.execute(
                "SELECT ident::text, max(deliveries) FROM _sequenced.deliveries WHERE incarnation = %s AND NOT acked "
                "GROUP BY 1", (inc,)).fetchall()}

    # -- the drain -----------------------------------------------------------------------------
    def drain_all(self, i):
        """Every consumer drained (as the superuser), then the view as fz_user."""
        t0 = time.time()
        try:
            self.drain_all1(i)
        finally:
            self.consumer_seconds += time.time() - t0

    def drain_all1(self, i):
        for name in sorted(self.cons):
            inp = Input(i)
            inp.op, inp.table, inp.c_name = "drain", self.cons[name].target, name
            try:
                self.drain(inp, self.cons[name])
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise
            except Exception:
                self.violate(inp, "client", traceback.format_exc())
                try:
                    self.conn.execute("RESET ROLE")
                except Exception:
                    pass
        inp = Input(i)
        inp.op, inp.c_name = "drain", "(all)"
        self.conn.execute("SET ROLE fz_user")
        try:
            seen = {r[0] for r in self.conn.execute("SELECT consumer FROM sequenced_consumers").fetchall()}
        finally:
            self.conn.execute("RESET ROLE")
        want = {n for n, c in self.cons.items() if c.creator == "fz_user"}
        if seen != want:
            self.violate(inp, "consumer", "sequenced_consumers as fz_user lists %s; fz_user created %s" %
                         (sorted(seen), sorted(want)))

    def drain(self, inp, cons):
        """Acknowledge what is in flight, then receive (10,000 at a time) and acknowledge everything until
        a receive returns nothing.  Then every key whose feed position is above the baseline (acked_through
        at the previous drain, or the rewind's after) was received since it, last with its current state;
        the view shows pending 0, in_flight 0, acked_through at least the feed's last position."""
        self.count("c-drains")
        c = self.conn
        name = cons.name
        if cons.alive:
            ids = sorted(cons.alive)
            n = c.execute("SELECT sequenced_ack(%s, %s::bigint[])", (name, ids)).fetchone()[0]
            self.check_settle(inp, cons, ids, n, True)
        for _ in range(200):
            try:
                rows = c.execute("SELECT ack_id, pos, seq, key::text, deleted, record::text, deliveries "
                                 "FROM sequenced_receive(%s, 10000, '0')", (name,)).fetchall()
            except psycopg.DatabaseError as e:
                self.violate(inp, "consumer", "drain: sequenced_receive(%r, 10000) failed: %s: %s\n(consumer %r on %s, "
                                              "created by %s with start %r, visibility_timeout %r)" %
                             (name, e.sqlstate, str(e).splitlines()[0], name, cons.target, cons.creator or "the superuser",
                              cons.start, cons.vt_text))
                return
            if not rows:
                break
            self.count("c-drained", len(rows))
            self.check_receive(inp, cons, rows)
            ids = [r[0] for r in rows if r[0] in cons.alive]
            n = c.execute("SELECT sequenced_ack(%s, %s::bigint[])", (name, ids)).fetchone()[0]
            self.check_settle(inp, cons, ids, n, True)
        else:
            self.violate(inp, "consumer", "drain: 200 receives and acknowledgements, and %s still hands out changes" %
                         name)
            return
        problems = []
        feed = c.execute("SELECT pos, seq, key::text, deleted, record::text FROM sequenced_changes(%s::regclass, %s)",
                         (quote_table(cons.target), cons.baseline)).fetchall()
        self.count("c-drain-keys", len(feed))
        for pos, seq, key, deleted, record in feed:
            ident = key if cons.keyed else str(pos)
            last = cons.since.get(ident)
            if last is None:
                problems.append("key %s (feed pos %s, seq %s, deleted %s) was never received since pos %s" %
                                (ident, pos, seq, deleted, cons.baseline))
            elif last != (pos, seq, deleted, record):
                problems.append("key %s: last delivered (pos, seq, deleted, record) = %s; the feed has %s" %
                                (ident, (last[0], last[1], last[2], (last[3] or "NULL")[:200]),
                                 (pos, seq, deleted, (record or "NULL")[:200])))
        top = max([cons.baseline] + [f[0] for f in feed])
        row = c.execute("SELECT pending, in_flight, acked_through FROM sequenced_consumers WHERE consumer = %s",
                        (name,)).fetchone()
        if row is None:
            problems.append("not in sequenced_consumers")
        elif row[0] != 0 or row[1] != 0 or row[2] is None or row[2] < top:
            problems.append("drained, sequenced_consumers shows pending %s, in_flight %s, acked_through %s; "
                            "expected 0, 0, at least %s" % (row[0], row[1], row[2], top))
        if problems:
            self.violate(inp, "consumer", "drain of %s (%s) after baseline %s, %d feed entries above it:\n%s" %
                         (name, cons.target, cons.baseline, len(feed), "\n".join(problems[:10])))
        cons.baseline = max(top, row[2] or 0) if row else top
        cons.since = {}


class Fuzzer(ConsumerFuzz):
    def __init__(self, args):
        self.args = args
        self.gen = Gen(args.seed, args.huge_rate)
        self.dbname = args.db
        self.stats = {}
        self.errors = {}
        self.violations = []
        self.state_rel = {}
        self.table_problems = set()     # (relid, problem) reported by check_table already
        self.known_keys = {}            # relid -> the keys check_table saw last (see there)
        self.last_checked = {}          # relid -> the input after which check_table last ran
        self.start_time = None
        self.conn = None
        self.inputs = 0
        self.check_seconds = 0.0
        self.cons = {}                  # consumer name -> Cons (the fuzzer's model of it)
        self.ack_seen = set()
        self.consumer_seconds = 0.0
        os.makedirs(args.out, exist_ok=True)

    # -- connections -----------------------------------------------------------
    def connect(self, dbname):
        c = psycopg.connect(dbname=dbname, autocommit=True, application_name="pg_sequenced_fuzz")
        c.execute("SET statement_timeout = %s" % int(self.args.statement_timeout * 1000))
        c.execute("SET client_min_messages = error")
        c.add_notice_handler(lambda d: None)
        return c

    def setup(self):
        admin = psycopg.connect(autocommit=True)
        admin.execute(S.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(S.Identifier(self.dbname)))
        admin.execute(S.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
                      .format(S.Identifier(self.dbname)))
        admin.close()
        self.conn = self.connect(self.dbname)
        self.conn.execute(SETUP_SQL)
        self.start_time = self.conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
        self.expected_user = self.conn.execute("SELECT current_user").fetchone()[0]
        self.expected_path = self.conn.execute("SELECT current_setting('search_path')").fetchone()[0]
        for t in TABLES:
            self.refresh_state_rel(t)
        self.setup_consumers()

    def teardown(self):
        try:
            self.conn.close()
        except Exception:
            pass
        if not self.args.keep:
            try:
                admin = psycopg.connect(autocommit=True)
                admin.execute(S.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(S.Identifier(self.dbname)))
                admin.close()
            except Exception as e:  # pragma: no cover
                print("could not drop database %s: %s" % (self.dbname, e))

    REG_SQL = ("SELECT c.state_rel::oid, c.state_rel::text, c.relid::oid, c.log_rel::text, c.key_columns, "
               "c.sequence_column, c.deletes = 'soft', c.on_equal, c.ordering = 'per_table', r.relkind::text, "
               "c.unchanged, c.relid::regclass::text, r.reltype::regtype::text, "
               "(SELECT format_type(a.atttypid, NULL) FROM pg_attribute a WHERE a.attrelid = c.relid "
               "   AND a.attname = c.sequence_column), c.history, c.history_rel::text, c.unknown_properties, "
               "c.omitted FROM _sequenced.config c "
               "JOIN pg_class r ON r.oid = c.relid JOIN pg_namespace n ON n.oid = r.relnamespace ")

    def refresh_state_rel(self, table):
        """The registration of a fuzz or import table (a RegInfo), or None."""
        if table in (NO_TABLE, NO_IMPORT_TABLE):
            return None
        row = self.conn.execute(self.REG_SQL + "WHERE n.nspname = %s AND r.relname = %s",
                                table_ident(table)).fetchone()
        row = row and RegInfo(*row)
        if row:
            row.loose       # (remembers a table registered with unchanged => 'skip')
        self.state_rel[table] = row
        return row

    def registered_keyed(self):
        """Every registered table with a key (fuzz tables and those imports made)."""
        return [RegInfo(*r) for r in self.conn.execute(
            self.REG_SQL + "WHERE cardinality(c.key_columns) > 0 ORDER BY c.relid::oid").fetchall()]

    # -- snapshots -------------------------------------------------------------
    def snapshot(self, table, staging=None):
        """md5 of target, key state, change log and max_log rows (and staging), plus the columns."""
        if table in (NO_TABLE, NO_IMPORT_TABLE):
            return ("no table",)
        qt = quote_table(table)
        reg = self.conn.execute("SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE n.nspname = %s AND c.relname = %s", table_ident(table)).fetchone()
        reg = reg and reg[0]
        if reg is None:
            return ("absent",)
        st = self.state_rel.get(table)
        if st is None or st.relid != reg:
            st = self.refresh_state_rel(table)
        agg = "md5(coalesce((SELECT string_agg(x::text, E'\\n' ORDER BY x::text) FROM {} x), ''))"
        parts = [S.SQL(agg).format(S.SQL("ONLY " + qt)),
                 S.SQL("(SELECT string_agg(attname || ':' || atttypid::regtype::text, ',' ORDER BY attnum) "
                       "FROM pg_attribute WHERE attrelid = {}::oid AND attnum > 0 AND NOT attisdropped)")
                 .format(S.Literal(reg))]
        if st is not None:
            parts.append(S.SQL(agg).format(S.SQL(st.state)))
            if st.log is not None:
                parts.append(S.SQL(agg).format(S.SQL(st.log)))
            parts.append(S.SQL("(SELECT string_agg(seq::text, ',' ORDER BY seq) FROM _sequenced.max_log "
                               "WHERE relid = {}::oid)").format(S.Literal(reg)))
            # the registration itself (a failed sequenced_register changes nothing) and the history
            parts.append(S.SQL("(SELECT to_jsonb(c)::text FROM _sequenced.config c WHERE c.relid = {}::oid)")
                         .format(S.Literal(reg)))
            if st.histrel is not None:
                parts.append(S.SQL(agg).format(S.SQL(st.histrel)))
        else:
            parts.append(S.SQL("'unregistered'"))
        if staging:
            parts.append(S.SQL(agg).format(S.Identifier(staging)))
        q = S.SQL("SELECT ") + S.SQL(", ").join(parts)
        in_txn = self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
        if in_txn:
            self.conn.execute("SAVEPOINT snap")
        try:
            return tuple(self.conn.execute(q).fetchone())
        except psycopg.DatabaseError as e:
            # a value the table should never have held (reported by check_table) can make its text fail;
            # the error stands for the state then
            if in_txn:
                self.conn.execute("ROLLBACK TO SAVEPOINT snap")
            return ("snapshot failed", e.sqlstate, str(e).splitlines()[0])
        finally:
            if in_txn:
                self.conn.execute("RELEASE SAVEPOINT snap")

    def after_call(self, inp, err):
        """After a call (its error, if any, in err): the savepoint of a failed call inside a transaction
        rolled back, the role and search_path the call found restored (else a violation), the role reset."""
        c = self.conn
        if c.closed or c.broken:
            raise psycopg.OperationalError("connection lost")
        if err is not None and inp.txn:
            c.execute("ROLLBACK TO SAVEPOINT fz")
        g = self.gucs()
        want_user = inp.role or self.expected_user
        if g != (want_user, self.expected_path):
            self.violate(inp, "guc", "after the call: current_user=%r search_path=%r, expected %r %r" %
                         (g[0], g[1], want_user, self.expected_path))
        if inp.role:
            c.execute("RESET ROLE")

    def gucs(self):
        return tuple(self.conn.execute("SELECT current_user, current_setting('search_path')").fetchone())

    # -- bookkeeping -------------------------------------------------------------
    def count(self, key, n=1):
        self.stats[key] = self.stats.get(key, 0) + n

    def violate(self, inp, kind, detail):
        self.count("violation:" + kind)
        path = os.path.join(self.args.out, "input-%d-%s.sql" % (inp.i, kind))
        with open(path, "w") as f:
            f.write("-- pg_sequenced fuzz: seed %s input %d: %s\n" % (self.args.seed, inp.i, kind))
            for line in str(detail).splitlines():
                f.write("-- %s\n" % line)
            try:
                f.write(render_sql(inp))
            except Exception as e:      # never lose the report over the reproducer
                f.write("-- (could not render the input: %s)\n" % e)
        self.violations.append((inp.i, kind, str(detail)[:2000], path))
        if self.args.verbose or len(self.violations) <= 5:
            print("VIOLATION input %d (%s %s): %s: %s\n  reproducer: %s" %
                  (inp.i, inp.op, inp.table, kind, str(detail)[:600], path), flush=True)

    # -- one input ---------------------------------------------------------------
    def pre_call(self, inp):
        """What the checks of a successful call need from before it: for sequenced_delete_missing (and its
        count), the function's count and the same count made by a query; for a table registered with
        unchanged => 'skip', its rows."""
        pre = {}
        if inp.table in (NO_TABLE, NO_IMPORT_TABLE) or inp.table not in TABLES:
            return pre
        st = self.state_rel.get(inp.table) or self.refresh_state_rel(inp.table)
        if st is None:
            return pre
        c = self.conn
        if inp.op in ("delete_missing", "dm_count") and st.keys and inp.seq is not None:
            try:
                pre["count"] = tuple(c.execute(
                    "SELECT live, missing FROM sequenced_delete_missing_count(%s::regclass, %s::bigint, %s::jsonb)",
                    (quote_table(inp.table), inp.seq, inp.json)).fetchone())
            except psycopg.DatabaseError as e:
                pre["count_error"] = e.sqlstate
            # the same count by a query: live rows (within the scope, values converted as
            # jsonb_populate_record converts them) and those whose stored sequence (the higher of the
            # row's and the key state row's; NULL: older than any) is below seq
            conds = [S.SQL("true")]
            if inp.scope_obj is not None:
                for k in dict.fromkeys(inp.scope_obj.keys()):
                    conds.append(S.SQL("t.{c} IS NOT DISTINCT FROM (p.r).{c}").format(c=S.Identifier(k)))
            q = S.SQL("SELECT count(*) FILTER (WHERE NOT {del}), "
                      "count(*) FILTER (WHERE NOT {del} AND coalesce(greatest({tseq}, s.sequence) < %s, true)) "
                      "FROM {tab} t LEFT JOIN {st} s ON {m} "
                      "CROSS JOIN (SELECT jsonb_populate_record(NULL::{typ}, coalesce(%s::jsonb, '{{}}')) AS r) p "
                      "WHERE {conds}").format(
                **{"del": S.SQL("t._sdc_deleted_at IS NOT NULL") if st.soft else S.SQL("false")},
                tseq=st.seq("t"), tab=S.SQL(st.rows), st=S.SQL(st.state), m=state_match(st.keys, "s", "t"),
                typ=S.SQL(st.rowtype), conds=S.SQL(" AND ").join(conds))
            if inp.scope_obj is not None or inp.json is None or inp.json.strip() == "{}":
                try:
                    pre["sql_count"] = tuple(c.execute(q, (inp.seq, inp.json if inp.scope_obj is not None
                                                              else None)).fetchone())
                except psycopg.DatabaseError:
                    pass        # populate_record refused a value: no independent count
        if st.skip and st.keys and inp.op in ("upsert3", "upsert2", "delete3") and \
                all(k in TABLES[inp.table]["keys"] for k in st.keys):
            pre["rows"] = self.skip_rows(st)
        return pre

    def skip_rows(self, st):
        """key (as the output shows it) -> (ctid, the row as text without its sequence column, deleted)"""
        q = S.SQL("SELECT jsonb_build_object({kv})::text, t.ctid::text, (to_jsonb(t.*) - {sc})::text, {del} "
                  "FROM {tab} t").format(
            kv=S.SQL(", ").join(S.SQL("{}, t.{}").format(S.Literal(k), S.Identifier(k)) for k in st.keys),
            sc=S.Literal(st.seqcol), tab=S.SQL(st.rows),
            **{"del": S.SQL("t._sdc_deleted_at IS NOT NULL") if st.soft else S.SQL("false")})
        return {k: (ctid, text, d) for k, ctid, text, d in self.conn.execute(q).fetchall()}

    def run_one(self, inp):
        if inp.op.startswith("c_"):
            return self.run_consumer(inp)
        c = self.conn
        stg = inp.staging
        pre = self.pre_call(inp)       # (autocommit: outside the input's transaction)
        before = self.snapshot(inp.table, stg)
        rows = None
        err = None
        if inp.txn:
            c.execute("BEGIN")
        if inp.role:
            c.execute(S.SQL("SET ROLE {}").format(S.Identifier(inp.role)))
        if inp.txn:
            c.execute("SAVEPOINT fz")
        try:
            rows = self.call(inp)
        except psycopg.errors.QueryCanceled as e:
            err = e
        except psycopg.OperationalError as e:
            if c.closed or c.broken:
                raise
            err = e
        except psycopg.DatabaseError as e:
            err = e
        except (psycopg.DataError, UnicodeEncodeError) as e:  # client side
            err = e
        except psycopg.InterfaceError:
            raise
        self.after_call(inp, err)
        if err is None:
            self.count("ok:" + inp.op)
            self.check_output(inp, rows, pre)
        else:
            self.check_error(inp, err, before, pre)
        if inp.txn:
            c.execute("COMMIT")
        if err is None and inp.table not in (NO_TABLE, NO_IMPORT_TABLE):
            # (committed: the feed shows no transaction's changes while it writes them)
            st = self.refresh_state_rel(inp.table)
            if st is not None and inp.i - self.last_checked.get(st.relid, -1 << 62) >= self.args.table_check_every:
                self.check_table(inp, st)

    def call(self, inp):
        c = self.conn
        t = quote_table(inp.table)
        if inp.op == "upsert3":
            return c.execute("SELECT ord, key::text, seq, outcome FROM sequenced_upsert(%s::regclass, %s::jsonb, %s::bigint)",
                             (t, inp.json, inp.seq)).fetchall()
        if inp.op == "delete3":
            return c.execute("SELECT ord, key::text, seq, outcome FROM sequenced_delete(%s::regclass, %s::jsonb, %s::bigint)",
                             (t, inp.json, inp.seq)).fetchall()
        if inp.op == "upsert2":
            return c.execute("SELECT ord, key::text, seq, outcome FROM sequenced_upsert(%s::regclass, %s::jsonb)",
                             (t, inp.json)).fetchall()
        if inp.op == "import":
            return c.execute("SELECT ord, key::text, seq, outcome FROM sequenced_import(%s::jsonb)", (inp.json,)).fetchall()
        if inp.op in ("delete_missing", "dm_count"):
            q, params = dm_sql(inp)
            return c.execute(q, params).fetchall()
        if inp.op == "register":
            q, params = register_sql(inp)
            c.execute(q, params)
            return None
        if inp.op == "staging":
            cols = S.SQL(", ").join(S.Identifier(x) for x in inp.stg_cols)
            if inp.copy:
                with c.cursor() as cur:
                    with cur.copy(S.SQL("COPY {} ({}) FROM STDIN").format(S.Identifier(inp.staging), cols)) as cp:
                        for row in inp.stg_rows:
                            cp.write_row(row)
                return None
            if not inp.stg_rows:
                c.execute(S.SQL("INSERT INTO {} ({}) SELECT {} WHERE false").format(
                    S.Identifier(inp.staging), cols,
                    S.SQL(", ").join(S.SQL("NULL") for _ in inp.stg_cols)))
                return None
            ph = S.SQL("(") + S.SQL(", ").join(S.Placeholder() for _ in inp.stg_cols) + S.SQL(")")
            q = S.SQL("INSERT INTO {} ({}) VALUES ").format(S.Identifier(inp.staging), cols) + \
                S.SQL(", ").join(ph for _ in inp.stg_rows)
            params = [v for row in inp.stg_rows for v in row]
            c.execute(q, params)
            return None
        raise ValueError(inp.op)

    def json_parses(self, text, in_txn):
        if text is None:
            return True
        if in_txn:
            self.conn.execute("SAVEPOINT jp")
        try:
            self.conn.execute("SELECT %s::jsonb IS NULL", (text,))
            ok = True
        except psycopg.DatabaseError:
            ok = False
        if in_txn:
            self.conn.execute("ROLLBACK TO SAVEPOINT jp")
        return ok

    def check_error(self, inp, err, before, pre=None):
        pre = pre or {}
        diag = getattr(err, "diag", None)
        sqlstate = getattr(err, "sqlstate", None) or ""
        msg = (diag.message_primary if diag else None) or str(err)
        context = (diag.context if diag else None) or ""
        detail = (diag.message_detail if diag else None) or ""
        desc = "%s: %s%s%s" % (sqlstate, msg, ("\nDETAIL: " + detail) if detail else "",
                               ("\nCONTEXT: " + context) if context else "")
        if isinstance(err, psycopg.errors.QueryCanceled):
            self.violate(inp, "timeout", desc)
            return
        if not sqlstate:
            # the driver refused the input (e.g. text that cannot be encoded)
            self.count("client-rejected:" + inp.op)
            return
        if sqlstate.startswith("XX"):
            self.violate(inp, "xx", desc)
            self.check_unchanged(inp, before, desc)
            return
        # the server refused the JSON text before pg_sequenced saw it
        if inp.op != "staging" and (sqlstate in ("22P02", "22P05", "54001", "22003", "54000")) and \
                "record" not in context and not POS_RE.search(msg) and not self.json_parses(inp.json, inp.txn):
            self.count("json-rejected:" + inp.op)
            self.errors.setdefault(("json-rejected", sqlstate, norm_msg(msg)), inp.i)
            self.check_unchanged(inp, before, desc)
            return
        self.count("error:" + inp.op)
        self.errors.setdefault((inp.op, sqlstate, norm_msg(msg)), inp.i)
        named = [int(x) for x in POS_RE.findall(msg)] + [int(x) for x in POS_RE.findall(context)]
        for a, b in POS2_RE.findall(msg):
            named += [int(a), int(b)]
        whole = any(p.search(msg) for p in WHOLE_CALL_RE)
        in_msg = [int(x) for x in POS_RE.findall(msg)]
        in_ctx = [int(x) for x in re.findall(r"\brecord (\d+)", context)]
        if not named and not whole:
            self.violate(inp, "position", desc)
        elif in_msg and in_ctx and sqlstate != "21000" and set(in_ctx) - set(in_msg):
            self.violate(inp, "context", "the message names record %s, the CONTEXT record %s: %s" %
                         (in_msg, in_ctx, desc))
        elif named and inp.nrec and not inp.shape_bad:
            bad = [n for n in named if n < 1 or n > inp.nrec]
            if bad:
                self.violate(inp, "position", "names %s of %d records: %s" % (bad, inp.nrec, desc))
            elif not inp.row_level and sqlstate != "21000" and not any(n in inp.hostile for n in named) \
                    and inp.hostile != set(range(1, inp.nrec + 1)) \
                    and not (inp.op == "import" and re.search(r"is a delete, but table .* is append-only", msg)):
                # (an import's delete is valid unless an earlier import of the run made the table
                # append-only, which the generator cannot know)
                self.violate(inp, "blame", "blames record(s) %s, generated valid (hostile: %s): %s" %
                             (named, sorted(inp.hostile)[:20], desc))
        self.check_unchanged(inp, before, desc)
        if inp.op == "delete_missing":
            self.check_dm_error(inp, sqlstate, detail, desc, pre)

    def check_dm_error(self, inp, sqlstate, detail, desc, pre):
        """A failed sequenced_delete_missing whose count (just before) succeeded: the breaker (54000)
        exactly when missing > max_fraction * live, its DETAIL giving those counts; no other error for
        valid arguments."""
        cnt = pre.get("count")
        mf = inp.max_fraction if inp.mf_given else 0.1
        if cnt is None or (mf is not None and (mf != mf or mf < 0)):
            return
        live, missing = cnt
        if sqlstate == "54000":
            self.count("dm-breaker")
            if mf is None or not missing > mf * live:
                self.violate(inp, "output", "the breaker tripped with %d of %d live keys missing and max_fraction "
                                            "%r: %s" % (missing, live, mf, desc))
            else:
                m = re.search(r"(\d+) of (\d+) live keys", detail)
                if not m or (int(m.group(1)), int(m.group(2))) != (missing, live):
                    self.violate(inp, "output", "the breaker's DETAIL does not say %d of %d live keys: %s" %
                                 (missing, live, desc))
        elif ts_valid(inp.seq) or not TABLES.get(inp.table, {}).get("ts"):
            self.violate(inp, "output", "sequenced_delete_missing failed although its count succeeded (%d of %d "
                                        "live keys missing, max_fraction %r): %s" % (missing, live, mf, desc))

    def check_unchanged(self, inp, before, desc):
        after = self.snapshot(inp.table, inp.staging)
        if after != before:
            self.violate(inp, "state", "after the failed call (%s) the tables differ:\nbefore %s\nafter  %s" %
                         (desc, before, after))

    # -- successful calls ------------------------------------------------------------
    def check_output(self, inp, rows, pre):
        if inp.op == "staging":
            self.check_staging(inp)
            return
        if inp.op == "register":
            self.check_register(inp)
            return
        if inp.op == "dm_count":
            self.check_dm_count(inp, rows, pre)
            return
        table = inp.table
        meta = TABLES.get(table)
        if meta is None and inp.op != "import":
            self.violate(inp, "output", "a call on %s succeeded" % table)
            return
        if table == NO_IMPORT_TABLE:
            self.violate(inp, "output", "an import without a table_name succeeded")
            return
        st = self.refresh_state_rel(table) if meta is not None or inp.op == "import" else None
        n = len(rows)
        if inp.nrec and n != inp.nrec and inp.op != "delete_missing":
            self.violate(inp, "output", "%d records in, %d rows out" % (inp.nrec, n))
            return
        outcomes = {"inserted", "updated", "deleted", "stale", "superseded"}
        if st is not None and st.skip:
            outcomes.add("unchanged")       # only on a table registered with unchanged => 'skip'
        if inp.op == "delete_missing":
            outcomes = {"deleted"}
        for k, (ord_, key, seq, outcome) in enumerate(rows):
            if ord_ != k + 1 or outcome not in outcomes:
                self.violate(inp, "output", "row %d: ord %r outcome %r (%s)" %
                             (k + 1, ord_, outcome, "unchanged => %s" % st.unchanged if st else "not registered"))
                return
            if inp.seq is not None and inp.op in ("upsert3", "delete3", "delete_missing") and seq != inp.seq:
                self.violate(inp, "output", "row %d: seq %r, the call's seq is %r" % (k + 1, seq, inp.seq))
                return
            if outcome == "unchanged":
                self.count("outcome:unchanged")
        if st is not None and st.ts and not self.check_ts_sequences(inp, rows):
            return
        if inp.op == "import":
            if meta is None:
                meta = dict(keys=["id"], soft=False, on_equal="keep", per_table=False)
                if all(r[1] is None for r in rows):
                    return
        if not meta["keys"]:
            for ord_, key, seq, outcome in rows:
                if key is not None or outcome not in ("inserted", "stale"):
                    self.violate(inp, "output", "append-only table: key %r outcome %r" % (key, outcome))
                    return
            return
        on_equal = st.on_equal if st is not None else meta["on_equal"]
        # group by key: exactly one non-superseded message per key, the highest
        groups = {}
        for ord_, key, seq, outcome in rows:
            if key is None:
                self.violate(inp, "output", "record %d: key is null" % ord_)
                return
            groups.setdefault(key, []).append((ord_, seq, outcome))
        if table != "fz_num":
            for kj, g in groups.items():
                winners = [x for x in g if x[2] != "superseded"]
                if len(winners) != 1:
                    self.violate(inp, "output", "key %s: %d messages not superseded: %s" % (kj, len(winners), g))
                    return
                w = winners[0]
                for o in g:
                    if o is w:
                        continue
                    tie_ok = (o[1] == w[1] and ((on_equal == "replace" and o[0] < w[0]) or
                                               (on_equal != "replace" and o[0] > w[0])))
                    if not (o[1] < w[1] or tie_ok):
                        self.violate(inp, "output", "key %s: %r superseded by %r" % (kj, o, w))
                        return
        if inp.op == "delete_missing" and not self.check_delete_missing(inp, rows, pre, st):
            return
        # against the table: the key's row R and its key state row S (Design T: S only where R cannot
        # say the key's state -- a tombstone, a tie under 'replace', a key a statement wrote -- unless the
        # table keeps S for every key); the key's stored sequence is the higher of R's and S's
        if st is None:
            return
        live = [(k, r) for k, r in enumerate(rows) if r[3] in ("inserted", "updated", "deleted", "stale",
                                                                 "unchanged")]
        if not live:
            return
        q = S.SQL("SELECT x.i, {seq}, {del}, t.ctid IS NOT NULL, s.ctid IS NOT NULL, s.sequence, s.deleted "
                  "FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(k, i) "
                  "CROSS JOIN LATERAL (SELECT jsonb_populate_record(NULL::{typ}, x.k) AS r) p "
                  "LEFT JOIN {tab} t ON {ct} LEFT JOIN {st} s ON {cs} ORDER BY x.i").format(
            seq=st.seq("t"), typ=S.SQL(st.rowtype), tab=S.SQL(st.rows), st=S.SQL(st.state),
            ct=key_match(st.keys, "t", "(p.r)"), cs=state_match(st.keys, "s", "(p.r)"),
            **{"del": S.SQL("t._sdc_deleted_at IS NOT NULL") if st.soft else S.SQL("false")})
        res = self.conn.execute(q, ("[" + ", ".join(r[1] for _, r in live) + "]",)).fetchall()
        for (k, (ord_, key, seq, outcome)), (_, tseq, tdel, tpresent, spresent, sseq, sdel) in zip(live, res):
            bad = key_outcome_problem(st, outcome, seq, tpresent, tseq, tdel, spresent, sseq, sdel)
            if bad:
                self.violate(inp, "output", "record %d key %s seq %s outcome %s: %s" % (ord_, key, seq,
                                                                                      outcome, bad))
                return
        if "rows" in pre:
            self.check_unchanged_rows(inp, rows, pre["rows"], st)

    def check_unchanged_rows(self, inp, rows, before, st):
        """unchanged => 'skip': a key whose message is `unchanged` has the row it had, untouched (same
        ctid, same text); one that is `updated` had a row that differs from the message in some column
        (so the row, its sequence column aside, changed) or was soft-deleted."""
        after = self.skip_rows(st)
        for ord_, key, seq, outcome in rows:
            if outcome not in ("unchanged", "updated"):
                continue
            b, a = before.get(key), after.get(key)
            self.count("unchanged-rows-checked")
            if outcome == "unchanged":
                if b is None or b[2] or a != b:
                    self.violate(inp, "output", "record %d key %s seq %s unchanged, but the row was %s and is %s" %
                                 (ord_, key, seq, b, a))
                    return
            elif b is not None and not b[2] and a is not None and a[1] == b[1]:
                self.violate(inp, "output", "record %d key %s seq %s updated, but the row holds what it held "
                                            "(its sequence column aside): %s -- under unchanged => 'skip' that is "
                                            "`unchanged`" % (ord_, key, seq, b[1]))
                return

    def check_ts_sequences(self, inp, rows):
        """A table whose sequence column is timestamptz: a bigint seq outside timestamptz's range is no
        timestamp and must be refused; so is a message whose sequence is a JSON number; a sequence
        written as RFC 3339 shows as that timestamp's int64."""
        if inp.op in ("upsert3", "delete3", "delete_missing") and inp.seq is not None and not ts_valid(inp.seq) \
                and rows:
            self.violate(inp, "output", "seq %d is outside timestamptz's range (no timestamp), yet %s took it "
                                        "(outcomes: %s)" % (inp.seq, inp.op, ", ".join(sorted({r[3] for r in rows}))))
            return False
        if inp.op == "upsert2" and inp.msg_seqs:
            for k, sv in enumerate(inp.msg_seqs):
                if is_json_number(sv):
                    self.violate(inp, "output", "message %d has the number %s as its sequence, refused by a "
                                                "timestamptz-sequenced table -- yet the call succeeded" %
                                 (k + 1, to_json(sv)))
                    return False
                if isinstance(sv, str) and sv in inp.ts_expect and k < len(rows) and rows[k][2] != inp.ts_expect[sv]:
                    self.violate(inp, "output", "message %d has sequence %r, whose int64 is %d; the output says %s" %
                                 (k + 1, sv, inp.ts_expect[sv], rows[k][2]))
                    return False
        return True

    def check_delete_missing(self, inp, rows, pre, st):
        """A successful sequenced_delete_missing: as many keys as its count said were missing, in the key
        index's order; the breaker's rule (missing > max_fraction * live fails with 54000); afterwards
        nothing within the scope is missing and live dropped by the keys deleted.  (The rows deleted are
        checked like any delete by the caller.)"""
        mf = inp.max_fraction if inp.mf_given else 0.1
        if mf is not None and (mf != mf or mf < 0):
            self.violate(inp, "output", "max_fraction %r is refused (22023), yet the call succeeded" % mf)
            return False
        self.count("dm-deleted", len(rows))
        cnt = pre.get("count")
        if cnt is not None and pre.get("sql_count") is not None:
            self.count("dm-sql-count")
            if pre["sql_count"] != cnt:
                self.violate(inp, "output", "sequenced_delete_missing_count said (live, missing) = %s; a query over "
                                            "the rows and the key state counts %s" % (cnt, pre["sql_count"]))
                return False
        if cnt is not None:
            live, missing = cnt
            if len(rows) != missing:
                self.violate(inp, "output", "sequenced_delete_missing_count said %d of %d live keys were "
                                            "missing; the call deleted %d" % (missing, live, len(rows)))
                return False
            if mf is not None and missing > mf * live:
                self.violate(inp, "output", "%d of %d live keys missing, max_fraction %r: the breaker should "
                                            "have tripped (54000)" % (missing, live, mf))
                return False
            after = self.conn.execute(
                "SELECT live, missing FROM sequenced_delete_missing_count(%s::regclass, %s::bigint, %s::jsonb)",
                (quote_table(inp.table), inp.seq, inp.json)).fetchone()
            if tuple(after) != (live - missing, 0):
                self.violate(inp, "output", "after deleting the %d missing of %d live keys the count is "
                                            "(live, missing) = %s, expected (%d, 0)" %
                             (missing, live, tuple(after), live - missing))
                return False
        keys = [json_loads_key(r[1], st.keys if st else []) for r in rows]
        if st is not None and inp.table in ("fz_all", "fz_gen", "fz_skip", "fz_ts", "fz_opts", "fz_comp", "fz_hist") \
                and all(k is not None for k in keys) and keys != sorted(keys):
            self.violate(inp, "output", "keys not in the key index's order: %s" % [r[1] for r in rows][:20])
            return False
        return True

    def check_dm_count(self, inp, rows, pre):
        if inp.table not in TABLES or not TABLES[inp.table]["keys"]:
            self.violate(inp, "output", "sequenced_delete_missing_count of %s succeeded" % inp.table)
            return
        if len(rows) != 1 or rows[0][0] is None or rows[0][1] is None or not 0 <= rows[0][1] <= rows[0][0]:
            self.violate(inp, "output", "(live, missing) = %s" % (rows,))
            return
        got = tuple(rows[0])
        if pre.get("sql_count") is not None:
            self.count("dm-sql-count")
        if pre.get("count") is not None and pre["count"] != got:
            self.violate(inp, "output", "two counts in a row differ: %s, then %s" % (pre["count"], got))
        elif pre.get("sql_count") is not None and pre["sql_count"] != got:
            self.violate(inp, "output", "(live, missing) = %s; a query over the rows and the key state "
                                        "counts %s" % (got, pre["sql_count"]))

    def check_register(self, inp):
        if inp.table != "fz_opts":
            self.violate(inp, "output", "sequenced_register of %s succeeded" % inp.table)
            return
        args = dict(inp.reg_args)
        want = {"on_equal": "keep", "unchanged": "write", "unknown_properties": "error", "omitted": "default",
                "history": True}
        want.update({k: v for k, v in args.items() if k in want})
        got = self.conn.execute(
            "SELECT t.on_equal, t.unchanged, o.unknown_properties, o.omitted, t.history, "
            "       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attname = '_sdc_extra' "
            "                  AND NOT a.attisdropped) "
            "FROM sequenced_tables t JOIN sequenced_table_options o USING (relid) WHERE t.relid = 'fz_opts'::regclass"
        ).fetchone()
        exp = (want["on_equal"], want["unchanged"], want["unknown_properties"], want["omitted"], want["history"])
        if got is None or tuple(got[:5]) != exp:
            self.violate(inp, "output", "registered with %s: sequenced_tables and sequenced_table_options show %s" %
                         (exp, got))
        elif want["unknown_properties"] == "column" and not got[5]:
            self.violate(inp, "output", "unknown_properties => 'column', but fz_opts has no _sdc_extra")

    def numeric_keys(self, st):
        """Per key column: is it numeric (or a domain over numeric), whose equal values print unlike?"""
        return [self.conn.execute(
            "SELECT coalesce(NULLIF(t.typbasetype, 0), t.oid) = 'numeric'::regtype FROM pg_attribute a "
            "JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = %s AND a.attname = %s",
            (st.stateoid, "k%d" % (j + 1))).fetchone()[0] for j in range(len(st.keys))]

    def check_table(self, inp, st):
        """The invariants of a keyed table st (a RegInfo) under Design T, whatever the calls were:
          1. each key state row S next to a row R carries R's sequence and deletedness; one without a
             row is a tombstone (deleted, with a sequence); a table that is not sparse has S for every row;
          2. the feed from 0 (sequenced_changes(t, 0)) holds every row once (its sequence, deleted = soft
             deleted, record = to_jsonb(row)) and every tombstone once (deleted, its sequence, no record),
             at distinct positions, and nothing else;
          3. since the table's previous check, no key lost its state (its row or tombstone) and no key's
             stored sequence or feed position went down;
          4. with history on (history_invariants): no key's versions overlap or leave a gap, each
             version's sequence column is its _sdc_valid_from, a delete's version holds nothing but its
             key and sequence, and each key's last version is its current state.
        Run outside any transaction (a writer's own uncommitted changes are above the feed's watermark).
        A problem is reported once (it stays in the table until a later call changes the key)."""
        if st is None or not st.keys:
            return
        t0 = time.time()
        problems = []
        try:
            self.table_invariants(st, problems, inp)
        except psycopg.DatabaseError as e:
            # (a value the table should never have held can make reading it fail)
            problems.append("checking the table failed: %s: %s" % (e.sqlstate, str(e).splitlines()[0][:300]))
        self.check_seconds += time.time() - t0
        self.count("table-checks")
        new = [p for p in problems if (st.relid, p) not in self.table_problems]
        for p in new:
            self.table_problems.add((st.relid, p))
        last = self.last_checked.get(st.relid)
        self.last_checked[st.relid] = inp.i
        if new:
            self.violate(inp, "table", "table %s after input %d: %s\n(the table's previous check was after input %s: "
                                       "the cause is an input since)" %
                         (st.qualname, inp.i, "\n".join(new[:10]), last))

    def table_invariants(self, st, problems, inp):
        c = self.conn
        tdel = S.SQL("t._sdc_deleted_at IS NOT NULL") if st.soft else S.SQL("false")
        tseq = st.seq("t")
        # 1. S against R (under unchanged => 'skip' S's sequence may be ahead of R's: unchanged messages)
        for srow, tpresent, tseqv, td in c.execute(S.SQL(
                "SELECT to_jsonb(s.*)::text, t.ctid IS NOT NULL, {tseq}, {del} FROM {st} s LEFT JOIN {tab} t ON {m} "
                "WHERE CASE WHEN t.ctid IS NULL THEN NOT s.deleted OR s.sequence IS NULL "
                "ELSE {seqbad} OR s.deleted IS DISTINCT FROM ({del}) END "
                "ORDER BY 1 LIMIT 5").format(
                    tseq=tseq, st=S.SQL(st.state), tab=S.SQL(st.rows), m=state_match(st.keys, "s", "t"),
                    seqbad=S.SQL("({t} IS NOT NULL AND (s.sequence IS NULL OR s.sequence < {t}))" if st.loose
                                 else "s.sequence IS DISTINCT FROM {t}").format(t=tseq),
                    **{"del": tdel})).fetchall():
            if tpresent:
                problems.append("key state row %s next to a row with %s = %s, deleted_at set=%s" %
                                (srow, st.seqcol, tseqv, td))
            else:
                problems.append("key state row %s without a row is no tombstone" % srow)
        if not st.sparse:
            for (trow,) in c.execute(S.SQL(
                    "SELECT to_jsonb(t.*)::text FROM {tab} t WHERE NOT EXISTS (SELECT 1 FROM {st} s WHERE {m}) "
                    "ORDER BY 1 LIMIT 5").format(tab=S.SQL(st.rows), st=S.SQL(st.state),
                                                 m=state_match(st.keys, "s", "t"))).fetchall():
                problems.append("row %s has no key state row (table %s keeps one per key)" % (trow, st.qualname))
        # 2. the feed from 0 against the rows and the tombstones
        ckeys = ["c%d" % (j + 1) for j in range(len(st.keys))]
        q = S.SQL(
            "WITH f AS MATERIALIZED ("
            "  SELECT f.pos, f.seq, f.key, f.deleted, f.record, jsonb_populate_record(NULL::{typ}, f.key) AS r "
            "  FROM sequenced_changes({rel}::oid::regclass, 0) f), "
            "cur AS MATERIALIZED ("
            "  SELECT 'row' AS kind, t.tableoid::text || t.ctid::text AS id, {tkeys}, {seq} AS seq, "
            "         {del} AS deleted, to_jsonb(t.*) AS record FROM {tab} t "
            "  UNION ALL "
            "  SELECT 'tombstone', s.ctid::text, {skeys}, s.sequence, true, NULL FROM {st} s "
            "  WHERE s.deleted AND NOT EXISTS (SELECT 1 FROM {tab} t WHERE {m})) "
            "SELECT f.pos, f.key::text, f.seq, f.deleted, f.record IS NULL, cur.kind, cur.id, "
            "       jsonb_build_array({ckeys})::text, cur.seq, cur.deleted, f.record = cur.record, "
            "       jsonb_build_array({kid})::text "
            "FROM f FULL JOIN cur ON {fm}").format(
            typ=S.SQL(st.rowtype), rel=S.Literal(st.relid), seq=tseq, tab=S.SQL(st.rows), st=S.SQL(st.state),
            tkeys=S.SQL(", ").join(S.SQL("t.{} AS {}").format(S.Identifier(k), S.Identifier(ck))
                                   for k, ck in zip(st.keys, ckeys)),
            skeys=S.SQL(", ").join(S.SQL("s.{}").format(S.Identifier("k%d" % (j + 1))) for j in range(len(st.keys))),
            m=state_match(st.keys, "s", "t"),
            ckeys=S.SQL(", ").join(S.SQL("cur.{}").format(S.Identifier(ck)) for ck in ckeys),
            kid=S.SQL(", ").join((S.SQL("trim_scale(cur.{})::text") if numeric else S.SQL("cur.{}::text"))
                                 .format(S.Identifier(ck)) for ck, numeric in zip(ckeys, self.numeric_keys(st))),
            fm=S.SQL(" AND ").join(S.SQL("(f.r).{} = cur.{}").format(S.Identifier(k), S.Identifier(ck))
                                   for k, ck in zip(st.keys, ckeys)),
            **{"del": tdel})
        seen_pos = {}
        seen_id = {}
        known = {}      # key identity (equal keys alike: 1.0 = 1.00) -> (its key, stored sequence, feed position)
        # (the identity is the key's values as text, numerics without trailing zeros: a hash would not
        # do -- hashint8 folds the high half into the low one, so 2147483648 and 2^63 - 1 collide)
        for pos, fkey, fseq, fdel, fnorec, kind, cid, ckey, cseq, cdel, receq, kid in c.execute(q).fetchall():
            if kind is not None:
                known[kid] = (ckey, cseq, pos)
            if pos is None:
                problems.append("the %s of key %s (%s %s, deleted=%s) is not in the feed" %
                                (kind, ckey, st.seqcol, cseq, cdel))
                continue
            seen_pos[pos] = seen_pos.get(pos, 0) + 1
            if kind is None:
                problems.append("the feed has key %s (pos %s seq %s deleted=%s record %s), "
                                "which has neither a row nor a tombstone" %
                                (fkey, pos, fseq, fdel, "NULL" if fnorec else "set"))
                continue
            seen_id[cid] = seen_id.get(cid, 0) + 1
            if fseq != cseq or fdel != cdel or (kind == "row" and not receq) or (kind == "tombstone" and not fnorec):
                problems.append("the feed has key %s at pos %s with seq %s deleted=%s record %s; "
                                "the %s has seq %s deleted=%s%s" %
                                (fkey, pos, fseq, fdel, "NULL" if fnorec else "set", kind, cseq, cdel,
                                 ", another record" if kind == "row" and not fnorec and not receq else ""))
        for cid, n in seen_id.items():
            if n > 1:
                problems.append("a key is in the feed %d times (%s %s)" % (n, st.qualname, cid))
        for pos, n in seen_pos.items():
            if n > 1:
                problems.append("position %s is in the feed %d times" % (pos, n))
        # 3. since the last check of this table: no key lost its state (a row or a tombstone: nothing
        #    here purges, truncates or writes around the functions), and no key's stored sequence or
        #    feed position went down (a lost tombstone leaves 1 and 2 consistent: only this sees it)
        prev = self.known_keys.get(st.relid)
        if prev is not None and prev[0] == (st.stateoid, tuple(st.keys)):
            for kid, (okey, oseq, opos, oi) in prev[1].items():
                cur = known.get(kid)
                if cur is None:
                    problems.append("key %s (stored sequence %s at input %d) has neither a row nor a tombstone "
                                    "any more" % (okey, oseq, oi))
                elif oseq is not None and (cur[1] is None or cur[1] < oseq):
                    problems.append("the stored sequence of key %s went down: %s at input %d, now %s" %
                                    (okey, oseq, oi, cur[1]))
                elif opos is not None and cur[2] is not None and cur[2] < opos:
                    problems.append("the feed position of key %s went down: %s at input %d, now %s" %
                                    (okey, opos, oi, cur[2]))
        self.known_keys[st.relid] = ((st.stateoid, tuple(st.keys)),
                                     {kid: v + (inp.i,) for kid, v in known.items()})
        if st.history and st.histrel:
            self.history_invariants(st, problems)

    HIST_COLS = ["_sdc_valid_from", "_sdc_valid_to", "_sdc_deleted"]

    def history_invariants(self, st, problems):
        """SPEC section 7 on the history table of st, whatever the calls were:
          - per key, in order of _sdc_valid_from: each version ends where the next begins, the last one
            never (NULL), only the first may begin at NULL, none ends at or before it begins (no overlap,
            no gap);
          - each version's sequence column holds its own sequence (its _sdc_valid_from);
          - a delete's version has NULL in every column but the key, the sequence column and the _sdc_ ones;
          - (per_key ordering) each key's last version is its current state: the key's stored sequence
            (the higher of its row's and its key state row's), deleted for a tombstone or a soft-deleted
            row, else the row's values (its sequence column aside under unchanged => 'skip', where the row
            keeps the version it wrote) -- and only keys with a row or a tombstone have a history."""
        c = self.conn
        hk = S.SQL(", ").join(S.SQL("h.{}").format(S.Identifier(k)) for k in st.keys)
        keep = st.keys + [st.seqcol] + self.HIST_COLS
        for key, f, t, nf, sq, d, extra in c.execute(S.SQL(
                "SELECT jsonb_build_array({xk})::text, f, t, nf, s, d, extra FROM ("
                "  SELECT {hk}, h._sdc_valid_from AS f, h._sdc_valid_to AS t, h._sdc_deleted AS d, {hseq} AS s, "
                "         lead(h._sdc_valid_from) OVER w AS nf, lead(true) OVER w AS hn, row_number() OVER w AS rn, "
                "         CASE WHEN h._sdc_deleted THEN (SELECT string_agg(e.key, ',' ORDER BY e.key) "
                "              FROM jsonb_each(to_jsonb(h.*)) e WHERE e.key <> ALL (%s) AND e.value <> 'null') END "
                "           AS extra "
                "  FROM {h} h WINDOW w AS (PARTITION BY {hk} ORDER BY h._sdc_valid_from NULLS FIRST)) x "
                "WHERE (hn IS NULL AND t IS NOT NULL) OR (hn AND t IS DISTINCT FROM nf) OR (f IS NULL AND rn > 1) "
                "   OR (f IS NOT NULL AND t IS NOT NULL AND t <= f) OR s IS DISTINCT FROM f OR extra IS NOT NULL "
                "ORDER BY 1, 2 LIMIT 5").format(
                    xk=S.SQL(", ").join(S.SQL("x.{}").format(S.Identifier(k)) for k in st.keys), hk=hk,
                    hseq=st.seq("h"), h=S.SQL(st.histrel)), (keep,)).fetchall():
            if extra is not None:
                problems.append("history of key %s: the delete's version at %s holds values in %s" % (key, f, extra))
            elif sq != f:
                problems.append("history of key %s: the version from %s has %s = %s" % (key, f, st.seqcol, sq))
            else:
                problems.append("history of key %s: the version [%s, %s) is followed by one from %s "
                                "(overlap or gap)" % (key, f, t, nf))
        if st.per_table:
            return
        drop = S.Literal([st.seqcol] if st.loose else [])
        tdel = S.SQL("t._sdc_deleted_at IS NOT NULL") if st.soft else S.SQL("false")
        ck = ["c%d" % (j + 1) for j in range(len(st.keys))]
        for key, cseq, cdel, lf, ld, same, kind in c.execute(S.SQL(
                "WITH last AS MATERIALIZED (SELECT h.* FROM {h} h WHERE h._sdc_valid_to IS NULL), "
                "cur AS MATERIALIZED ("
                "  SELECT {tkeys}, greatest({tseq}, s.sequence) AS seq, {del} AS deleted, to_jsonb(t.*) AS rec "
                "  FROM {tab} t LEFT JOIN {st} s ON {m} "
                "  UNION ALL "
                "  SELECT {skeys}, s.sequence, true, NULL FROM {st} s "
                "  WHERE s.deleted AND NOT EXISTS (SELECT 1 FROM {tab} t WHERE {m})) "
                "SELECT (CASE WHEN cur.deleted IS NULL THEN jsonb_build_array({lastk}) ELSE jsonb_build_array({curk}) END)::text, "
                "       cur.seq, cur.deleted, "
                "       last._sdc_valid_from, last._sdc_deleted, "
                "       (cur.rec - {drop}::text[]) = (to_jsonb(last.*) - {drop}::text[] - {hc}::text[]), "
                "       CASE WHEN cur.deleted IS NULL THEN 'no state' WHEN last._sdc_deleted IS NULL THEN 'no history' END "
                "FROM cur FULL JOIN last ON {fm} "
                "WHERE cur.deleted IS NULL OR last._sdc_deleted IS NULL OR cur.seq IS DISTINCT FROM last._sdc_valid_from "
                "   OR cur.deleted <> last._sdc_deleted "
                "   OR (NOT cur.deleted AND (cur.rec - {drop}::text[]) <> (to_jsonb(last.*) - {drop}::text[] - {hc}::text[])) "
                "ORDER BY 1 LIMIT 5").format(
                    h=S.SQL(st.histrel), tab=S.SQL(st.rows), st=S.SQL(st.state), m=state_match(st.keys, "s", "t"),
                    tkeys=S.SQL(", ").join(S.SQL("t.{} AS {}").format(S.Identifier(k), S.Identifier(c_))
                                           for k, c_ in zip(st.keys, ck)),
                    skeys=S.SQL(", ").join(S.SQL("s.{}").format(S.Identifier("k%d" % (j + 1)))
                                           for j in range(len(st.keys))),
                    tseq=st.seq("t"), drop=drop, hc=S.Literal(self.HIST_COLS),
                    curk=S.SQL(", ").join(S.SQL("cur.{}").format(S.Identifier(c_)) for c_ in ck),
                    lastk=S.SQL(", ").join(S.SQL("last.{}").format(S.Identifier(k)) for k in st.keys),
                    fm=S.SQL(" AND ").join(S.SQL("cur.{} = last.{}").format(S.Identifier(c_), S.Identifier(k))
                                           for k, c_ in zip(st.keys, ck)),
                    **{"del": tdel})).fetchall():
            if kind == "no state":
                problems.append("history of key %s ends with a version from %s (deleted=%s), but the key has "
                                "neither a row nor a tombstone" % (key, lf, ld))
            elif kind == "no history":
                problems.append("key %s (stored sequence %s, deleted=%s) has no current version in the history" %
                                (key, cseq, cdel))
            else:
                problems.append("key %s: stored sequence %s deleted=%s, but its last version is from %s deleted=%s%s" %
                                (key, cseq, cdel, lf, ld, "" if same or cdel else ", with other values"))

    def check_staging(self, inp):
        if inp.staging == "fz_stg_ts_num" and inp.stg_rows:
            self.violate(inp, "output", "a staging table whose sequence column is a number applied %d rows to a "
                                        "timestamptz-sequenced table" % len(inp.stg_rows))
            return
        if inp.staging == "fz_stg_typed" or inp.row_level:
            return
        # the applied rows were removed from the staging table
        n = self.conn.execute(S.SQL("SELECT count(*) FROM {}").format(S.Identifier(inp.staging))).fetchone()[0]
        if n != 0:
            self.violate(inp, "output", "%d rows left in staging table %s (no 'keep')" % (n, inp.staging))

    # -- housekeeping ------------------------------------------------------------------
    def housekeeping(self):
        c = self.conn
        c.execute("TRUNCATE fz_stg_typed, fz_stg_txt, fz_stg_comp, fz_stg_row, fz_stg_skip, fz_stg_ts, fz_stg_ts_txt, "
                  "fz_stg_ts_num")
        st = self.state_rel.get("fz_app")
        c.execute("TRUNCATE fz_app")
        if st:
            c.execute(S.SQL("TRUNCATE {}").format(S.SQL(st.state)))

    def alive(self):
        t = self.conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
        return t == self.start_time

    def wait_for_server(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                self.conn = self.connect(self.dbname)
                return True
            except psycopg.OperationalError:
                time.sleep(1)
        return False

    def run(self):
        a = self.args
        self.setup()
        t0 = time.time()
        last_report = t0
        end = a.start + a.count
        i = a.start
        while i < end:
            if a.time_limit and time.time() - t0 > a.time_limit:
                print("time limit of %ss reached after %d inputs" % (a.time_limit, self.inputs))
                break
            inp = self.gen.make(i)
            self.count("op:" + inp.op)
            try:
                self.run_one(inp)
            except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                self.violate(inp, "crash", "connection lost: %s" % e)
                if not self.wait_for_server():
                    print("server did not come back; stopping")
                    break
                self.start_time = self.conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
            except Exception:
                self.violate(inp, "client", traceback.format_exc())
                try:
                    self.conn.execute("ROLLBACK")
                    self.conn.execute("RESET ROLE")
                except Exception:
                    pass
            self.inputs += 1
            if i % 100 == 99:
                try:
                    if not self.alive():
                        self.violate(inp, "crash", "pg_postmaster_start_time changed: the server restarted")
                        self.start_time = self.conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
                except psycopg.OperationalError as e:
                    self.violate(inp, "crash", "connection lost: %s" % e)
                    self.wait_for_server()
            if i % 1000 == 999:
                self.housekeeping()
            if a.drain_every and i % a.drain_every == a.drain_every - 1:
                try:
                    self.drain_all(i)
                except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                    self.violate(inp, "crash", "connection lost in a drain: %s" % e)
                    self.wait_for_server()
            if time.time() - last_report > 30:
                last_report = time.time()
                print("... %d inputs, %d violations, %.0f inputs/s" %
                      (self.inputs, len(self.violations), self.inputs / (time.time() - t0)), flush=True)
            i += 1
        try:
            if not self.alive():
                self.violate(Input(i), "crash", "pg_postmaster_start_time changed")
            self.drain_all(i)       # every consumer, once more
            # every keyed table once more, the import-made ones too
            for st in self.registered_keyed():
                end = Input(i)
                end.op, end.table = "end", st.qualname
                try:
                    self.check_table(end, st)
                except psycopg.OperationalError:
                    raise
                except Exception:
                    self.violate(end, "client", traceback.format_exc())
        except psycopg.OperationalError as e:
            self.violate(Input(i), "crash", "connection lost at the end: %s" % e)
        elapsed = time.time() - t0
        self.report(elapsed)
        self.teardown()
        return 1 if self.violations else 0

    def report(self, elapsed):
        print()
        print("pg_sequenced fuzz: seed %s, inputs %d..%d: %d inputs in %.1f s (%.0f/s)" %
              (self.args.seed, self.args.start, self.args.start + self.inputs - 1, self.inputs, elapsed,
               self.inputs / max(elapsed, 0.001)))
        ops = sorted(k[3:] for k in self.stats if k.startswith("op:"))
        print("  %-10s %8s %8s %8s %8s" % ("op", "inputs", "ok", "errors", "json-rej"))
        for op in ops:
            print("  %-10s %8d %8d %8d %8d" % (op, self.stats.get("op:" + op, 0), self.stats.get("ok:" + op, 0),
                                               self.stats.get("error:" + op, 0),
                                               self.stats.get("json-rejected:" + op, 0) +
                                               self.stats.get("client-rejected:" + op, 0)))
        if self.args.verbose:
            print("  distinct errors (op, sqlstate, message):")
            for (op, st, m), i in sorted(self.errors.items()):
                print("    %-9s %s %s  [input %d]" % (op, st, m[:110], i))
        kinds = sorted(k[10:] for k in self.stats if k.startswith("violation:"))
        print("  distinct error kinds: %d" % len(self.errors))
        print("  crashes: %d, XX errors: %d, errors without position: %d, state changed after error: %d" %
              (self.stats.get("violation:crash", 0), self.stats.get("violation:xx", 0),
               self.stats.get("violation:position", 0), self.stats.get("violation:state", 0)))
        print("  table checks (key state against rows, feed from 0 against rows and tombstones, history): %d, %.1f s" %
              (self.stats.get("table-checks", 0), self.check_seconds))
        print("  outcomes unchanged: %d (%d checked against the rows before and after); sequenced_delete_missing: "
              "%d keys deleted, %d breaker trips; counts checked against a query: %d" %
              (self.stats.get("outcome:unchanged", 0), self.stats.get("unchanged-rows-checked", 0),
               self.stats.get("dm-deleted", 0), self.stats.get("dm-breaker", 0), self.stats.get("dm-sql-count", 0)))
        print("  consumers: %d deliveries received (%d of them in %d drains), %d acknowledged, %d nacked, %d rewinds, "
              "%d created; drains checked %d feed entries against what was received; %.1f s" %
              (self.stats.get("c-delivered", 0), self.stats.get("c-drained", 0), self.stats.get("c-drains", 0),
               self.stats.get("c-acked", 0), self.stats.get("c-nacked", 0), self.stats.get("c-rewinds", 0),
               self.stats.get("c-created", 0), self.stats.get("c-drain-keys", 0), self.consumer_seconds))
        print("  violations: %d%s" % (len(self.violations),
                                      (" (" + ", ".join("%s %d" % (k, self.stats["violation:" + k]) for k in kinds) + ")")
                                      if kinds else ""))
        if self.violations:
            sig = {}
            for i, kind, detail, path in self.violations:
                k = (kind, norm_msg(detail.splitlines()[0] if detail else ""))
                if k not in sig:
                    sig[k] = [0, i, path]
                sig[k][0] += 1
            print("  distinct violations (kind, message: count, first input, reproducer):")
            for (kind, m), (n, i, path) in sorted(sig.items(), key=lambda x: x[1][1]):
                print("    %-8s %s: %d, input %d, %s" % (kind, m[:120], n, i, path))
        print("RESULT: %s" % ("FAIL" if self.violations else "PASS"))


def table_ident(name):
    """(schema, table) that an import table_name (or a fuzz table) names: split on
    a single inner dot, as sequenced_import does; the name as PostgreSQL stores it
    (at most 63 bytes)."""
    if name.count(".") == 1 and not name.startswith(".") and not name.endswith("."):
        a, b = name.split(".")
    else:
        a, b = "public", name
    return a, b.encode()[:63].decode("utf-8", "ignore")


def quote_table(name):
    """The SQL name of a fuzz or import table name."""
    if name in (NO_TABLE, NO_IMPORT_TABLE):
        return name
    if name in TABLES:
        return name
    a, b = table_ident(name)
    return '"%s"."%s"' % (a.replace('"', '""'), b.replace('"', '""'))


def key_match(keys, t, r):
    """t.k = r.k over the key columns, by name (r: a row of the table's type)."""
    return S.SQL(" AND ").join(S.SQL("{t}.{c} = {r}.{c}").format(t=S.SQL(t), r=S.SQL(r), c=S.Identifier(k))
                               for k in keys)


def state_match(keys, s, r):
    """s.k1 = r.<first key column> AND ... (s: the key state, whose columns are k1..kn)."""
    return S.SQL(" AND ").join(S.SQL("{s}.{sk} = {r}.{c}").format(s=S.SQL(s), r=S.SQL(r), c=S.Identifier(k),
                                                                  sk=S.Identifier("k%d" % (j + 1)))
                               for j, k in enumerate(keys))


def key_outcome_problem(st, outcome, seq, tpresent, tseq, tdel, spresent, sseq, sdel):
    """What is wrong with a key after a call reported `outcome` for its message of sequence seq,
    given its row (tpresent, tseq: the sequence column, tdel: _sdc_deleted_at set) and its key state
    row (spresent, sseq, sdel); None when nothing is.  The rules of Design T (src/direct.c,
    src/keystate.c): an S row next to a row carries the row's sequence and deletedness; a key with no
    row is deleted only by a tombstone (S.deleted); a table that is not sparse has S for every key."""
    row = "row: present=%s seq=%s deleted_at set=%s" % (tpresent, tseq, tdel)
    state = "key state row: present=%s sequence=%s deleted=%s" % (spresent, sseq, sdel)
    if spresent and tpresent and st.loose:
        # unchanged => 'skip': the key's sequence may have moved on from its row's (unchanged messages)
        if sdel != tdel or (tseq is not None and (sseq is None or sseq < tseq)):
            return "%s disagrees with the %s (unchanged => 'skip': deletedness equal, its sequence at " \
                   "least the row's)" % (state, row)
    elif spresent and tpresent and (sseq != tseq or sdel != tdel):
        return "%s disagrees with the %s" % (state, row)
    if spresent and not tpresent and not sdel:
        return "%s but no row (only a tombstone may stand for a key without a row)" % state
    if tpresent and not spresent and not st.sparse:
        return "%s, but no key state row (table %s keeps one per key)" % (row, st.qualname)
    if outcome in ("inserted", "updated"):
        if not tpresent or tseq != seq or tdel:
            return row
        if st.skip and spresent and sseq != seq:
            return "%s after a write at %s" % (state, seq)
    elif outcome == "unchanged":
        # the row stays as it was (its sequence column too: at most the message's, below it under keep)
        # while the key's sequence takes the message's
        if not tpresent or tdel or not spresent or sseq != seq or sdel or \
                (tseq is not None and (tseq > seq or (tseq == seq and st.on_equal != "replace"))):
            return "unchanged: %s, %s" % (row, state)
    elif outcome == "deleted":
        if tpresent and not st.soft:
            return "row still there after a hard delete (seq %s)" % tseq
        if tpresent and (not tdel or tseq != seq):
            return "soft-deleted row: deleted_at set=%s seq=%s" % (tdel, tseq)
        if not tpresent and (not spresent or sseq != seq or not sdel):
            return "no row, so a tombstone: %s" % state
    elif outcome == "stale" and not st.per_table:
        stored = [v for p, v in ((tpresent, tseq), (spresent, sseq)) if p and v is not None]
        if not tpresent and not spresent:
            return "stale, but nothing is stored for the key"
        if not stored:
            return "stale, but the stored sequence is NULL (older than any message): %s, %s" % (row, state)
        if max(stored) < seq or (max(stored) == seq and st.on_equal == "replace"):
            return "stale, but the stored sequence is %s (%s, %s)" % (max(stored), row, state)
    return None


def dm_sql(inp):
    """sequenced_delete_missing(_count) of an input: (query, parameters)."""
    args = [S.SQL("%s::regclass"), S.SQL("%s::bigint")]
    params = [quote_table(inp.table), inp.seq]
    if inp.op == "delete_missing" and inp.mf_given:
        args.append(S.SQL("max_fraction => %s::float8"))
        params.append(inp.max_fraction)
    if inp.scope_given:
        args.append(S.SQL("scope => %s::jsonb"))
        params.append(inp.json)
    if inp.op == "dm_count":
        return S.SQL("SELECT live, missing FROM sequenced_delete_missing_count({})").format(
            S.SQL(", ").join(args)), params
    return S.SQL("SELECT ord, key::text, seq, outcome FROM sequenced_delete_missing({})").format(
        S.SQL(", ").join(args)), params


REG_TYPES = {"history": "boolean", "key_columns": "text[]"}


def register_sql(inp):
    args = [S.SQL("%s::regclass")]
    params = [quote_table(inp.table)]
    for name, v in inp.reg_args:
        args.append(S.SQL("{} => %s::{}").format(S.Identifier(name), S.SQL(REG_TYPES.get(name, "text"))))
        params.append(v)
    return S.SQL("SELECT sequenced_register({})").format(S.SQL(", ").join(args)), params


def sql_value(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "'%r'::float8" % v if v == v and v not in (float("inf"), float("-inf")) else \
            "'%s'::float8" % ("NaN" if v != v else ("Infinity" if v > 0 else "-Infinity"))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return sql_literal("{" + ",".join('"%s"' % x.replace('"', '\\"') for x in v) + "}") + "::text[]"
    return sql_literal(v)


def is_json_number(v):
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    return isinstance(v, Raw) and re.match(r"^-?[0-9]", v.t) is not None


def json_loads_key(text, keys):
    """A key (as the output shows it) as a tuple that sorts as the key index does, or None when its
    columns are not all integers and texts (text under the fuzz database's C collation: code point order)."""
    try:
        d = json.loads(text)
    except Exception:
        return None
    vals = tuple(d.get(k) for k in keys)
    if all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in vals):
        return vals
    return None


def norm_msg(m):
    m = re.sub(r"\d+", "N", m or "")
    m = re.sub(r'"[^"]*"', '"…"', m)
    return m[:160]


def sql_literal(s):
    if s is None:
        return "NULL"
    return "'" + s.replace("'", "''") + "'"


def render_sql(inp):
    """The input as a psql script (for reproducers and --show)."""
    if inp.op.startswith("c_") or inp.op == "drain":
        s = render_consumer(inp)
        if inp.role:
            s = "SET ROLE %s;\n%s\nRESET ROLE;" % (inp.role, s)
        return s + "\n"
    t = sql_literal(quote_table(inp.table))
    out = []
    if inp.role:
        out.append("SET ROLE %s;" % inp.role)
    if inp.op == "upsert3":
        out.append("SELECT * FROM sequenced_upsert(%s::regclass, %s::jsonb, %s);" %
                   (t, sql_literal(inp.json), "NULL" if inp.seq is None else inp.seq))
    elif inp.op == "delete3":
        out.append("SELECT * FROM sequenced_delete(%s::regclass, %s::jsonb, %s);" %
                   (t, sql_literal(inp.json), "NULL" if inp.seq is None else inp.seq))
    elif inp.op == "upsert2":
        out.append("SELECT * FROM sequenced_upsert(%s::regclass, %s::jsonb);" % (t, sql_literal(inp.json)))
    elif inp.op == "import":
        out.append("SELECT * FROM sequenced_import(%s::jsonb);" % sql_literal(inp.json))
    elif inp.op in ("delete_missing", "dm_count"):
        args = [t + "::regclass", "NULL" if inp.seq is None else str(inp.seq)]
        if inp.op == "delete_missing" and inp.mf_given:
            args.append("max_fraction => %s" % sql_value(inp.max_fraction))
        if inp.scope_given:
            args.append("scope => %s::jsonb" % sql_literal(inp.json))
        out.append("SELECT * FROM %s(%s);" % ("sequenced_delete_missing_count" if inp.op == "dm_count"
                                              else "sequenced_delete_missing", ", ".join(args)))
    elif inp.op == "register":
        out.append("SELECT sequenced_register(%s::regclass, %s);" %
                   (t, ", ".join("%s => %s" % (n, sql_value(v)) for n, v in inp.reg_args)))
    else:
        cols = ", ".join('"%s"' % c.replace('"', '""') for c in inp.stg_cols)
        vals = []
        for row in inp.stg_rows:
            vals.append("(" + ", ".join("NULL" if v is None else ("%s" % v if isinstance(v, (bool, int)) else sql_literal(str(v)))
                                        for v in row) + ")")
        if vals:
            out.append("INSERT INTO %s (%s) VALUES\n  %s;" % (inp.staging, cols, ",\n  ".join(vals)))
        else:
            out.append("INSERT INTO %s (%s) SELECT %s WHERE false;" % (inp.staging, cols,
                                                                         ", ".join("NULL" for _ in inp.stg_cols)))
    if inp.role:
        out.append("RESET ROLE;")
    return "\n".join(out) + "\n"


PROFILES = {"quick": dict(count=3000, time_limit=55, huge_rate=0.02, table_check_every=1),
            "long": dict(count=100000, time_limit=0, huge_rate=0.01, table_check_every=10)}


def main():
    ap = argparse.ArgumentParser(description="pg_sequenced fuzzer")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--start", type=int, default=0, help="first input number")
    ap.add_argument("--count", type=int, help="number of inputs (default: the profile's)")
    ap.add_argument("--time-limit", type=float, help="stop after this many seconds (0: none)")
    ap.add_argument("--huge-rate", type=float, help="rate of 1 MB strings / 100k arrays")
    ap.add_argument("--statement-timeout", type=float, default=60)
    ap.add_argument("--table-check-every", type=int,
                    help="check a table's key state and feed after a successful call on it when this many "
                         "inputs passed since its last check (default: the profile's; always at the end)")
    ap.add_argument("--drain-every", type=int, default=300,
                    help="drain every consumer every this many inputs (0: only at the end)")
    ap.add_argument("--db", default="pg_sequenced_fuzz")
    ap.add_argument("--keep", action="store_true", help="keep the database")
    ap.add_argument("--out", default=os.environ.get("FUZZ_OUT", "/tmp/pg_sequenced-fuzz"),
                    help="where reproducers of violations go")
    ap.add_argument("--show", action="store_true", help="print the inputs as SQL, run nothing")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    prof = PROFILES[a.profile]
    if a.count is None:
        a.count = prof["count"]
    if a.time_limit is None:
        a.time_limit = prof["time_limit"]
    if a.huge_rate is None:
        a.huge_rate = prof["huge_rate"]
    if a.table_check_every is None:
        a.table_check_every = prof["table_check_every"]
    if a.show:
        g = Gen(a.seed, a.huge_rate)
        for i in range(a.start, a.start + a.count):
            inp = g.make(i)
            print("-- input %d: %s on %s%s%s" % (i, inp.op, inp.table, " (in a transaction)" if inp.txn else "",
                                                 " (hostile records %s)" % sorted(inp.hostile)[:20]))
            s = render_sql(inp)
            print(s if len(s) < 20000 else s[:20000] + "\n-- ... (%d characters)" % len(s))
        return 0
    return Fuzzer(a).run()


if __name__ == "__main__":
    sys.exit(main())
