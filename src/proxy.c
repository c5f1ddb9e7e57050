/*-------------------------------------------------------------------------
 *
 * proxy.c
 *		The proxy side's C (SPEC section 9): the key hash, and the split of
 *		a batch into one part per shard.  Used by the pg_sequenced_proxy
 *		extension (sql/pg_sequenced_proxy--0.2.sql) on a PL/Proxy server
 *		that has no copy of the target table; nothing here reads a table.
 *
 * The key hash is a fixed function of a key's values, the same on every
 * server, platform and release.  Each key column's JSON value is first
 * converted as a shard converts it (the JSON scalar's text through the
 * column type's input function, with the column's type modifier), so that
 * equal stored keys hash alike whatever form they were sent in ("2" and 2
 * into an integer key, "1.0" and 1 into a numeric one).  The converted
 * value is then written in a canonical text that depends neither on
 * settings (DateStyle, TimeZone, extra_float_digits) nor on the machine:
 *
 *	 smallint, integer, bigint	decimal digits, "-" for negatives
 *	 numeric					trim_scale(v) as numeric prints it ("1.5", "NaN")
 *	 text, varchar				the string
 *	 character(n)				the string without trailing spaces
 *	 uuid						lowercase 8-4-4-4-12 hex
 *	 boolean					"true" or "false"
 *	 date						days since 2000-01-01, decimal ("infinity", "-infinity")
 *	 timestamp, timestamptz		microseconds since 2000-01-01 00:00:00 (UTC for
 *								timestamptz), decimal ("infinity", "-infinity")
 *	 enum						the label (not converted: the shard checks it)
 *
 * in UTF-8.  Domains count as their base type.  Other key types are
 * refused (0A000): their equality is not their text's (interval, float,
 * citext, json) or nobody keys on them; adding one later is a new class
 * here, and never changes an existing one.
 *
 * The hash of key (c1, ..., ck), column values in key column order, is
 *
 *	 H = low 32 bits of fmix64(fnv1a64(frame(c1) || ... || frame(ck)))
 *
 * read as a signed int4, where frame(c) is the canonical text's byte
 * length as 4 bytes big-endian followed by its bytes; fnv1a64 is 64-bit
 * FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3) and fmix64
 * MurmurHash3's 64-bit finalizer.  The key's shard is H & (n - 1) for n
 * shards (PL/Proxy's rule; n is a power of two).  Both steps are byte-wise
 * arithmetic on uint64, so no byte order or word size enters.  A few
 * values are pinned by test/t/010_proxy.pl: a change of this function
 * would move existing keys to other shards, and must fail that test.
 *
 * The split (sequenced_proxy_split) walks a batch once: it checks what a
 * shard would refuse about a message's shape, action, sequence and key
 * (with the same SQLSTATEs and messages, naming the position in the whole
 * batch, which a shard cannot), hashes the key and appends the message's
 * JSON text to its shard's part, and the message's 1-based position to
 * that part's position list.  Messages keep their batch order within a
 * part, so ties between messages of one key are decided on the shard as
 * on a single server.  Parts are text (a JSON array), not jsonb: PL/Proxy
 * would print a jsonb argument as text anyway, and the shard parses each
 * part once.  Append-only tables (no key) are spread round robin by
 * position.
 *
 * Memory: everything is allocated in the calling function's context; a
 * scratch context is reset per message.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "jsonvalue.h"

PG_FUNCTION_INFO_V1(sequenced_proxy_key_hash);
PG_FUNCTION_INFO_V1(sequenced_proxy_split);

/* the most shards a cluster may have (PL/Proxy has no limit; this is sanity) */
#define PROXY_MAX_PARTS 65536

typedef enum KeyClass
{
	KC_INT,
	KC_NUMERIC,
	KC_TEXT,
	KC_BPCHAR,
	KC_UUID,
	KC_BOOL,
	KC_DATE,
	KC_TIMESTAMP,
	KC_LABEL
} KeyClass;

typedef struct ProxyKeyCol
{
	char	   *name;
	KeyClass	cls;
	Oid			typid;			/* base type (InvalidOid for KC_LABEL) */
	int32		typmod;
	FmgrInfo	inproc;
	Oid			ioparam;
} ProxyKeyCol;

typedef struct ProxyKeys
{
	int			nkeys;
	ProxyKeyCol *cols;
	const char *schema;			/* for error fields; may be NULL */
	const char *table;
} ProxyKeys;

/* where the split is, for the error context */
typedef struct ProxyErrPos
{
	int			ord;
	const char *column;
	const ProxyKeys *keys;
} ProxyErrPos;

static void
proxy_error_callback(void *arg)
{
	ProxyErrPos *p = (ProxyErrPos *) arg;

	if (p->ord <= 0)
		return;
	if (p->column)
		errcontext("record %d, column \"%s\"", p->ord, p->column);
	else
		errcontext("record %d", p->ord);
	if (p->keys->table != NULL &&
		ERRCODE_TO_CATEGORY(geterrcode()) != ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
	{
		if (p->keys->schema)
			err_generic_string(PG_DIAG_SCHEMA_NAME, p->keys->schema);
		err_generic_string(PG_DIAG_TABLE_NAME, p->keys->table);
		if (p->column)
			err_generic_string(PG_DIAG_COLUMN_NAME, p->column);
	}
}

static char **
text_array_strings(ArrayType *arr, const char *what, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain nulls", what)));
		out[i] = TextDatumGetCString(elems[i]);
	}
	return out;
}

/*
 * The key columns and their types, as the proxy's registration stores them:
 * a type's name with its modifier as format_type prints it on the shard
 * (the base type of a domain), or "enum" for an enum type (which the proxy
 * need not have).
 */
static void
proxy_keys_init(ProxyKeys *k, ArrayType *colsarr, ArrayType *typesarr)
{
	int			ncols,
				ntypes;
	char	  **cols = text_array_strings(colsarr, "key_columns", &ncols);
	char	  **types = text_array_strings(typesarr, "key_types", &ntypes);

	if (ncols != ntypes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key_columns has %d elements and key_types %d", ncols, ntypes)));
	k->nkeys = ncols;
	k->cols = palloc0(sizeof(ProxyKeyCol) * Max(ncols, 1));
	for (int i = 0; i < ncols; i++)
	{
		ProxyKeyCol *c = &k->cols[i];
		Oid			infunc;

		c->name = cols[i];
		if (strcmp(types[i], "enum") == 0)
		{
			c->cls = KC_LABEL;
			c->typid = InvalidOid;
			continue;
		}
		parseTypeString(types[i], &c->typid, &c->typmod, false);
		c->typid = getBaseTypeAndTypmod(c->typid, &c->typmod);
		switch (c->typid)
		{
			case INT2OID:
			case INT4OID:
			case INT8OID:
				c->cls = KC_INT;
				break;
			case NUMERICOID:
				c->cls = KC_NUMERIC;
				break;
			case TEXTOID:
			case VARCHAROID:
				c->cls = KC_TEXT;
				break;
			case BPCHAROID:
				c->cls = KC_BPCHAR;
				break;
			case UUIDOID:
				c->cls = KC_UUID;
				break;
			case BOOLOID:
				c->cls = KC_BOOL;
				break;
			case DATEOID:
				c->cls = KC_DATE;
				break;
			case TIMESTAMPOID:
			case TIMESTAMPTZOID:
				c->cls = KC_TIMESTAMP;
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("key column \"%s\" has type %s, which the proxy's key hash does not support",
								c->name, format_type_with_typemod(c->typid, c->typmod)),
						 errhint("Key columns behind the proxy may be smallint, integer, bigint, numeric, text, varchar, character, uuid, boolean, date, timestamp, timestamptz, an enum, or a domain over one of these.")));
		}
		getTypeInputInfo(c->typid, &infunc, &c->ioparam);
		fmgr_info(infunc, &c->inproc);
	}
}

static void
append_frame(StringInfo buf, const char *s, int len, bool to_utf8)
{
	char	   *u = (char *) s;
	uint32		n;
	unsigned char be[4];

	if (to_utf8)
	{
		u = pg_server_to_any(s, len, PG_UTF8);
		if (u != s)
			len = strlen(u);
	}
	n = (uint32) len;
	be[0] = (n >> 24) & 0xff;
	be[1] = (n >> 16) & 0xff;
	be[2] = (n >> 8) & 0xff;
	be[3] = n & 0xff;
	appendBinaryStringInfo(buf, (char *) be, 4);
	appendBinaryStringInfo(buf, u, len);
}

static void
append_int64_frame(StringInfo buf, int64 v)
{
	char		digits[MAXINT8LEN + 1];
	int			len = pg_lltoa(v, digits);

	append_frame(buf, digits, len, false);
}

/* Convert one key value (its JSON text s) and append its canonical frame */
static void
append_key_frame(StringInfo buf, ProxyKeyCol *c, char *s)
{
	Datum		d;

	if (c->cls == KC_LABEL)
	{
		append_frame(buf, s, strlen(s), true);
		return;
	}
	d = InputFunctionCall(&c->inproc, s, c->ioparam, c->typmod);
	switch (c->cls)
	{
		case KC_INT:
			append_int64_frame(buf,
							   c->typid == INT2OID ? (int64) DatumGetInt16(d) :
							   c->typid == INT4OID ? (int64) DatumGetInt32(d) :
							   DatumGetInt64(d));
			break;
		case KC_NUMERIC:
			{
				Datum		t = DirectFunctionCall1(numeric_trim_scale, d);
				char	   *out = DatumGetCString(DirectFunctionCall1(numeric_out, t));

				append_frame(buf, out, strlen(out), false);
			}
			break;
		case KC_TEXT:
			{
				text	   *t = DatumGetTextPP(d);

				append_frame(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true);
			}
			break;
		case KC_BPCHAR:
			{
				text	   *t = DatumGetTextPP(d);
				const char *p = VARDATA_ANY(t);
				int			len = VARSIZE_ANY_EXHDR(t);

				while (len > 0 && p[len - 1] == ' ')
					len--;
				append_frame(buf, p, len, true);
			}
			break;
		case KC_UUID:
			{
				char	   *out = DatumGetCString(DirectFunctionCall1(uuid_out, d));

				append_frame(buf, out, strlen(out), false);
			}
			break;
		case KC_BOOL:
			append_frame(buf, DatumGetBool(d) ? "true" : "false", DatumGetBool(d) ? 4 : 5, false);
			break;
		case KC_DATE:
			{
				DateADT		v = DatumGetDateADT(d);

				if (DATE_IS_NOBEGIN(v))
					append_frame(buf, "-infinity", 9, false);
				else if (DATE_IS_NOEND(v))
					append_frame(buf, "infinity", 8, false);
				else
					append_int64_frame(buf, (int64) v);
			}
			break;
		case KC_TIMESTAMP:
			{
				Timestamp	v = DatumGetTimestamp(d);

				if (TIMESTAMP_IS_NOBEGIN(v))
					append_frame(buf, "-infinity", 9, false);
				else if (TIMESTAMP_IS_NOEND(v))
					append_frame(buf, "infinity", 8, false);
				else
					append_int64_frame(buf, (int64) v);
			}
			break;
		case KC_LABEL:
			break;				/* handled above */
	}
}

/* 64-bit FNV-1a, then MurmurHash3's fmix64; the low 32 bits */
static int32
proxy_hash_bytes(const unsigned char *p, size_t len)
{
	uint64		h = UINT64CONST(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++)
	{
		h ^= p[i];
		h *= UINT64CONST(0x100000001b3);
	}
	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return (int32) (uint32) (h & UINT64CONST(0xffffffff));
}

/*
 * The hash of the key held by record (a JSON object), or a 23502 error for
 * a missing or null key column.  ord names the record in errors (0: none).
 */
static int32
proxy_record_hash(ProxyKeys *k, JsonbContainer *record, int ord, StringInfo buf,
				  ProxyErrPos *errpos)
{
	resetStringInfo(buf);
	for (int i = 0; i < k->nkeys; i++)
	{
		ProxyKeyCol *c = &k->cols[i];
		JsonbValue	v;
		int64		i64;

		if (getKeyJsonValueFromContainer(record, c->name, strlen(c->name), &v) == NULL ||
			v.type == jbvNull)
		{
			if (ord > 0)
				ereport(ERROR,
						(errcode(ERRCODE_NOT_NULL_VIOLATION),
						 errmsg("record %d has no value for key column \"%s\"", ord, c->name),
						 errhint("Every record must carry all key columns of table \"%s\".",
								 k->table ? k->table : "?"),
						 k->schema ? err_generic_string(PG_DIAG_SCHEMA_NAME, k->schema) : 0,
						 k->table ? err_generic_string(PG_DIAG_TABLE_NAME, k->table) : 0,
						 err_generic_string(PG_DIAG_COLUMN_NAME, c->name)));
			else
				ereport(ERROR,
						(errcode(ERRCODE_NOT_NULL_VIOLATION),
						 errmsg("the key has no value for key column \"%s\"", c->name)));
		}
		errpos->column = c->name;
		if (c->cls == KC_INT && v.type == jbvNumeric &&
			convert_numeric_to_int64(v.val.numeric, &i64) &&
			(c->typid == INT8OID ||
			 (c->typid == INT4OID && i64 >= PG_INT32_MIN && i64 <= PG_INT32_MAX) ||
			 (c->typid == INT2OID && i64 >= PG_INT16_MIN && i64 <= PG_INT16_MAX)))
			append_int64_frame(buf, i64);	/* what the input function would give */
		else
			append_key_frame(buf, c, convert_scalar_text(&v));
		errpos->column = NULL;
	}
	return proxy_hash_bytes((unsigned char *) buf->data, buf->len);
}

/*
 * sequenced_proxy_key_hash(key jsonb, key_columns text[], key_types text[])
 *		RETURNS int4
 *
 * The hash of one key (a JSON object naming the key columns, as the apply
 * functions' output "key" does).  STABLE: converting a timestamptz or date
 * from text depends on TimeZone and DateStyle, as it does on the shards.
 */
Datum
sequenced_proxy_key_hash(PG_FUNCTION_ARGS)
{
	Jsonb	   *key = PG_GETARG_JSONB_P(0);
	ProxyKeys	k;
	StringInfoData buf;
	ErrorContextCallback errcb;
	ProxyErrPos errpos = {0};
	int32		h;

	memset(&k, 0, sizeof(k));
	proxy_keys_init(&k, PG_GETARG_ARRAYTYPE_P(1), PG_GETARG_ARRAYTYPE_P(2));
	if (!JB_ROOT_IS_OBJECT(key))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a key must be a JSON object of key columns and values")));
	if (k.nkeys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an append-only table has no key to hash")));
	initStringInfo(&buf);
	errpos.keys = &k;
	errcb.callback = proxy_error_callback;
	errcb.arg = &errpos;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	h = proxy_record_hash(&k, &key->root, 0, &buf, &errpos);
	error_context_stack = errcb.previous;
	PG_RETURN_INT32(h);
}

static bool
is_object(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

/*
 * sequenced_proxy_split(form text, input jsonb, key_columns text[],
 *						 key_types text[], nparts int4,
 *						 target_schema text, target_name text, seq_ts bool,
 *						 OUT partnos int4[], OUT parts text[], OUT ords text[])
 *
 * form: 'messages' (the two-argument sequenced_upsert), 'records' (the
 * three-argument one) or 'keys' (sequenced_delete).  Returns one element
 * per shard that gets messages, in shard order: the shard's number, its
 * part (a JSON array, as text) and the batch positions of its messages
 * (an int4[] literal), for PL/Proxy's SPLIT and RUN ON.  seq_ts: the
 * table's sequence column is a timestamptz (messages' sequences are
 * timestamps).
 */
Datum
sequenced_proxy_split(PG_FUNCTION_ARGS)
{
	char	   *form;
	Jsonb	   *input;
	int			nparts;
	ProxyKeys	k;
	bool		messages;
	bool		seq_ts;
	int			n;
	StringInfoData *parts;
	StringInfoData *ordlists;
	int		   *counts;
	StringInfoData keybuf;
	MemoryContext scratch,
				old;
	ErrorContextCallback errcb;
	ProxyErrPos errpos = {0};
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	Datum	   *partnos_d,
			   *parts_d,
			   *ords_d;
	int			nused = 0;

	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of sequenced_proxy_split must not be null", i + 1)));
	form = text_to_cstring(PG_GETARG_TEXT_PP(0));
	input = PG_GETARG_JSONB_P(1);
	nparts = PG_GETARG_INT32(4);
	memset(&k, 0, sizeof(k));
	k.schema = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	k.table = PG_ARGISNULL(6) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(6));
	seq_ts = PG_NARGS() > 7 && !PG_ARGISNULL(7) && PG_GETARG_BOOL(7);
	proxy_keys_init(&k, PG_GETARG_ARRAYTYPE_P(2), PG_GETARG_ARRAYTYPE_P(3));

	if (nparts < 1 || nparts > PROXY_MAX_PARTS || (nparts & (nparts - 1)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a cluster behind the proxy must have a power of two shards, not %d", nparts)));
	if (strcmp(form, "messages") == 0)
		messages = true;
	else if (strcmp(form, "records") == 0 || strcmp(form, "keys") == 0)
		messages = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid form \"%s\"", form),
				 errhint("The form is \"messages\", \"records\" or \"keys\".")));

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));

	/* the input's elements: an array, or (records, keys) one object */
	if (messages && (!JB_ROOT_IS_ARRAY(input) || JB_ROOT_IS_SCALAR(input)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("messages must be a JSON array"),
				 errdetail("Got %s.", JB_ROOT_IS_OBJECT(input) ? "an object" : "a scalar"),
				 errhint("Pass [{\"action\": \"upsert\", \"sequence\": 1, \"data\": {...}}, ...].")));
	if (!messages && JB_ROOT_IS_SCALAR(input))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record 1 is not a JSON object"),
				 errdetail("Expected a JSON object or an array of objects, got a scalar.")));
	n = JB_ROOT_IS_OBJECT(input) ? 1 : JB_ROOT_COUNT(input);

	parts = palloc0(sizeof(StringInfoData) * nparts);
	ordlists = palloc0(sizeof(StringInfoData) * nparts);
	counts = palloc0(sizeof(int) * nparts);
	initStringInfo(&keybuf);
	scratch = AllocSetContextCreate(CurrentMemoryContext, "pg_sequenced proxy message",
									ALLOCSET_SMALL_SIZES);

	errpos.keys = &k;
	errcb.callback = proxy_error_callback;
	errcb.arg = &errpos;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	for (int i = 0; i < n; i++)
	{
		int			ord = i + 1;
		JsonbContainer *elem;
		JsonbContainer *record;
		JsonbValue *e;
		JsonbValue	ev;
		int			part;

		MemoryContextReset(scratch);
		old = MemoryContextSwitchTo(scratch);
		errpos.ord = ord;
		errpos.column = NULL;

		if (JB_ROOT_IS_OBJECT(input))
		{
			ev.type = jbvBinary;
			ev.val.binary.data = &input->root;
			ev.val.binary.len = VARSIZE(input) - VARHDRSZ;
			e = &ev;
		}
		else
			e = getIthJsonbValueFromContainer(&input->root, i);

		if (!is_object(e))
		{
			if (messages)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("message %d is not a JSON object", ord),
						 errdetail("It is %s.", input_json_type_name(e))));
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("record %d is not a JSON object", ord),
						 errdetail("Element %d of the array is %s.", ord, input_json_type_name(e))));
		}
		elem = e->val.binary.data;
		record = elem;

		if (messages)
		{
			JsonbValue	action,
						sequence,
						data;
			bool		has_action = getKeyJsonValueFromContainer(elem, "action", 6, &action) != NULL;
			bool		has_sequence = getKeyJsonValueFromContainer(elem, "sequence", 8, &sequence) != NULL;
			bool		has_data = getKeyJsonValueFromContainer(elem, "data", 4, &data) != NULL;

			if (has_action && action.type != jbvNull &&
				!(action.type == jbvString && action.val.string.len == 6 &&
				  (memcmp(action.val.string.val, "upsert", 6) == 0 ||
				   memcmp(action.val.string.val, "delete", 6) == 0)))
			{
				char	   *t = convert_scalar_text(&action);

				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("message %d has unknown action \"%s\"", ord, input_clip(t, strlen(t))),
						 errhint("The action is \"upsert\" or \"delete\".")));
			}
			/* (checked as a shard checks it: jsonvalue.h) */
			(void) input_message_sequence(ord, has_sequence ? &sequence : NULL, seq_ts,
										  psprintf("\"%s\"", k.table ? k.table : "?"));
			if (!has_data || !is_object(&data))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("message %d has no data object", ord),
						 errdetail("\"data\" is %s.", has_data ? input_json_type_name(&data) : "missing")));
			record = data.val.binary.data;
		}

		if (k.nkeys > 0)
			part = proxy_record_hash(&k, record, ord, &keybuf, &errpos) & (nparts - 1);
		else
			part = i & (nparts - 1);

		if (counts[part] == 0)
		{
			/* the part's buffers live as long as the call (repalloc keeps them there) */
			MemoryContextSwitchTo(old);
			initStringInfo(&parts[part]);
			appendStringInfoChar(&parts[part], '[');
			initStringInfo(&ordlists[part]);
			appendStringInfoChar(&ordlists[part], '{');
			MemoryContextSwitchTo(scratch);
		}
		else
		{
			appendStringInfoChar(&parts[part], ',');
			appendStringInfoChar(&ordlists[part], ',');
		}
		(void) JsonbToCString(&parts[part], elem, e->val.binary.len);
		appendStringInfo(&ordlists[part], "%d", ord);
		counts[part]++;
		MemoryContextSwitchTo(old);
	}
	error_context_stack = errcb.previous;
	MemoryContextDelete(scratch);

	partnos_d = palloc(sizeof(Datum) * nparts);
	parts_d = palloc(sizeof(Datum) * nparts);
	ords_d = palloc(sizeof(Datum) * nparts);
	for (int p = 0; p < nparts; p++)
	{
		if (counts[p] == 0)
			continue;
		appendStringInfoChar(&parts[p], ']');
		appendStringInfoChar(&ordlists[p], '}');
		partnos_d[nused] = Int32GetDatum(p);
		parts_d[nused] = PointerGetDatum(cstring_to_text_with_len(parts[p].data, parts[p].len));
		ords_d[nused] = PointerGetDatum(cstring_to_text_with_len(ordlists[p].data, ordlists[p].len));
		pfree(parts[p].data);
		pfree(ordlists[p].data);
		nused++;
	}
	values[0] = PointerGetDatum(construct_array(partnos_d, nused, INT4OID, 4, true, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(parts_d, nused, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(ords_d, nused, TEXTOID, -1, false, TYPALIGN_INT));
	tupdesc = BlessTupleDesc(tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
