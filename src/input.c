/*-------------------------------------------------------------------------
 *
 * input.c
 *		Turning jsonb records and messages into a Batch of converted rows.
 *
 * Each record is walked once: its properties are looked up by name (exact,
 * case-sensitive) in the table's column list and converted right away by the
 * column type's input function, or placed as JSON into json/jsonb columns,
 * or element by element into array columns.  Every message is converted and
 * checked, superseded ones included, so that whether a call fails never
 * depends on how messages were batched.
 *
 * Errors name the record's 1-based position.  Errors raised by a type's
 * input function keep their own SQLSTATE; an error context adds the record
 * position and the column.
 *
 * Memory: everything lives in the batch's context, which the caller deletes
 * at the end of the call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "pg_sequenced.h"

Batch *
input_new_batch(SeqTable *st, int expected)
{
	MemoryContext mcxt = AllocSetContextCreate(CurrentMemoryContext,
											   "pg_sequenced batch",
											   ALLOCSET_DEFAULT_SIZES);
	Batch	   *b = MemoryContextAllocZero(mcxt, sizeof(Batch));

	b->st = st;
	b->mcxt = mcxt;
	b->scratch = AllocSetContextCreate(mcxt, "pg_sequenced message", ALLOCSET_SMALL_SIZES);
	b->maxmsgs = Max(expected, 8);
	b->msgs = MemoryContextAlloc(mcxt, sizeof(Message) * b->maxmsgs);
	return b;
}

/*
 * The input holds n records: room for all of them at once (growing by
 * doubling would hold both arrays at the peak), and lazy conversion for
 * large calls.
 */
static void
input_expect(Batch *b, int n)
{
	if (n > b->maxmsgs)
	{
		b->msgs = repalloc_huge(b->msgs, sizeof(Message) * n);
		b->maxmsgs = n;
	}
	b->lazy = b->nmsgs + n >= SEQ_LAZY_MESSAGES;
}

Message *
input_add_message(Batch *b)
{
	Message    *m;
	int			natts = b->st->natts;
	char	   *chunk;
	Size		size;

	if (b->nmsgs >= b->maxmsgs)
	{
		b->maxmsgs *= 2;
		b->msgs = repalloc_huge(b->msgs, sizeof(Message) * b->maxmsgs);
	}
	m = &b->msgs[b->nmsgs++];
	memset(m, 0, sizeof(Message));
	m->ord = b->nmsgs;

	/*
	 * Carve the values arrays out of larger blocks: one palloc per message
	 * would add a chunk header and round up to a power of 2, a third more
	 * memory over a million messages.
	 */
	size = MAXALIGN(MAXALIGN(sizeof(Datum) * natts) + 2 * natts);
	if (b->slab_left < size)
	{
		b->slab_left = Max(size, 32 * 1024);
		b->slab = MemoryContextAllocZero(b->mcxt, b->slab_left);
	}
	chunk = b->slab;
	b->slab += size;
	b->slab_left -= size;
	m->values = (Datum *) chunk;
	for (int i = 0; i < natts; i++)
		MSG_ISNULL(m, natts)[i] = true;
	return m;
}

SeqColumn *
input_lookup_column(SeqTable *st, const char *name, int len)
{
	int			lo = 0,
				hi = st->nbyname - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		SeqColumn  *c = &st->cols[st->byname[mid]];
		int			cmp;

		if (c->namelen != len)
			cmp = c->namelen < len ? -1 : 1;
		else
			cmp = memcmp(c->name, name, len);
		if (cmp == 0)
			return c;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

const char *
input_guard_reason(ColGuard g)
{
	switch (g)
	{
		case COLGUARD_SEQUENCE:
			return "It is the sequence column: the sequence of each message goes there.";
		case COLGUARD_DELETED_AT:
			return "It marks soft deletes and is set by deletes only.";
		case COLGUARD_GENERATED:
			return "It is a generated column.";
		case COLGUARD_IDENTITY:
			return "It is an identity column that is not part of the key.";
		case COLGUARD_EXTRA:
			return "It collects the properties that are not columns (unknown_properties => 'column').";
		default:
			return "";
	}
}

/*
 * One value of an object container, as the jsonb iterator would give it: the
 * entry, where its data begins (relative to base) and its length.
 */
static void
entry_value(JEntry entry, char *base, uint32 off, uint32 len, JsonbValue *v)
{
	if (JBE_ISNULL(entry))
		v->type = jbvNull;
	else if (JBE_ISSTRING(entry))
	{
		v->type = jbvString;
		v->val.string.val = base + off;
		v->val.string.len = len;
	}
	else if (JBE_ISNUMERIC(entry))
	{
		v->type = jbvNumeric;
		v->val.numeric = (Numeric) (base + INTALIGN(off));
	}
	else if (JBE_ISBOOL_TRUE(entry) || JBE_ISBOOL_FALSE(entry))
	{
		v->type = jbvBool;
		v->val.boolean = JBE_ISBOOL_TRUE(entry);
	}
	else
	{
		v->type = jbvBinary;
		v->val.binary.data = (JsonbContainer *) (base + INTALIGN(off));
		v->val.binary.len = len - (INTALIGN(off) - off);
	}
}

/*
 * Walking an object's properties in place.  jsonb keeps an object's keys
 * first, then its values, in the same order: the walk keeps one running
 * offset into each half.
 */
typedef struct ObjectWalk
{
	JsonbContainer *obj;
	uint32		n;				/* properties */
	uint32		i;				/* the next one */
	char	   *base;			/* where the entries' data begins */
	uint32		koff;			/* the next key's data offset */
	uint32		voff;			/* the next value's data offset */
} ObjectWalk;

static void
object_walk_begin(ObjectWalk *w, JsonbContainer *obj)
{
	Assert(JsonContainerIsObject(obj));
	w->obj = obj;
	w->n = JsonContainerSize(obj);
	w->i = 0;
	w->base = (char *) &obj->children[w->n * 2];
	w->koff = 0;
	w->voff = w->n > 0 ? getJsonbOffset(obj, w->n) : 0;
}

static bool
object_walk_next(ObjectWalk *w, JsonbValue *k, JsonbValue *v)
{
	JEntry		kentry;
	JEntry		ventry;
	uint32		kend;
	uint32		vend;

	if (w->i >= w->n)
		return false;
	kentry = w->obj->children[w->i];
	ventry = w->obj->children[w->i + w->n];
	kend = w->koff;
	vend = w->voff;
	JBE_ADVANCE_OFFSET(kend, kentry);
	JBE_ADVANCE_OFFSET(vend, ventry);
	entry_value(kentry, w->base, w->koff, kend - w->koff, k);
	entry_value(ventry, w->base, w->voff, vend - w->voff, v);
	Assert(k->type == jbvString);
	w->koff = kend;
	w->voff = vend;
	w->i++;
	return true;
}

/*
 * The column a property names.  Records of one batch mostly carry the same
 * properties, which jsonb stores in one order, so the column the i-th
 * property named in the last record is tried first.
 */
static SeqColumn *
lookup_property(Batch *b, uint32 i, const char *name, int len)
{
	SeqTable   *st = b->st;
	SeqColumn  *col;

	if (i < SEQ_PROPHINTS && b->prophint[i] > 0)
	{
		col = &st->cols[b->prophint[i] - 1];
		if (col->namelen == len && memcmp(col->name, name, len) == 0)
			return col;
	}
	col = input_lookup_column(st, name, len);
	if (col != NULL && i < SEQ_PROPHINTS)
		b->prophint[i] = (int16) (col - st->cols) + 1;
	return col;
}

/*
 * Walk one record (a JSON object) into a message, reading its entries in
 * place: no iterator to allocate and step through per record.
 */
static void
parse_record(Batch *b, Message *m, JsonbContainer *obj)
{
	SeqTable   *st = b->st;
	MemoryContext outer = MemoryContextSwitchTo(b->scratch);
	ObjectWalk	w;
	JsonbValue	k;
	JsonbValue	v;
	JsonbParseState *extra = NULL;

	record_context_at(m->ord, NULL);
	object_walk_begin(&w, obj);
	while (object_walk_next(&w, &k, &v))
	{
		SeqColumn  *col = lookup_property(b, w.i - 1, k.val.string.val, k.val.string.len);

		/* unknown_properties: 'ignore' drops it, 'column' keeps it in _sdc_extra */
		if (col == NULL && st->unknown == UNKNOWN_IGNORE)
			continue;
		if (col == NULL && st->unknown == UNKNOWN_COLUMN)
		{
			if (extra == NULL)
				(void) pushJsonbValue(&extra, WJB_BEGIN_OBJECT, NULL);
			(void) pushJsonbValue(&extra, WJB_KEY, &k);
			(void) pushJsonbValue(&extra, WJB_VALUE, &v);
			continue;
		}
		if (col == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("record %d has property \"%s\", which is not a column of table %s",
							m->ord, input_clip(k.val.string.val, k.val.string.len), st->relname)));
		if (col->guard != COLGUARD_NONE)
		{
			record_context_at(m->ord, col->name);	/* (the error's column) */
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("record %d sets column \"%s\", which cannot be set from data",
							m->ord, col->name),
					 errdetail("%s", input_guard_reason(col->guard))));
		}
		record_context_at(m->ord, col->name);
		{
			/*
			 * Convert in the message's scratch context, keep only the
			 * value: a million records must not leave a million sets of
			 * intermediate strings behind.
			 */
			MemoryContext old = MemoryContextSwitchTo(b->scratch);
			Datum		d;
			bool		isnull;

			convert_json_value(st, col, &v, &d, &isnull);
			if (b->valuecxt != NULL && col->keyno >= 0)
			{
				/* materializing: the key, converted the first time, stays */
			}
			else
			{
				MemoryContextSwitchTo(b->valuecxt ? b->valuecxt : b->mcxt);
				if (b->lazy && col->keyno < 0)
					d = (Datum) 0;	/* checked; converted again if it wins */
				else if (!isnull)
					d = datumCopy(d, col->typbyval, col->typlen);
				m->values[col->attnum - 1] = isnull ? (Datum) 0 : d;
				MSG_ISNULL(m, st->natts)[col->attnum - 1] = isnull;
			}
			MemoryContextSwitchTo(old);
		}
		MSG_PRESENT(m, st->natts)[col->attnum - 1] = true;
		record_context_at(m->ord, NULL);
	}
	/*
	 * The properties that are not columns, as one jsonb object; a record
	 * without any omits _sdc_extra (its DEFAULT, or under omitted => 'keep'
	 * what is stored)
	 */
	if (st->extraatt != InvalidAttrNumber && extra != NULL && !(b->valuecxt == NULL && b->lazy))
	{
		int			a = st->extraatt - 1;

		MemoryContextSwitchTo(b->valuecxt ? b->valuecxt : b->mcxt);
		m->values[a] = JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&extra, WJB_END_OBJECT, NULL)));
		MSG_ISNULL(m, st->natts)[a] = false;
		MSG_PRESENT(m, st->natts)[a] = true;
	}
	m->record = b->lazy ? obj : NULL;
	MemoryContextSwitchTo(outer);
}

/*
 * A lazy batch (one of SEQ_LAZY_MESSAGES records or more) checks every
 * record in full when it is read but keeps only the key values: holding a
 * million converted records would take several times the input's size, and
 * most of them lose to a newer message or are stale.  The records still
 * wanted (the candidates about to be written) are converted again here,
 * from the input, which outlives the call, into cxt: apply_batch passes a
 * context it resets after writing each chunk of candidates, so only one
 * chunk's values exist at a time.  The keys stay as first converted (in the
 * batch's context): the output needs them at the end.
 */
void
input_materialize(Batch *b, Message *m, MemoryContext cxt)
{
	RecordContext errcb;
	bool		lazy = b->lazy;

	if (m->record == NULL)
		return;
	record_context_push(&errcb, b->st);
	b->lazy = false;
	b->valuecxt = cxt;
	MemoryContextReset(b->scratch);
	parse_record(b, m, m->record);
	MemoryContextReset(b->scratch);
	b->lazy = lazy;
	b->valuecxt = NULL;
	m->record = NULL;
	record_context_pop(&errcb);
}

/*
 * Checks that need the whole record: the key is complete, and NOT NULL
 * columns get a value.
 */
void
input_finish_message(Batch *b, Message *m)
{
	SeqTable   *st = b->st;

	for (int k = 0; k < st->nkeys; k++)
	{
		int			i = st->keys[k].attnum - 1;

		if (!MSG_PRESENT(m, st->natts)[i] || MSG_ISNULL(m, st->natts)[i])
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("record %d has no value for key column \"%s\"", m->ord, st->cols[i].name),
					 errhint("Every record must carry all key columns of table %s.", st->relname),
					 record_errcolumn(st, st->cols[i].name)));
	}
	if (m->action != MSG_UPSERT)
		return;
	for (int i = 0; i < st->natts; i++)
	{
		SeqColumn  *col = &st->cols[i];

		if (col->dropped || !col->notnull || col->guard != COLGUARD_NONE || col->keyno >= 0)
			continue;
		if (MSG_PRESENT(m, st->natts)[i] && MSG_ISNULL(m, st->natts)[i])
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("record %d has a null value for column \"%s\", which is NOT NULL",
							m->ord, col->name),
					 record_errcolumn(st, col->name)));
		if (!MSG_PRESENT(m, st->natts)[i] && !col->has_default)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("record %d has no value for column \"%s\", which is NOT NULL and has no default",
							m->ord, col->name),
					 record_errcolumn(st, col->name)));
	}
}

static void
shape_error(int ord, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("record %d is not a JSON object", ord),
			 errdetail("%s", what)));
}

/*
 * A value quoted in an error message, cut after SEQ_CLIP_BYTES (on a
 * character boundary) and marked "...": the input is the caller's, and a
 * message naming a megabyte-long property or a 100,000-digit sequence helps
 * nobody.
 */
#define SEQ_CLIP_BYTES 64

char *
input_clip(const char *s, int len)
{
	int			keep;

	if (len <= SEQ_CLIP_BYTES)
		return pnstrdup(s, len);
	keep = pg_mbcliplen(s, len, SEQ_CLIP_BYTES);
	return psprintf("%.*s...", keep, s);
}

const char *
input_json_type_name(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		default:
			return "a JSON value";
	}
}

/*
 * Three-argument forms: data is one record or an array of records, all with
 * the same sequence.
 */
void
input_parse_data(Batch *b, Jsonb *data, int64 seq, MsgAction action)
{
	RecordContext errcb;
	MemoryContext old;

	input_check_seq_arg(b->st, seq);
	old = MemoryContextSwitchTo(b->mcxt);
	record_context_push(&errcb, b->st);

	if (JB_ROOT_IS_OBJECT(data))
	{
		Message    *m = input_add_message(b);

		m->action = action;
		m->seq = seq;
		parse_record(b, m, &data->root);
		input_finish_message(b, m);
	}
	else if (JB_ROOT_IS_ARRAY(data) && !JB_ROOT_IS_SCALAR(data))
	{
		int			n = JB_ROOT_COUNT(data);

		input_expect(b, n);

		for (int i = 0; i < n; i++)
		{
			JsonbValue *e;
			Message    *m;

			MemoryContextReset(b->scratch);
			MemoryContextSwitchTo(b->scratch);
			e = getIthJsonbValueFromContainer(&data->root, i);
			MemoryContextSwitchTo(b->mcxt);

			record_context_at(i + 1, NULL);
			if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
				shape_error(i + 1, psprintf("Element %d of the array is %s.", i + 1, input_json_type_name(e)));
			m = input_add_message(b);
			m->action = action;
			m->seq = seq;
			parse_record(b, m, e->val.binary.data);
			input_finish_message(b, m);
		}
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record 1 is not a JSON object"),
				 errdetail("Expected a JSON object or an array of objects, got a scalar.")));

	record_context_pop(&errcb);
	MemoryContextSwitchTo(old);
}

/*
 * The seq argument of a call (sequenced_upsert's and sequenced_delete's
 * third, sequenced_delete_missing's second) on a table ordered by a
 * timestamptz column is that column's value as an int64: it must be a
 * timestamp the type can hold (or one of its infinities), else the row, the
 * key state and the history would store a value the type cannot print.
 */
void
input_check_seq_arg(SeqTable *st, int64 seq)
{
	if (st->seq_ts && !TIMESTAMP_NOT_FINITE(seq) && !IS_VALID_TIMESTAMP(seq))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("the sequence " INT64_FORMAT " is no timestamp", seq),
				 errdetail("Table %s orders by the timestamptz column %s: its sequences are that type's values (microseconds since 2000-01-01 00:00 UTC, sequenced_seq(timestamptz)), from 4714-11-24 BC to 294276 AD.",
						   st->relname, quote_identifier(st->cols[st->seqatt - 1].name)),
				 record_errcolumn(st, st->cols[st->seqatt - 1].name)));
}

/*
 * A message's sequence: a JSON number that is an integer within bigint --
 * or, on a table ordered by a timestamptz column (seq_ts), an RFC 3339
 * string.  relname: the table, quoted, for the messages.  (The proxy checks
 * with it too: jsonvalue.h.)
 */
int64
input_message_sequence(int ord, JsonbValue *v, bool seq_ts, const char *relname)
{
	char	   *s;
	char	   *p;
	bool		neg = false;
	uint64		acc = 0;

	if (v == NULL || v->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("message %d has no sequence", ord),
				 seq_ts ?
				 errhint("Every message needs \"sequence\": a timestamp (RFC 3339), as table %s orders by a timestamptz column.", relname) :
				 errhint("Every message needs \"sequence\": an integer.")));
	if (seq_ts)
	{
		/*
		 * A table ordered by a timestamptz column: the sequence is a
		 * timestamp, its value the column type's own (microseconds since
		 * 2000-01-01 00:00 UTC), so that messages order exactly as the
		 * type orders.  A number is refused: its units would be a guess.
		 */
		if (v->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message %d has a sequence that is not a timestamp", ord),
					 errdetail("The sequence is %s; table %s orders by a timestamptz column, so its sequences are timestamps, such as \"2026-12-07T10:00:00.123456Z\" (RFC 3339), not numbers of seconds or milliseconds.",
							   input_json_type_name(v), relname)));
		s = pnstrdup(v->val.string.val, v->val.string.len);
		return DatumGetInt64(DirectFunctionCall3(timestamptz_in, CStringGetDatum(s),
												 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	}
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("message %d has a sequence that is not an integer", ord),
				 errdetail("The sequence is %s.", input_json_type_name(v))));
	{
		int64		i;

		if (convert_numeric_to_int64(v->val.numeric, &i))
			return i;
	}
	/* "5.000" is an integer too; fractions and range are judged on the text */
	s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	p = s;
	if (*p == '-')
	{
		neg = true;
		p++;
	}
	for (; *p >= '0' && *p <= '9'; p++)
	{
		uint64		digit = *p - '0';

		if (acc > (PG_UINT64_MAX - digit) / 10)
			goto out_of_range;
		acc = acc * 10 + digit;
	}
	if (*p == '.')
	{
		for (p++; *p == '0'; p++)
			;
	}
	if (*p != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("message %d has a sequence that is not an integer", ord),
				 errdetail("The sequence is %s.", input_clip(s, strlen(s)))));
	if (neg ? acc > (uint64) PG_INT64_MAX + 1 : acc > (uint64) PG_INT64_MAX)
		goto out_of_range;
	return neg ? (int64) (0 - acc) : (int64) acc;

out_of_range:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("message %d has a sequence out of the range of bigint", ord),
			 errdetail("The sequence is %s.", input_clip(s, strlen(s)))));
	return 0;					/* keep the compiler quiet */
}

/*
 * Two-argument form: an array of {"action", "sequence", "data"} messages.
 */
void
input_parse_messages(Batch *b, Jsonb *messages)
{
	RecordContext errcb;
	MemoryContext old = MemoryContextSwitchTo(b->mcxt);
	int			n;

	if (!JB_ROOT_IS_ARRAY(messages) || JB_ROOT_IS_SCALAR(messages))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("messages must be a JSON array"),
				 errdetail("Got %s.", JB_ROOT_IS_OBJECT(messages) ? "an object" : "a scalar"),
				 errhint("Pass [{\"action\": \"upsert\", \"sequence\": 1, \"data\": {...}}, ...].")));

	record_context_push(&errcb, b->st);

	n = JB_ROOT_COUNT(messages);
	input_expect(b, n);
	{
		/* the array's elements and each message's properties, read in place */
		char	   *abase = (char *) &messages->root.children[n];
		uint32		aoff = 0;

		for (int i = 0; i < n; i++)
		{
			JEntry		aentry = messages->root.children[i];
			uint32		aend = aoff;
			JsonbValue	e;
			JsonbContainer *msg;
			JsonbValue	abuf,
						sbuf,
						dbuf;
			JsonbValue *action = NULL,
					   *sequence = NULL,
					   *data = NULL;
			Message    *m;
			int			ord = i + 1;
			ObjectWalk	w;
			JsonbValue	k;
			JsonbValue	v;

			JBE_ADVANCE_OFFSET(aend, aentry);
			entry_value(aentry, abase, aoff, aend - aoff, &e);
			aoff = aend;

			/* what reading this message leaves behind goes with the next one */
			MemoryContextReset(b->scratch);
			MemoryContextSwitchTo(b->scratch);

			/* every error about this element carries "record N" */
			record_context_at(ord, NULL);
			if (e.type != jbvBinary || !JsonContainerIsObject(e.val.binary.data))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("message %d is not a JSON object", ord),
						 errdetail("It is %s.", input_json_type_name(&e))));
			msg = e.val.binary.data;
			MemoryContextSwitchTo(b->mcxt);
			m = input_add_message(b);
			MemoryContextSwitchTo(b->scratch);

			/* other properties of a message are ignored */
			object_walk_begin(&w, msg);
			while (object_walk_next(&w, &k, &v))
			{
				JsonbValue *into = NULL;

				if (k.val.string.len == 4 && memcmp(k.val.string.val, "data", 4) == 0)
					into = data = &dbuf;
				else if (k.val.string.len == 6 && memcmp(k.val.string.val, "action", 6) == 0)
					into = action = &abuf;
				else if (k.val.string.len == 8 && memcmp(k.val.string.val, "sequence", 8) == 0)
					into = sequence = &sbuf;
				if (into != NULL)
					*into = v;
			}

			if (action == NULL || action->type == jbvNull)
				m->action = MSG_UPSERT;
			else if (action->type == jbvString && action->val.string.len == 6 &&
					 memcmp(action->val.string.val, "upsert", 6) == 0)
				m->action = MSG_UPSERT;
			else if (action->type == jbvString && action->val.string.len == 6 &&
					 memcmp(action->val.string.val, "delete", 6) == 0)
				m->action = MSG_DELETE;
			else
			{
				char	   *t = convert_scalar_text(action);

				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("message %d has unknown action \"%s\"", ord, input_clip(t, strlen(t))),
						 errhint("The action is \"upsert\" or \"delete\".")));
			}

			m->seq = input_message_sequence(ord, sequence, b->st->seq_ts, b->st->relname);

			if (data == NULL || data->type != jbvBinary || !JsonContainerIsObject(data->val.binary.data))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("message %d has no data object", ord),
						 errdetail("\"data\" is %s.", data ? input_json_type_name(data) : "missing")));
			parse_record(b, m, data->val.binary.data);
			input_finish_message(b, m);
		}
	}
	MemoryContextReset(b->scratch);

	record_context_pop(&errcb);
	MemoryContextSwitchTo(old);
}


/*
 * A JSON object of column -> value (the scope of sequenced_delete_missing),
 * converted into m as a record's properties are, without the checks of a
 * whole record: the key need not be complete.  A property that names no
 * column of the table is 42703.
 */
void
input_parse_object(Batch *b, Message *m, Jsonb *obj, const char *what)
{
	RecordContext errcb;
	MemoryContext old = MemoryContextSwitchTo(b->mcxt);
	ObjectWalk	w;
	JsonbValue	k;
	JsonbValue	v;

	if (!JB_ROOT_IS_OBJECT(obj) || JB_ROOT_IS_SCALAR(obj))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object of column names and values", what),
				 record_errtable(b->st)));
	object_walk_begin(&w, &obj->root);
	while (object_walk_next(&w, &k, &v))
		if (input_lookup_column(b->st, k.val.string.val, k.val.string.len) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s names \"%s\", which is not a column of table %s", what,
							input_clip(k.val.string.val, k.val.string.len), b->st->relname),
					 record_errtable(b->st)));
	record_context_push(&errcb, b->st);
	parse_record(b, m, &obj->root);
	record_context_pop(&errcb);
	MemoryContextReset(b->scratch);
	MemoryContextSwitchTo(old);
}

/*
 * sequenced_seq(timestamptz) -> bigint and sequenced_seq_time(bigint) ->
 * timestamptz: a timestamptz sequence's bigint is the value as the type
 * stores it (microseconds since 2000-01-01 00:00 UTC; the infinities are
 * the int64 extremes), so both are the identity on the bits -- exact for
 * every value, where arithmetic on intervals would round or fail at the
 * infinities.  A bigint that is no timestamp is refused, as the apply
 * functions refuse it (input_check_seq_arg).
 */
PG_FUNCTION_INFO_V1(sequenced_seq);
PG_FUNCTION_INFO_V1(sequenced_seq_time);

Datum
sequenced_seq(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64((int64) PG_GETARG_TIMESTAMPTZ(0));
}

Datum
sequenced_seq_time(PG_FUNCTION_ARGS)
{
	int64		seq = PG_GETARG_INT64(0);

	if (!TIMESTAMP_NOT_FINITE(seq) && !IS_VALID_TIMESTAMP(seq))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("the sequence " INT64_FORMAT " is no timestamp", seq),
				 errdetail("A timestamptz sequence is that type's value: microseconds since 2000-01-01 00:00 UTC, from 4714-11-24 BC to 294276 AD.")));
	PG_RETURN_TIMESTAMPTZ((TimestampTz) seq);
}
